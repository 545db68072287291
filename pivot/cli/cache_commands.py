"""Commands that move results between the workspace and the cache: track, commit, checkout."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from pivot.cli._context import CliContext
from pivot.cli.project_commands import complete_stages

pass_cli = click.make_pass_decorator(CliContext)


@click.command()
@click.argument("stages", nargs=-1, shell_complete=complete_stages)
@pass_cli
def commit(cli: CliContext, stages: tuple[str, ...]) -> None:
    """Record the current outputs of STAGES (all if none) as their result, without running.

    Use it after producing outputs by hand: it hashes deps and outputs, caches the outputs and
    writes the lock files, so the next `pivot run` skips these stages.

    \b
    Example:
      pivot commit train
    """
    from pivot.core.run.commit import commit_stages
    from pivot.core.run.engine import Engine

    results = commit_stages(Engine(cli.project()), stages)
    for result in results:
        click.echo(f"{'committed' if result.changed else 'unchanged'}  {result.stage}")


@click.command()
@click.argument("targets", nargs=-1, shell_complete=complete_stages)
@click.option(
    "-f", "--force", is_flag=True, help="Also overwrite files that differ from their record."
)
@pass_cli
def checkout(cli: CliContext, targets: tuple[str, ...], force: bool) -> None:
    """Restore outputs and tracked data from the cache as recorded.

    Outputs as their lock files record them, tracked data as its .pvt manifest does.
    TARGETS are stage names, output paths or tracked paths (all if none). Missing files are
    restored; files you modified are kept unless --force. Exit 1 if something could not be
    restored (its blob is not in the cache: try `pivot pull`).

    \b
    Examples:
      pivot checkout
      pivot checkout data/clean.csv --force
    """
    from pivot.core.run.checkout import checkout as do_checkout

    results = do_checkout(cli.project(), targets, force=force)
    failed = False
    for result in results:
        if result.action == "unchanged" and not cli.verbose:
            continue
        failed |= result.action == "missing-blob"
        detail = f"  ({result.detail})" if result.detail else ""
        click.echo(f"{result.action:<12} {result.path}{detail}")
    restored = sum(1 for r in results if r.action == "restored")
    click.echo(f"{restored} restored, {len(results) - restored} left as they are")
    sys.exit(1 if failed else 0)


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@pass_cli
def track(cli: CliContext, paths: tuple[str, ...]) -> None:
    """Version raw data no stage writes: cache PATHS and write PATH.pvt beside each.

    Commit the small .pvt manifests to git; the data itself is added to the .gitignore of
    its folder. Tracked paths are ordinary deps of stages; push, pull, fetch, checkout and
    verify include them. After editing tracked data, run `pivot track` on it again to record
    the new version (`pivot status` lists tracked data that changed).

    \b
    Examples:
      pivot track data/raw.csv
      pivot track data/images/          # a folder, file by file
      git add data/raw.csv.pvt data/.gitignore
    """
    from pivot.core.run.track import track as do_track
    from pivot.core.store.paths import normalize_path
    from pivot.render.counts import plural
    from pivot.render.sizes import human_size

    project = cli.project()
    rels = [normalize_path(Path.cwd() / path, project.root) for path in paths]
    for result in do_track(project, rels):
        what = human_size(result.size)
        if result.files is not None:
            what += f", {plural(result.files, 'file')}"
        verb = "tracked  " if result.changed else "unchanged"
        click.echo(f"{verb} {result.path} ({what}) -> {result.manifest}")
        if result.note:
            click.echo(f"note: {result.note}", err=True)


@click.command()
@click.option("-n", "--dry-run", is_flag=True, help="Say what would be removed; remove nothing.")
@click.option(
    "--keep-commits",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="Keep what the last N commits of HEAD refer to (default: config gc.keep_commits, 10).",
)
@click.option(
    "--remote",
    "remote_name",
    is_flag=False,
    flag_value="",
    default=None,
    metavar="[NAME]",
    help="Also remove unreferenced blobs from the remote (the default one if no NAME).",
)
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=16, help="Parallel requests.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_cli
def gc(
    cli: CliContext,
    dry_run: bool,
    keep_commits: int | None,
    remote_name: str | None,
    jobs: int,
    as_json: bool,
) -> None:
    """Remove cached data that nothing recent refers to.

    Kept: every blob a lock file or tracked-data manifest refers to, in the workspace or in
    one of the last N commits of HEAD, and the run-cache entries recorded since the commit
    before the oldest of those (older entries are removed). Everything else leaves the local cache, and
    with --remote the remote too. Other branches count only through commits HEAD shares with
    them: push what you need before collecting a shared remote.

    \b
    Examples:
      pivot gc -n                    # what would go
      pivot gc --keep-commits 3
      pivot gc --remote              # the local cache and the default remote
    """
    import json

    from pivot.core.config import load_config
    from pivot.core.store.gc import keep_set, sweep_local
    from pivot.core.store.run_lock import ProjectRunLock
    from pivot.core.store.sweep import sweep_leftovers
    from pivot.render.counts import plural
    from pivot.render.sizes import human_size

    project = cli.project()
    commits = keep_commits or load_config(project.root).gc.keep_commits
    with ProjectRunLock(project.paths.run_lock, "gc") as run_lock:
        sweep_leftovers(project.paths, run_lock.acquired_at)
        keep = keep_set(project, commits)
        local = sweep_local(project, keep, dry_run=dry_run)
        remote_result = None
        if remote_name is not None:
            from pivot.core import remote

            remote_result = remote.sweep_remote(
                project, keep, remote=remote_name or None, jobs=jobs, dry_run=dry_run
            )
    for line in keep.unreadable:
        click.echo(f"warning: {line}; its blobs were not kept", err=True)
    if as_json:
        data: dict[str, object] = {
            "commits": keep.commits,
            "local": local.to_dict(),
            "run_cache_kept": keep.kept_runs,
        }
        if remote_result is not None:
            data["remote"] = remote_result.to_dict()
        click.echo(json.dumps(data, indent=2))
        return
    verb = "would remove" if dry_run else "removed"
    history = {0: "the workspace", 1: "the workspace and the last commit of HEAD"}.get(
        keep.commits, f"the workspace and the last {keep.commits} commits of HEAD"
    )
    entries = plural(keep.kept_runs, "run-cache entry", "run-cache entries")
    click.echo(f"keeping what {history} refer{'s' if keep.commits == 0 else ''} to, and {entries}")
    expired = plural(local.runs_removed, "expired run-cache entry", "expired run-cache entries")
    click.echo(
        f"local cache: {verb} {plural(local.removed, 'blob')} "
        f"({human_size(local.removed_bytes)}), {local.kept} kept; {verb} {expired}"
    )
    if remote_result is not None:
        click.echo(
            f"{remote_result.remote}: {verb} {plural(remote_result.removed, 'blob')}, "
            f"{remote_result.kept} kept"
        )


COMMANDS: list[click.Command] = [track, commit, checkout, gc]
