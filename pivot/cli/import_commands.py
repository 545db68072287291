"""``pivot import`` and ``pivot update``: data from another repository (see docs/import.md)."""

from __future__ import annotations

import json
import os
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

import click

from pivot.cli._context import CliContext
from pivot.cli._progress import transfer_progress

if TYPE_CHECKING:
    from pivot.core.run.imports import ImportResult

pass_cli = click.make_pass_decorator(CliContext)


@click.command("import")
@click.argument("repo")
@click.argument("path")
@click.option("--rev", metavar="REV", help="Branch, tag, commit or HEAD~N (default: its HEAD).")
@click.option(
    "-o", "--out", metavar="PATH", help="Where to put it (default: PATH's name in this folder)."
)
@click.option(
    "-r",
    "--remote",
    metavar="NAME_OR_URL",
    help="Fetch from this remote instead of the source's default one: a remote name of the "
    "source or of this project, or a URL (s3://bucket/prefix, a folder).",
)
@click.option("-f", "--force", is_flag=True, help="Replace a file or folder already at --out.")
@click.option("-j", "--jobs", type=click.IntRange(1, 512), default=16, help="Parallel transfers.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_cli
def import_(
    cli: CliContext,
    repo: str,
    path: str,
    rev: str | None,
    out: str | None,
    remote: str | None,
    force: bool,
    jobs: int,
    as_json: bool,
) -> None:
    """Bring PATH, an output or tracked data of the Pivot or DVC repository REPO, into this project.

    REPO is a git URL or a local path. PATH is relative to REPO's root. The data is fetched
    from REPO's remote by the hash its lock files (or .pvt manifest; for DVC, its dvc.lock or
    .dvc files) record at REV, written to --out, and recorded in OUT.pvt with where it came
    from; commit that manifest. From then on it is tracked data: a dep for stages, pushed and
    pulled with this project's remote. `pivot update` moves it to REV's newest commit;
    `pivot status --imports` says when it is behind.

    \b
    Examples:
      pivot import ../features out/features.parquet
      pivot import git@github.com:org/data.git models/model.pkl --rev v2 -o models/base.pkl
      pivot import ../features out/clean.csv --rev HEAD~1 --remote s3://team-cache/features
      pivot import ../dvc-registry data/images -o images     # a DVC repository
    """
    from pivot.core.run.imports import import_data
    from pivot.core.store.paths import normalize_path
    from pivot.core.store.source_repo import is_url

    project = cli.project()
    source_path = PurePosixPath(path.replace(os.sep, "/")).as_posix().strip("/")
    target = out if out is not None else PurePosixPath(source_path).name
    rel = normalize_path(Path.cwd() / target, project.root)
    recorded = repo
    if not is_url(repo) and not os.path.isabs(os.path.expanduser(repo)):
        recorded = os.path.relpath(Path.cwd() / repo, project.root)
    with transfer_progress(cli, "import", as_json=as_json) as progress:
        result = import_data(
            project,
            recorded,
            source_path,
            rel,
            rev=rev,
            remote=remote,
            force=force,
            jobs=jobs,
            progress=progress,
        )
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
        return
    _report(result)


@click.command()
@click.argument("paths", nargs=-1)
@click.option("--rev", metavar="REV", help="Move to this revision instead (one import only).")
@click.option("-j", "--jobs", type=click.IntRange(1, 512), default=16, help="Parallel transfers.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@pass_cli
def update(
    cli: CliContext, paths: tuple[str, ...], rev: str | None, jobs: int, as_json: bool
) -> None:
    """Move imported data to what its revision names now in its source repository.

    PATHS are imports (the data or its .pvt manifest); all imports if none. A branch (or the
    source's HEAD, or HEAD~N) moves with the source; a tag or commit stays unless --rev gives
    a new one, which is recorded in place of the old.

    \b
    Examples:
      pivot update
      pivot update data/features.parquet --rev v3
    """
    from pivot.core.run.imports import update as do_update
    from pivot.core.store.paths import normalize_path

    project = cli.project()
    targets = [normalize_path(Path.cwd() / path, project.root) for path in paths]
    with transfer_progress(cli, "update", as_json=as_json) as progress:
        results = do_update(project, targets, rev=rev, jobs=jobs, progress=progress)
    if as_json:
        click.echo(json.dumps({"imports": [r.to_dict() for r in results]}, indent=2))
        return
    if not results:
        click.echo("no imports in this project; `pivot import REPO PATH` adds one")
    for result in results:
        _report(result)


def _report(result: ImportResult) -> None:
    from pivot.render.counts import plural
    from pivot.render.sizes import human_size

    source = result.source
    at = f"{source.asked} ({source.commit[:10]})"
    if not result.changed:
        click.echo(f"up to date  {result.path}  {source.repo} {source.path} at {at}")
        return
    what = human_size(result.size)
    if result.files is not None:
        what += f", {plural(result.files, 'file')}"
    verb = "imported" if result.previous is None else "updated "
    moved = "" if result.previous is None else f" (was {result.previous[:10]})"
    click.echo(
        f"{verb}    {result.path} ({what}) from {source.repo} {source.path} at {at}{moved} "
        f"-> {result.manifest}"
    )


COMMANDS: list[click.Command] = [import_, update]
