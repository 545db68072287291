"""Commands that create, run and inspect a pipeline: init, run/repro, status, history, show."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from typing import Any

import click

from pivot.cli._context import CliContext
from pivot.cli.project_commands import complete_stages
from pivot.exceptions import UsageError
from pivot.render.counts import plural

pass_cli = click.make_pass_decorator(CliContext)


@click.command()
@click.argument("directory", required=False, type=click.Path(file_okay=False))
@pass_cli
def init(cli: CliContext, directory: str | None) -> None:
    """Create a Pivot project here (or in DIRECTORY).

    Makes `.pivot/` (with a .gitignore for the cache and local state) and `.pivotignore`.

    \b
    Example:
      pivot init
    """
    from pivot.core.store.paths import init_project

    root = Path(directory or ".").resolve()
    root.mkdir(parents=True, exist_ok=True)
    created = init_project(root)
    if created:
        click.echo(f"Initialized Pivot project in {root}")
        if not (root / "pipeline.py").exists():
            click.echo("Next: write pipeline.py with your stages, then `pivot run`.")
    else:
        click.echo(f"Pivot project already initialized in {root}")


_ALL_OPTION = click.option(
    "--all",
    "all_stages",
    is_flag=True,
    help=(
        "Every stage of every pipeline (what no STAGES means, except in a folder holding its "
        "own pipeline.py: then its stages); 'NAME/' selects one pipeline."
    ),
)


def _all_or_named(stages: tuple[str, ...], all_stages: bool) -> tuple[str, ...]:
    if all_stages and stages:
        raise UsageError("--all selects every stage: name stages or give --all, not both")
    return stages


def _folder_scope(project: Any, stages: tuple[str, ...], all_stages: bool) -> tuple[str, ...]:
    """No names given, in a folder holding its own pipeline.py: that folder's stages."""
    if stages or all_stages:
        return stages
    from pivot.core.pipeline.selection import cwd_pipeline_folder

    folder = cwd_pipeline_folder(project.root)
    if folder is None:
        return stages
    from pivot.core.pipeline.discovery import load_pipeline

    pipeline = load_pipeline(project.root)
    return tuple(name for name in pipeline.stages if pipeline.folders.get(name) == folder)


