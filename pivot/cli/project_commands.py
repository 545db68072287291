"""Commands about the project as a whole: list, dag, export, import-dvc, doctor, completion.

Also :func:`complete_stages`, the shell-completion callback for every STAGES argument. Like
the rest of the CLI, this module imports only click at load time.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from pivot.cli._context import CliContext
from pivot.exceptions import PivotError, UsageError
from pivot.render.counts import plural

if TYPE_CHECKING:
    from click.shell_completion import CompletionItem

    from pivot.core.pipeline.discovery import PipelineDefinition
    from pivot.core.pipeline.graph import StageGraph
    from pivot.core.project import Project
    from pivot.core.run.engine import Engine
    from pivot.registry import StageSpec

__all__ = ["COMMANDS", "complete_stages"]

pass_cli = click.make_pass_decorator(CliContext)


# -- shell completion -------------------------------------------------------------------------


def _completion_root(ctx: click.Context) -> Path:
    """The folder the command line points at (``-C DIR`` is not applied while completing)."""
    directory = ctx.find_root().params.get("directory")
    return Path(directory).resolve() if directory else Path.cwd()


def complete_stages(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """Stage names for shell completion: imports pipeline.py, never runs anything.

    Any failure (no project, a broken pipeline.py) means no completions, never a traceback;
    whatever pipeline.py prints is swallowed so it cannot corrupt the completion protocol.
    """
    from click.shell_completion import CompletionItem

    try:
        from pivot.core.pipeline.discovery import load_pipeline
        from pivot.core.store.paths import find_project_root

        root = find_project_root(_completion_root(ctx))
        sink = io.StringIO()
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            pipeline = load_pipeline(root)
        names = list(pipeline.stages)
    except BaseException as exc:  # completion must never fail loudly
        if isinstance(exc, KeyboardInterrupt):
            raise
        return []
    given = set(ctx.params.get(param.name or "", None) or ())
    return [
        CompletionItem(name) for name in names if name.startswith(incomplete) and name not in given
    ]


_SHELL_HELP = {
    "bash": 'eval "$(pivot completion bash)"      # add to ~/.bashrc (bash 4.4+)',
    "zsh": 'eval "$(pivot completion zsh)"       # add to ~/.zshrc',
    "fish": "pivot completion fish > ~/.config/fish/completions/pivot.fish",
}


@click.command()
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
@click.pass_context
def completion(ctx: click.Context, shell: str) -> None:
    """Print a shell completion script (bash, zsh or fish).

    It completes commands, options, and stage names (read from pipeline.py; nothing runs).

    \b
    Examples:
      eval "$(pivot completion bash)"     # in ~/.bashrc (bash 4.4+)
      eval "$(pivot completion zsh)"      # in ~/.zshrc
      pivot completion fish > ~/.config/fish/completions/pivot.fish
    """
    from click.shell_completion import get_completion_class

    completer = get_completion_class(shell)
    assert completer is not None  # the Choice above only allows supported shells
    root = ctx.find_root()
    script = completer(root.command, {}, "pivot", "_PIVOT_COMPLETE").source()
    click.echo(script)


# -- loading helpers --------------------------------------------------------------------------


def _load(cli: CliContext) -> tuple[Engine, PipelineDefinition, StageGraph]:
    """An engine for the project (nothing started) and its loaded pipeline and graph."""
    from pivot.core.run.engine import Engine

    engine = Engine(cli.project())
    pipeline, graph = engine.load()
    return engine, pipeline, graph


def _select(pipeline: PipelineDefinition, graph: StageGraph, stages: tuple[str, ...]) -> list[str]:
    """The named stages and their upstream, in run order (all when none are named)."""
    from pivot.core.pipeline.selection import expand_targets

    stages = tuple(expand_targets(stages, graph.order))
    unknown = [name for name in stages if name not in pipeline]
    if unknown:
        known = ", ".join(sorted(pipeline.stages)) or "none"
        raise UsageError(f"unknown stage '{unknown[0]}' (stages: {known})")
    return graph.ordered(graph.ancestors(stages)) if stages else list(graph.order)


# -- list -------------------------------------------------------------------------------------


def _out_label(out: Any) -> str:
    notes = [] if out.kind == "out" else [out.kind]
    if not out.cached and out.kind != "metric":
        notes.append("not cached")
    return f"{out.path} ({', '.join(notes)})" if notes else out.path


@click.command("list")
@click.argument("stages", nargs=-1, shell_complete=complete_stages)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_cli
def list_stages(cli: CliContext, stages: tuple[str, ...], as_json: bool) -> None:
    """List the stages with their deps and outputs.

    With STAGES, only those and their upstream.

    \b
    Examples:
      pivot list
      pivot list train --json
    """
    from pivot.core.pipeline.selection import grouped, pipeline_of

    _, pipeline, graph = _load(cli)
    names = _select(pipeline, graph, stages)
    if as_json:
        rows = []
        for name in names:
            spec = pipeline[name]
            rows.append(
                {
                    "name": name,
                    "pipeline": pipeline_of(name),
                    "function": f"{spec.func.__module__}.{spec.func.__qualname__}",
                    "deps": list(spec.dep_paths),
                    "outs": [
                        {"path": out.path, "kind": out.kind, "cached": out.cached}
                        for out in spec.outs
                    ],
                    "params": getattr(spec.params_model, "__name__", None),
                    "params_keys": {
                        file: list(keys) if keys is not None else None
                        for file, keys in spec.tracked_params().items()
                    },
                    "upstream": graph.ordered(graph.upstream.get(name, ())),
                    "resources": dict(spec.resources),
                }
            )
        click.echo(json.dumps({"stages": rows}, indent=2))
        return
    if not names:
        click.echo("no stages in pipeline.py")
        return
    groups = grouped(names)
    for group, members in groups:
        if len(groups) > 1:  # several pipelines: a heading for each
            from pivot.render.dag import pipeline_heading

            click.echo(pipeline_heading(group, len(members)))
        for name in members:
            _echo_stage(pipeline[name])
    click.echo(plural(len(names), "stage"))


def _echo_stage(spec: StageSpec) -> None:
    params = f"  [params: {spec.params_model.__name__}]" if spec.params_model else ""
    click.echo(f"{spec.name}{params}")
    if spec.dep_paths:
        click.echo(f"  deps  {', '.join(spec.dep_paths)}")
    for file, keys in spec.tracked_params().items():
        click.echo(f"  keys  {file}: {', '.join(keys) if keys is not None else '(all)'}")
    if spec.outs:
        click.echo(f"  outs  {', '.join(_out_label(out) for out in spec.outs)}")
    if spec.resources:
        from pivot.core.run.resources import format_amounts

        click.echo(f"  needs {format_amounts(spec.resources)}")


# -- dag --------------------------------------------------------------------------------------


@click.command()
@click.argument("stages", nargs=-1, shell_complete=complete_stages)
@click.option("--mermaid", "fmt", flag_value="mermaid", help="A Mermaid flowchart.")
@click.option("--dot", "fmt", flag_value="dot", help="A Graphviz digraph.")
@click.option("--json", "fmt", flag_value="json", help="Stages, layers and edges as JSON.")
@click.option("--ascii", "ascii_only", is_flag=True, help="Draw with ASCII characters only.")
@pass_cli
def dag(cli: CliContext, stages: tuple[str, ...], fmt: str | None, ascii_only: bool) -> None:
    """Draw the stage graph.

    With STAGES, only those and their upstream. In the terminal each stage is printed once, on
    the layer of its longest path from a source; lines join every stage to the stages that read
    its outputs. With several pipelines, each is drawn under its own heading, and a stage of
    another pipeline that it reads is drawn above it in parentheses.

    \b
    Examples:
      pivot dag
      pivot dag train --mermaid
      pivot dag --dot | dot -Tsvg > dag.svg
    """
    from pivot.core.reports.dag_view import dag_view
    from pivot.render import dag as draw

    _, pipeline, graph = _load(cli)
    from pivot.core.pipeline.selection import expand_targets

    _select(pipeline, graph, stages)  # validates the names
    view = dag_view(graph, expand_targets(stages, graph.order))
    if fmt == "mermaid":
        click.echo(draw.render_mermaid(view))
    elif fmt == "dot":
        click.echo(draw.render_dot(view))
    elif fmt == "json":
        click.echo(json.dumps(view.to_dict(pipeline), indent=2))
    else:
        encoding = getattr(sys.stdout, "encoding", None) or "ascii"
        try:
            "│─▼".encode(encoding)
        except (UnicodeEncodeError, LookupError):
            ascii_only = True
        click.echo(draw.render_text(view, ascii_only=ascii_only))


# -- export -----------------------------------------------------------------------------------


@click.command("export")
@click.argument("stages", nargs=-1, shell_complete=complete_stages)
@click.option(
    "-o",
    "--output",
    default="dvc.yaml",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="Where to write the DVC pipeline file.",
)
@click.option(
    "--validate",
    is_flag=True,
    help="Check the file with DVC (dvc stage list, dag, status); exit 1 on a disagreement.",
)
@click.option("--force", is_flag=True, help="Replace a file that `pivot export` did not write.")
@click.option(
    "--pivot-command",
    default="pivot",
    show_default=True,
    help="How each cmd calls Pivot, e.g. 'uv run pivot'.",
)
@pass_cli
def export(
    cli: CliContext,
    stages: tuple[str, ...],
    output: str,
    validate: bool,
    force: bool,
    pivot_command: str,
) -> None:
    """Write a dvc.yaml that runs the stages with DVC.

    With STAGES, only those and their upstream. Each DVC stage's cmd is
    `pivot --no-tui run --single NAME`; DVC orders them from the deps and outs. Deps include
    the Python files the stage's code reaches. Params are referenced as
    `params.yaml: [STAGE.FIELD]`, and the keys a ParamsDep tracks as listed; params.yaml is
    never written: defaults it lacks go to `dvc.params.yaml` next to the output. Re-run after
    changing the pipeline.

    \b
    Examples:
      pivot export                       # dvc.yaml for every stage
      pivot export train --validate      # train and its upstream, checked with DVC
      pivot export --pivot-command "uv run pivot"
    """
    from pivot.core.interop import dvc_export
    from pivot.core.pipeline.params import read_params_file

    engine, pipeline, graph = _load(cli)
    project = engine.project
    selected = _select(pipeline, graph, stages)
    out_file = Path(output).resolve()
    plan = dvc_export.build_export(
        pipeline,
        graph,
        selected,
        out_file,
        params_file=read_params_file(project.params_file),
        pivot_command=pivot_command,
    )
    written = dvc_export.write_export(plan, out_file, force=force)
    for path in written:
        shown = os.path.relpath(path)
        if path.exists():
            what = (
                plural(len(plan.names), "stage")
                if path == out_file
                else "defaults of params that params.yaml does not set"
            )
            click.echo(f"wrote {shown} ({what})")
        else:
            click.echo(f"removed {shown} (no longer needed)")
    for name, dvc_name in plan.names.items():
        if name != dvc_name:
            click.echo(
                f"note: stage '{name}' is '{dvc_name}' in DVC (DVC names allow only A-Z a-z 0-9 _ -)"
            )
    for warning in plan.warnings:
        click.echo(f"warning: {warning}", err=True)
    if not validate:
        return
    dvc = dvc_export.find_dvc()
    if dvc is None:
        raise PivotError(
            "cannot validate: DVC is not installed (`pip install dvc`, or set PIVOT_DVC to "
            "its path)"
        )
    stale: set[str] | None
    try:
        from pivot.core.run.planner import Action

        decisions = engine.plan(selected)
        stale = {d.stage for d in decisions if d.action in (Action.RUN, Action.ERROR)}
    except PivotError:
        stale = None
    checks = dvc_export.validate_with_dvc(dvc, project.root, out_file, plan, stale=stale)
    failed = _print_checks(
        [(check.name, check.ok, check.detail) for check in checks],
        notes={check.name: check.notes for check in checks},
    )
    if failed:
        sys.exit(1)


def _print_checks(
    rows: list[tuple[str, bool | None, str]], notes: dict[str, tuple[str, ...]] | None = None
) -> int:
    """Print one ✓/✗/- line per check; return how many failed."""
    encoding = getattr(sys.stdout, "encoding", None) or "ascii"
    try:
        "✓✗".encode(encoding)
        marks = {True: "✓", False: "✗", None: "-"}
    except (UnicodeEncodeError, LookupError):
        marks = {True: "ok", False: "FAIL", None: "-"}
    failed = 0
    for name, ok, detail in rows:
        failed += ok is False
        click.echo(f"{marks[ok]} {name}: {detail}")
        for note in (notes or {}).get(name, ()):
            click.echo(f"    note: {note}")
    return failed


# -- import-dvc -------------------------------------------------------------------------------


@click.command("import-dvc")
@click.argument("dvc_yaml", default="dvc.yaml", type=click.Path(dir_okay=False))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    help="Write the skeleton here (e.g. pipeline.py) instead of printing it.",
)
@click.option("--force", is_flag=True, help="Overwrite the output file if it exists.")
def import_dvc(dvc_yaml: str, output: str | None, force: bool) -> None:
    """Turn a dvc.yaml into a pipeline.py skeleton.

    Reads DVC_YAML (default dvc.yaml). One function per DVC stage, with its deps and outs declared as PathOnly Dep/Out and a body
    that runs the original command, so it runs as is. The keys a stage's `params:` lists
    become a ParamsDep: still read by the command from params.yaml, and tracked, so editing
    one re-runs the stages that list it. TODO notes in each docstring say what to port by
    hand: Python scripts (so Pivot fingerprints them), other commands, foreach/matrix, wdir.

    \b
    Examples:
      pivot import-dvc                      # print the skeleton
      pivot import-dvc dvc.yaml -o pipeline.py
    """
    from pivot.core.interop.dvc_import import import_dvc as generate

    source_path = Path(dvc_yaml)
    target = Path(output) if output else None
    if target is not None and target.exists() and not force:
        raise UsageError(f"{output} exists; pass --force to overwrite it")
    result = generate(source_path, (target.parent if target else Path()).resolve())
    if target is None:
        click.echo(result.source, nl=False)
        return
    from pivot.core.store.atomic import write_text_atomic

    target.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(target, result.source)
    click.echo(
        f"wrote {output}: {plural(len(result.stages), 'stage')}, "
        f"{plural(result.todos, 'TODO note')}"
    )
    if result.dvc_tracked:
        click.echo(
            f"DVC tracks {plural(len(result.dvc_tracked), 'path')} with `dvc add`; once the data "
            f"is in the workspace (`dvc pull`), version it with Pivot:\n"
            f"  pivot track {' '.join(result.dvc_tracked)}"
        )
    click.echo("Next: `pivot list` to check it loads, then `pivot run`.")


# -- doctor -----------------------------------------------------------------------------------

_Check = tuple[str, bool | None, str]


def _check_python() -> _Check:
    version = ".".join(str(v) for v in sys.version_info[:3])
    ok = sys.version_info >= (3, 11)
    return ("python", ok, f"{version} ({sys.executable})" + ("" if ok else "; Pivot needs 3.11+"))


def _check_cache(project: Project) -> _Check:
    import tempfile

    cache = project.paths.cache
    try:
        cache.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=cache, prefix=".doctor-"):
            pass
    except OSError as exc:
        return ("cache", False, f"{cache} is not writable: {exc.strerror or exc}")
    return ("cache", True, f"{os.path.relpath(cache)} is writable")


def _check_git(project: Project) -> list[_Check]:
    import shutil
    import subprocess

    git = shutil.which("git")
    if git is None:
        return [("git", False, "not found on PATH; params/metrics diffs need git")]
    version = subprocess.run([git, "--version"], capture_output=True, text=True).stdout.strip()
    top = subprocess.run(
        [git, "rev-parse", "--show-toplevel"], cwd=project.root, capture_output=True, text=True
    )
    checks: list[_Check] = [("git", True, version)]
    if top.returncode != 0:
        checks.append(
            ("git repository", False, f"{project.root} is not in a git repository; run `git init`")
        )
    else:
        checks.append(("git repository", True, top.stdout.strip()))
    return checks


def _check_state(project: Project) -> _Check:
    try:
        state = project.state
        with state.env.begin() as txn:
            entries = txn.stat()["entries"]
    except Exception as exc:
        return ("local state", False, f"{exc}")
    return (
        "local state",
        True,
        f"{os.path.relpath(state.path)} opens ({plural(entries, 'table')})",
    )


def _check_remotes(project: Project) -> list[_Check]:
    try:
        from pivot.core.config import load_config
    except ImportError:
        return [("remote", None, "skipped: this Pivot has no config module")]
    try:
        config = load_config(project.root)
    except PivotError as exc:
        return [("config", False, str(exc))]
    remotes = getattr(config, "remotes", None) or {}
    if not remotes:
        return [("remote", None, "none configured")]
    try:
        from pivot.core.remote import open_store, resolve_remote
    except ImportError:
        return [("remote", None, "skipped: this Pivot has no remote module")]
    checks: list[_Check] = []
    for name in sorted(remotes):
        try:
            location = resolve_remote(config, name, root=project.root)
            store = open_store(location, jobs=1)
            try:
                store.check()
            finally:
                store.close()
        except PivotError as exc:
            checks.append((f"remote {name}", False, str(exc)))
        except Exception as exc:
            checks.append((f"remote {name}", False, f"{type(exc).__name__}: {exc}"))
        else:
            checks.append((f"remote {name}", True, f"{location.describe()} is reachable"))
    return checks


def _guarded(check: Callable[[], list[_Check]], name: str) -> list[_Check]:
    try:
        return check()
    except Exception as exc:
        return [(name, False, f"{type(exc).__name__}: {exc}")]


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_cli
def doctor(cli: CliContext, as_json: bool) -> None:
    """Check that Pivot can work here.

    Checks Python, the project, pipeline.py, the cache, git, the local state and any
    configured remote. Prints ✓ or ✗ per check; exits 1 if any check fails.

    \b
    Example:
      pivot doctor
    """
    checks: list[_Check] = [_check_python()]
    project: Project | None = None
    try:
        project = cli.project()
        checks.append(("project", True, str(project.root)))
    except PivotError as exc:
        checks.append(("project", False, str(exc)))
    if project is not None:
        from pivot.core.pipeline.discovery import load_pipeline
        from pivot.core.pipeline.graph import build_graph

        def pipeline_check() -> list[_Check]:
            assert project is not None
            try:
                pipeline = load_pipeline(project.root)
                build_graph(pipeline)
            except PivotError as exc:
                return [("pipeline", False, str(exc))]
            count = len(pipeline)
            return [("pipeline", True, f"pipeline.py loads: {plural(count, 'stage')}")]

        checks.extend(_guarded(pipeline_check, "pipeline"))
        checks.extend(_guarded(lambda: [_check_cache(project)], "cache"))
        checks.extend(_guarded(lambda: _check_git(project), "git"))
        checks.extend(_guarded(lambda: [_check_state(project)], "local state"))
        checks.extend(_guarded(lambda: _check_remotes(project), "remote"))
    failed = sum(1 for _, ok, _ in checks if ok is False)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "ok": not failed,
                    "checks": [{"name": n, "ok": ok, "detail": d} for n, ok, d in checks],
                },
                indent=2,
            )
        )
    else:
        _print_checks(checks)
        click.echo("all checks passed" if not failed else f"{plural(failed, 'check')} failed")
    if failed:
        sys.exit(1)


COMMANDS: list[click.Command] = [list_stages, dag, export, import_dvc, doctor, completion]
