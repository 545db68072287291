"""The ``pivot`` command's entry point.

A no-op ``pivot run`` from a script or CI (output not a terminal, or ``--json``) is answered
here, before the command-line framework loads: click and rich cost ~60 ms of what is otherwise
a ~90 ms answer (run.fast_path). Only a plain subset of ``run`` options is recognised here;
anything else, and any run that is not a no-op, goes to :func:`pivot.cli.main` with the same
output.
"""

from __future__ import annotations

import dataclasses
import os
import sys


@dataclasses.dataclass
class _QuickRun:
    stages: list[str] = dataclasses.field(default_factory=list)
    as_json: bool = False
    dry_run: bool = False
    no_deps: bool = False
    quiet: bool = False
    jobs: int | None = None
    executor: str | None = None


_FLAGS = {
    "--no-tui": None,
    "--show-output": None,  # a skipped stage has no output to show
    "-q": "quiet",
    "--quiet": "quiet",
    "--json": "as_json",
    "-n": "dry_run",
    "--dry-run": "dry_run",
    "--single": "no_deps",
    "--no-deps": "no_deps",
}


def _parse(args: list[str]) -> _QuickRun | None:
    """The request when ``args`` is a `run`/`repro` this module can answer, else None."""
    request = _QuickRun()
    command: str | None = None
    tokens = iter(args)
    for token in tokens:
        if token in _FLAGS:
            field = _FLAGS[token]
            if field is not None:
                setattr(request, field, True)
        elif command is None:
            if token not in ("run", "repro"):
                return None
            command = token
        elif token in ("-j", "--jobs") or token.startswith(("--jobs=", "-j")):
            if token in ("-j", "--jobs"):
                value = next(tokens, "")
            else:
                value = token.removeprefix("--jobs=") if token.startswith("--") else token[2:]
            if not value.isdigit() or int(value) < 1:
                return None
            request.jobs = int(value)
        elif token in ("--executor=local", "--executor"):
            if token == "--executor" and next(tokens, "") != "local":
                return None
            request.executor = "local"
        elif token.startswith("-"):
            return None
        else:
            request.stages.append(token)
    return request if command is not None else None


def _writes_to_terminal() -> bool:
    """What rich decides for stdout (a terminal gets the live display: the full CLI)."""
    compatible = os.environ.get("TTY_COMPATIBLE", "")
    if compatible in ("0", "1"):
        return compatible == "1"
    force = os.environ.get("FORCE_COLOR")
    if force is not None:
        return force != ""
    try:
        return sys.stdout.isatty()
    except ValueError:
        return False


def _quick_run(args: list[str]) -> int | None:
    """The exit code of a no-op run answered here, or None for the full CLI."""
    request = _parse(args)
    if request is None or (not request.as_json and _writes_to_terminal()):
        return None
    from pivot.core.project import Project
    from pivot.core.run import fast_path
    from pivot.core.run.events import Event
    from pivot.core.store.paths import find_project_root
    from pivot.exceptions import PivotError

    try:
        project = Project(find_project_root())
    except PivotError:
        return None
    if not request.stages:
        from pivot.core.pipeline.selection import cwd_pipeline_folder

        if cwd_pipeline_folder(project.root) is not None:
            return None  # that folder's stages: the full CLI picks them
    if request.as_json:
        from pivot.sinks.jsonl import JsonLinesSink

        sink: fast_path.EventSink = JsonLinesSink()
    else:
        from pivot.sinks.console import ConsoleSink

        sink = ConsoleSink(quiet=request.quiet)
    emitted = False

    def emit(event: Event) -> None:
        nonlocal emitted
        emitted = True
        sink(event)

    no_op = fast_path.NoOpRun(
        tuple(request.stages), request.dry_run, request.jobs, request.no_deps, request.executor
    )
    try:
        summary = fast_path.run_no_op(project, no_op, emit)
    except BrokenPipeError:
        return 1
    except Exception:
        if emitted:
            raise
        return None  # e.g. unreadable local state: the full CLI reports it properly
    return summary.exit_code if summary is not None else None


def main(argv: list[str] | None = None) -> None:
    code = _quick_run(sys.argv[1:] if argv is None else argv)
    if code is not None:
        sys.stdout.flush()
        sys.exit(code)
    from pivot.cli import main as cli_main

    cli_main(argv)