def _run_options(func: Any) -> Any:
    options = [
        click.argument("stages", nargs=-1, shell_complete=complete_stages),
        _ALL_OPTION,
        click.option(
            "-f",
            "--force",
            is_flag=True,
            help="Run the named stages (all if none) even if up to date.",
        ),
        click.option(
            "-k",
            "--keep-going",
            is_flag=True,
            help="After a failure, still run stages that do not depend on it.",
        ),
        click.option(
            "-n",
            "--dry-run",
            is_flag=True,
            help="Show what would run, run nothing; exit 2 if a stage could not run.",
        ),
        click.option(
            "-j",
            "--jobs",
            type=click.IntRange(min=1),
            help="Stages to run at once (default: one per CPU, fewer when the memory its workers took last time would not fit).",
        ),
        click.option(
            "--single",
            "--no-deps",
            "no_deps",
            is_flag=True,
            help="Run only the named stages, not their upstream.",
        ),
        click.option(
            "--json",
            "as_json",
            is_flag=True,
            help="Emit one JSON event per line (see docs/events.md).",
        ),
        click.option(
            "--show-output", is_flag=True, help="Echo each stage's output lines as they happen."
        ),
        click.option(
            "--wait",
            is_flag=True,
            help="If another run holds the project, wait for it instead of stopping.",
        ),
        click.option(
            "-w",
            "--watch",
            is_flag=True,
            help="Keep running: re-run affected stages whenever files change.",
        ),
        click.option(
            "--serve",
            is_flag=True,
            help="Watch: also serve the engine on a control socket (see `pivot serve`).",
        ),
        click.option(
            "--socket",
            "given_socket",
            type=click.Path(dir_okay=False),
            metavar="PATH",
            help="With --serve: where to listen (default .pivot/serve.sock).",
        ),
        click.option(
            "--debounce",
            type=click.IntRange(min=0),
            help="Watch: milliseconds to gather a burst of changes (default 300, or watch.debounce_ms).",
        ),
        click.option(
            "--executor",
            type=click.Choice(["local", "dask"]),
            help="Where stages run (default: executor.kind in config, else local).",
        ),
        click.option(
            "--scheduler",
            metavar="ADDR",
            help="Dask scheduler address (tcp://HOST:PORT); without it --executor dask starts a LocalCluster.",
        ),
        click.option(
            "--explain",
            "explain_first",
            is_flag=True,
            help="Before running, show why each stage will run.",
        ),
        click.option(
            "--resources",
            "resource_limits",
            multiple=True,
            metavar="NAME=N,...",
            help="Resource capacities for this run, over resources.<name> in config (gpu=1,mem_gb=16; repeatable).",
        ),
        click.option(
            "--allow-uncached-incremental",
            is_flag=True,
            help="Let an incremental output start over when its previous version is not cached.",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@click.command()
@_run_options
@pass_cli
def run(
    cli: CliContext,
    stages: tuple[str, ...],
    all_stages: bool,
    force: bool,
    keep_going: bool,
    dry_run: bool,
    jobs: int | None,
    no_deps: bool,
    as_json: bool,
    show_output: bool,
    wait: bool,
    allow_uncached_incremental: bool,
    explain_first: bool,
    watch: bool,
    serve: bool,
    given_socket: str | None,
    debounce: int | None,
    executor: str | None,
    scheduler: str | None,
    resource_limits: tuple[str, ...],
) -> None:
    """Run stale stages: the named STAGES and their upstream, or all.

    A stage runs when it never ran, or its code, params or deps changed, or an output is
    missing and not in the cache; otherwise it is skipped. Exit 1 if a stage failed.

    A dry run (-n) lists what would run and why, and each stage that could not (a dep that
    does not exist, params its model rejects), then exits 2 if there was one.

    \b
    Examples:
      pivot run                 # everything that is stale
      pivot run train -f        # force train (its upstream only if stale)
      pivot run demo/           # every stage of the pipeline demo (and their upstream)
      pivot run -n              # dry run: what would run and why
      pivot --no-tui run --json # JSON lines for scripts
    """
    from pivot.core.run import fast_path
    from pivot.core.run.resources import parse_overrides
    from pivot.exceptions import UsageError
    from pivot.sinks.console import ConsoleSink

    stages = _all_or_named(stages, all_stages)
    from pivot.sinks.jsonl import JsonLinesSink

    if (serve or given_socket) and not watch:
        raise UsageError("--serve and --socket go with --watch; use `pivot serve` to serve alone")
    if given_socket and not serve:
        raise UsageError("--socket needs --serve")
    project = cli.project()
    resources = parse_overrides(resource_limits)
    stages = _folder_scope(project, stages, all_stages)
    sink = (
        JsonLinesSink()
        if as_json
        else ConsoleSink(cli.console(), show_output=show_output, quiet=cli.quiet)
    )
    answerable = not (force or watch or explain_first or scheduler)
    if answerable:
        no_op = fast_path.NoOpRun(stages, dry_run, jobs, no_deps, executor, resources)
        summary = fast_path.run_no_op(project, no_op, sink)
        if summary is not None:
            sys.exit(summary.exit_code)

    from pivot.core.run.engine import Engine, RunRequest
    from pivot.core.run.executors import make_executor

    engine = Engine(project, make_executor(project.root, executor, scheduler, jobs))
    engine.freeze_after_load = not watch
    if not watch and executor in (None, "local"):
        engine.recorder = fast_path.Recorder(project, fast_path.configured_executor(project.root))
    request = RunRequest(
        targets=stages,
        force=force,
        keep_going=keep_going,
        dry_run=dry_run,
        jobs=jobs,
        no_deps=no_deps,
        wait=wait,
        allow_uncached_incremental=allow_uncached_incremental,
        resources=resources,
    )

    def on_signal(signum: int, _frame: object) -> None:
        engine.cancel(signal.Signals(signum).name)

    if watch:
        socket = (given_socket or "") if serve else None
        _watch(cli, engine, request, sink, debounce, quiet=as_json, socket=socket)
        return
    if explain_first and not as_json:
        from pivot.core.run.explain import explain as explain_stages
        from pivot.render.explain import render_explanations

        render_explanations(
            cli.console(), explain_stages(engine, stages, force=force), changed_only=True
        )
    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with fast_path.observing(engine.recorder.read if engine.recorder else None):
            summary = engine.run(request, sink)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        engine.close()
    sys.exit(summary.exit_code)


def _watch(
    cli: CliContext,
    engine: Any,
    request: Any,
    sink: Any,
    debounce: int | None,
    *,
    quiet: bool,
    socket: str | None,
) -> None:
    """Watch until SIGINT/SIGTERM; with ``socket`` (``""``: the default path) also serve."""
    import contextlib

    from pivot.core.run.events import fan_out
    from pivot.core.run.watch import WatchSession

    if debounce is None:
        debounce = _configured_debounce(engine.project)

    def cycle_done(_summary: object) -> None:
        if not quiet:
            click.echo("Watching for changes (Ctrl-C to stop)…")

    server = None
    guards: dict[str, Any] = {}
    if socket is not None:
        from pivot.cli.serve_command import socket_path
        from pivot.core.serve import ControlServer
        from pivot.exceptions import PivotError

        path = socket_path(engine.project, socket or None)
        server = ControlServer(path, engine, watch=True)
        # Loaded before anyone can ask: queries never load it beside the first watch cycle.
        with contextlib.suppress(PivotError):
            engine.load()
        try:
            server.start()
        except PivotError:
            engine.close()
            raise
        click.echo(f"pivot: serving on {path}", err=True)
        sink = fan_out(sink, server.publish)
        guards = {"cycle_guard": server.host.cycle, "load_guard": server.host.reloading}
    session = WatchSession(
        engine, request, sink, debounce_ms=debounce, on_cycle_end=cycle_done, **guards
    )

    def on_signal(_signum: int, _frame: object) -> None:
        session.stop()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        session.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if server is not None:
            server.close()
        engine.close()
    sys.exit(0)


def _configured_debounce(project: Any) -> int:
    from pivot.core.config_files import any_config_file
    from pivot.core.run.watch import DEFAULT_DEBOUNCE_MS

    if not any_config_file(project.root):
        return DEFAULT_DEBOUNCE_MS
    from pivot.core.config import load_config

    return int(load_config(project.root).watch.debounce_ms)


repro = click.Command(
    "repro",
    callback=run.callback,
    params=run.params,
    help=(run.help or "") + "\n\n`repro` is the same command as `run`.",
    short_help="Same as run.",
)


@click.command()
@click.argument("stages", nargs=-1, shell_complete=complete_stages)
@_ALL_OPTION
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--explain", is_flag=True, help="Also show what changed for each stale stage.")
@click.option(
    "--remote",
    "remote_name",
    is_flag=False,
    flag_value="",
    default=None,
    metavar="[NAME]",
    help="Also show outputs missing locally or on the remote (default remote if no NAME).",
)
@click.option(
    "--imports",
    "check_imports",
    is_flag=True,
    help="Also ask each source repository whether imported data is behind (network).",
)
@pass_cli
def status(
    cli: CliContext,
    stages: tuple[str, ...],
    all_stages: bool,
    as_json: bool,
    explain: bool,
    remote_name: str | None,
    check_imports: bool,
) -> None:
    """Show which stages are stale or cached, and why.

    Tracked and imported data that is modified or missing is listed too. Whether an import is
    behind its source is only asked with --imports, so plain `status` never waits on the network.

    \b
    Examples:
      pivot status
      pivot status train --json
      pivot status --remote         # and what is missing locally / on the remote
      pivot status --imports        # and which imports are behind their source
      pivot -q status               # only the stages that are not cached, and the count
    """
    from rich.markup import escape

    from pivot.core.run import fast_path
    from pivot.core.run.resources import format_amounts

    stages = _all_or_named(stages, all_stages)
    project = cli.project()
    stages = _folder_scope(project, stages, all_stages)
    rows: list[dict[str, Any]] | None = None
    explanations: list[Any] = []
    if not explain and remote_name is None:
        rows = fast_path.status_rows(project, stages)
        if rows is None:
            from pivot.core.run import edit_path

            rows = edit_path.status_rows(project, stages)
    if rows is None:
        from pivot.core.pipeline.discovery import has_pipeline

        if not stages and not has_pipeline(project.root):
            rows = []  # data only: tracked files and imports, listed below
        else:
            rows, explanations = _evaluated_status_rows(project, stages, explain=explain)
    tracked: list[Any] = []
    if not stages:
        from pivot.core.run.track import tracked_status

        tracked = tracked_status(project)
    remote_rows: list[Any] = []
    if remote_name is not None:
        from pivot.core import remote

        remote_rows = remote.remote_status(project, stages, remote_name or None)
    import_rows: list[Any] = []
    if check_imports:
        from pivot.core.run.imports import import_status

        import_rows = import_status(project)
    if as_json:
        data: dict[str, Any] = {"stages": rows, "tracked": [t.to_dict() for t in tracked]}
        if remote_name is not None:
            data["remote"] = [row.to_dict() for row in remote_rows]
        if check_imports:
            data["imports"] = [row.to_dict() for row in import_rows]
        click.echo(json.dumps(data, indent=2, default=str))
        sys.exit(1 if any(r["status"] == "error" for r in rows) else 0)
    console = cli.console()
    shown = [r for r in rows if r["status"] != "cached"] if cli.quiet else rows
    width = max([8, *(len(r["stage"]) for r in shown)])
    for row in shown:
        needs = f"  [needs {format_amounts(row['resources'])}]" if row["resources"] else ""
        if not console.is_terminal:  # piped: plain text, without rich's per-line rendering
            console.file.write(
                f"{row['status']:<7} {row['stage']:<{width}}  {row['reason']}{needs}\n"
            )
            continue
        style = {"cached": "green", "stale": "yellow", "error": "red"}[row["status"]]
        console.print(
            f"[{style}]{row['status']:<7}[/] {row['stage']:<{width}}  [dim]{row['reason']}[/]"
            + escape(needs),
            highlight=False,
        )
    stale = sum(1 for r in rows if r["status"] != "cached")
    console.print(
        f"{plural(len(rows), 'stage')}, {stale} stale" if rows else "no stages", highlight=False
    )
    changed = [t for t in tracked if t.status != "ok"]
    for item in changed:
        kind = "tracked" if item.imported_from is None else "imported"
        console.print(
            f"[yellow]{item.status:<8}[/] {kind} {item.path}  [dim]{item.hint()}[/]",
            highlight=False,
        )
    if import_rows:
        from rich.markup import escape

        for row in import_rows:
            style = {"current": "green", "behind": "yellow"}.get(row.status, "red")
            console.print(
                f"[{style}]{row.status:<8}[/] import {escape(row.path)} <- "
                f"{escape(row.repo)} {escape(row.rev)}  [dim]{escape(row.hint())}[/]",
                highlight=False,
            )
    if explanations:
        from pivot.render.explain import render_explanations

        console.print()
        render_explanations(console, explanations, changed_only=True)
    if remote_name is not None:
        from pivot.render.remote import remote_status_lines

        console.print()
        lines = remote_status_lines(remote_rows)
        for line in lines:
            console.print(line, highlight=False, markup=False)
        problems = sum(1 for row in remote_rows if row.status != "ok")
        console.print(
            f"{plural(len(remote_rows), 'output')}, {problems} not in sync with the remote",
            highlight=False,
        )
    if any(r["status"] == "error" for r in rows):
        sys.exit(1)


@click.command()
@click.argument("stages", nargs=-1, shell_complete=complete_stages)
@click.option("--json", "as_json", is_flag=True, help="The same structure as JSON.")
@click.option("-f", "--force", is_flag=True, help="Explain as if the stages were forced.")
@pass_cli
def explain(cli: CliContext, stages: tuple[str, ...], as_json: bool, force: bool) -> None:
    """Explain why each stage will run or is skipped, with the code diff.

    For every changed code key (a helper, constant, class or loader the stage reaches) it
    shows file:line and a unified diff of the old and new source; for params, old -> new
    values; for deps, old -> new hashes. Keys that appeared or disappeared are marked.

    \b
    Examples:
      pivot explain train
      pivot explain --json
    """
    from pivot.core.run.engine import Engine
    from pivot.core.run.explain import explain as explain_stages

    explanations = explain_stages(Engine(cli.project()), stages, force=force)
    if as_json:
        click.echo(
            json.dumps({"stages": [e.to_dict() for e in explanations]}, indent=2, default=str)
        )
        return
    from pivot.render.explain import render_explanations

    render_explanations(cli.console(), explanations)


@click.command()
@click.option(
    "-n", "--limit", type=int, default=20, show_default=True, help="How many runs to list."
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_cli
def history(cli: CliContext, limit: int, as_json: bool) -> None:
    """List recent runs, newest first.

    \b
    Example:
      pivot history -n 5
    """
    from pivot.core.run.history import list_runs
    from pivot.render.history import run_line

    runs = list_runs(cli.project(), limit=limit)
    if as_json:
        click.echo(json.dumps({"runs": runs}, indent=2))
        return
    if not runs:
        click.echo("no runs yet")
        return
    for run_record in runs:
        click.echo(run_line(run_record))


@click.command()
@click.argument("run_id", required=False)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_cli
def show(cli: CliContext, run_id: str | None, as_json: bool) -> None:
    """Show one run (the latest if RUN_ID is not given; a unique prefix is enough).

    \b
    Example:
      pivot show 20261121-1530
    """
    from pivot.core.run.history import get_run
    from pivot.exceptions import UsageError
    from pivot.render.history import run_header, stage_lines

    record = get_run(cli.project(), run_id)
    if record is None:
        raise UsageError(
            f"no run matches '{run_id}'; see `pivot history`" if run_id else "no runs yet"
        )
    if as_json:
        click.echo(json.dumps(record, indent=2))
        return
    click.echo(run_header(record))
    for line in stage_lines(record):
        click.echo(line)


COMMANDS: list[click.Command] = [init, run, repro, status, explain, history, show]


def _evaluated_status_rows(
    project: Any, stages: tuple[str, ...], *, explain: bool
) -> tuple[list[Any], list[Any]]:
    """`status` rows and explanations (with ``explain``) from a full evaluation, which
    leaves the fast path's record behind."""
    from pivot.core.run import fast_path
    from pivot.core.run.engine import Engine
    from pivot.core.run.status import status_row

    engine = Engine(project)
    engine.freeze_after_load = True
    engine.recorder = fast_path.Recorder(project, fast_path.configured_executor(project.root))
    with fast_path.observing(engine.recorder.read):
        decisions = engine.plan(stages)
    pipeline, _ = engine.load()
    explanations = {}
    if explain:
        from pivot.core.run.explain import explain as explain_stages

        explanations = {e.stage: e for e in explain_stages(engine, stages)}
    rows = [
        status_row(d, explanations.get(d.stage), pipeline[d.stage].resources) for d in decisions
    ]
    return rows, list(explanations.values())
