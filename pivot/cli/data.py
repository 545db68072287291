"""``pivot data diff`` and ``pivot data get``: data files across git revisions.

Heavy imports (polars, the diff engine, rich) happen inside the commands so that
``pivot --help`` stays fast.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from pivot.cli._context import CliContext
from pivot.exceptions import ProjectError, UsageError

if TYPE_CHECKING:
    from rich.console import Console

    from pivot.core.store.revisions import RevisionFile

__all__ = ["data_group"]


@click.group("data")
def data_group() -> None:
    """Compare data files with, and fetch them from, past git revisions.

    Works in any git repository; `pivot init` is needed only for pipeline outputs kept in
    the cache.

    \b
    Examples:
      pivot data diff data/clean.csv --key id
      pivot data get models/model.pkl --rev HEAD~1 -o old_model.pkl
    """


@data_group.command("diff")
@click.argument("targets", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option(
    "--rev",
    default="HEAD",
    show_default=True,
    help="Git revision to compare the workspace with (any expression, e.g. HEAD~1).",
)
@click.option(
    "--key",
    "keys",
    multiple=True,
    metavar="COL",
    help="Key column identifying rows (repeat, or comma-separate, for a compound key). "
    "Without a key, rows are compared by position.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (schema in docs/data-diff.md).")
@click.option("--md", "as_md", is_flag=True, help="Print Markdown (for PR comments and reports).")
@click.option(
    "--max-rows",
    type=click.IntRange(min=0),
    default=None,
    metavar="N",
    help="List at most N rows per kind of change (default 50; 1000 with --json).",
)
@click.option(
    "--summary/--no-summary",
    default=None,
    help="Only counts and schema, no rows (automatic for files over 512 MiB; "
    "--no-summary lists rows anyway).",
)
@click.pass_context
def diff_command(
    ctx: click.Context,
    targets: tuple[str, ...],
    rev: str,
    keys: tuple[str, ...],
    as_json: bool,
    as_md: bool,
    max_rows: int | None,
    summary: bool | None,
) -> None:
    """Show what changed in data files since REV (default HEAD).

    TARGETS are CSV, TSV, JSON (array of records), JSONL/NDJSON or Parquet files. The old
    version is read from git when committed there, else from the cache through the lock
    files committed at REV (for pipeline outputs).

    \b
    Examples:
      pivot data diff data/clean.csv --key id
      pivot data diff data/clean.parquet --rev HEAD~3 --json
    """
    from pivot.core.reports.datadiff import (
        DEFAULT_MAX_ROWS,
        DEFAULT_MAX_ROWS_JSON,
        compute_data_diff,
    )
    from pivot.core.store.revisions import RevisionReader
    from pivot.render.datadiff import render_json, render_markdown, render_text

    if as_json and as_md:
        raise UsageError("--json and --md cannot be used together; pick one output format")
    key_columns = tuple(k.strip() for raw in keys for k in raw.split(",") if k.strip())
    if max_rows is None:
        max_rows = DEFAULT_MAX_ROWS_JSON if as_json else DEFAULT_MAX_ROWS

    root = _project_root()
    paths = [_project_path(root, target) for target in targets]
    cli = ctx.find_object(CliContext)
    if cli is not None and cli.interactive and not (as_json or as_md):
        from pivot.cli._tui import open_data_diff_tui

        open_data_diff_tui(root, paths, rev=rev, keys=key_columns, summary=summary)
        return
    reader = RevisionReader(root, rev)
    console = None if as_json or as_md else _console()
    diffs = []
    for index, path in enumerate(paths):
        diff = compute_data_diff(
            root, path, rev=rev, keys=key_columns, max_rows=max_rows, summary=summary, reader=reader
        )
        if console is not None:
            # Text goes out file by file, as each diff is ready.
            if index:
                console.print()
            render_text([diff], console)
        diffs.append(diff)
    if as_json:
        click.echo(render_json(diffs))
    elif as_md:
        click.echo(render_markdown(diffs), nl=False)


@data_group.command("get")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option(
    "--rev",
    required=True,
    help="Git revision to take the files from (any expression, e.g. HEAD~1, a tag, a sha).",
)
@click.option(
    "-o",
    "--out",
    "out",
    type=click.Path(),
    default=None,
    help="Where to write: a file path for one file, else a folder (created if needed). "
    "'-' writes one file to stdout. Default: the current folder.",
)
@click.option("-f", "--force", is_flag=True, help="Overwrite files that already exist.")
def get_command(paths: tuple[str, ...], rev: str, out: str | None, force: bool) -> None:
    """Write files or stage outputs as they were at REV, from git or the cache.

    A directory (in git, or a directory output) is written with all its files. Content
    that is in neither git nor the local cache is an error; `pivot pull` fetches cached
    outputs from the remote.

    \b
    Examples:
      pivot data get data/clean.csv --rev HEAD~1 -o clean_before.csv
      pivot data get data/images --rev v1.0 -o /tmp/images_v1
    """
    from pivot.core.store.revisions import RevisionReader

    root = _project_root()
    reader = RevisionReader(root, rev)
    requested = [_project_path(root, p) for p in paths]
    found: list[tuple[str, list[RevisionFile]]] = [(p, reader.list_files(p)) for p in requested]

    if out == "-":
        if len(found) != 1 or len(found[0][1]) != 1:
            raise UsageError("-o - writes a single file to stdout; name exactly one file")
        sys.stdout.buffer.write(found[0][1][0].read_bytes())
        sys.stdout.buffer.flush()
        return

    plan = _plan_destinations(found, Path(out) if out is not None else None)
    if not force:
        existing = [dest for _, dest in plan if dest.exists()]
        if existing:
            more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
            raise UsageError(
                f"{_shown(existing[0])} already exists{more}; pass --force to overwrite, "
                f"or -o to write elsewhere"
            )
    for item, dest in plan:
        if dest.is_dir():
            raise UsageError(f"{_shown(dest)} is a folder; cannot write {item.path} over it")
        item.materialise(dest)
    console = _console(stderr=True)
    for item, dest in plan:
        console.print(f"{item.path} @ {rev} [{item.source}] -> {_shown(dest)}", markup=False)


def _plan_destinations(
    found: list[tuple[str, list[RevisionFile]]], out: Path | None
) -> list[tuple[RevisionFile, Path]]:
    """Where each file goes: OUT itself for a single file, else under a folder."""
    single = len(found) == 1 and len(found[0][1]) == 1 and found[0][1][0].path == found[0][0]
    if single and out is not None and not out.is_dir() and not str(out).endswith(("/", os.sep)):
        return [(found[0][1][0], out)]
    base = out if out is not None else Path.cwd()
    plan: list[tuple[RevisionFile, Path]] = []
    for requested, files in found:
        anchor = requested.rsplit("/", 1)[0] if "/" in requested else ""
        for item in files:
            if item.path == requested:
                rel = requested.rsplit("/", 1)[-1]
            else:
                rel = item.path[len(anchor) + 1 :] if anchor else item.path
            plan.append((item, base / rel))
    return plan


def _shown(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)


def _project_root() -> Path:
    """The Pivot project here, or else the git repository: `pivot data` needs no `pivot init`."""
    from pivot.core.store.revisions import find_revision_root

    return find_revision_root()


def _project_path(root: Path, target: str) -> str:
    """A command-line path (relative to the current folder) as a posix path relative to
    ``root`` (the project, or the git work tree outside a project)."""
    absolute = Path(os.path.abspath(target))
    # Resolve symlinks in the folders only: the file itself may be a link into the cache.
    absolute = absolute.parent.resolve() / absolute.name
    try:
        rel = absolute.relative_to(root.resolve())
    except ValueError:
        raise ProjectError(f"{target} is outside {root}; name a file inside it") from None
    if not rel.parts:
        raise UsageError(f"{target} is {root} itself; name a file inside it")
    return rel.as_posix()


def _console(stderr: bool = False) -> Console:
    """Colour on a terminal; on a pipe, plain text with no wrapping of wide tables."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    if stream.isatty():
        return Console(file=stream, highlight=False)
    return Console(file=stream, highlight=False, width=_PIPE_WIDTH)


_PIPE_WIDTH = 4000
