"""Opening the TUI from the command line.

The CLI decides TUI vs plain output (``CliContext.interactive``); these functions are only
called when the app will really open, and they are the only CLI code that imports Textual.
Order matters: the pipeline loads and the worker pool starts *before* ``App.run()``, because
inside a running Textual app ``sys.stderr.fileno()`` is -1 and new processes cannot start.
"""

from __future__ import annotations

import functools
import gc
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pivot.cli._context import CliContext

if TYPE_CHECKING:
    from textual.app import App

    from pivot.core.reports.datadiff import DataDiff


def open_tui(cli_ctx: CliContext, *, jobs: int | None = None) -> None:
    """``pivot`` in a terminal: load the pipeline, warm the workers, run the app.

    Pipeline errors surface here as ordinary Pivot errors (one line, exit 2) before the
    screen switches. Exits with the app's return code (130 when quitting cancelled a run).
    """
    from pivot.core.run.engine import Engine
    from pivot.core.run.executors import LocalExecutor

    project = cli_ctx.project()
    executor = LocalExecutor(jobs, project.root)
    engine = Engine(project, executor)
    _, graph = engine.load()
    executor.warm_up()

    from pivot.tui import PivotApp

    app = PivotApp(project.root, engine=engine, graph=graph)
    # Everything loaded so far (Textual, pydantic, the pipeline...) lives as long as the app:
    # keep it out of the cyclic GC, whose full passes otherwise stall the UI for ~0.2 s while
    # stage logs stream in.
    gc.freeze()
    try:
        _run_app(app)
    finally:
        app.wait_for_engine()
        engine.close()
    code = app.return_code or 0
    if code:
        sys.exit(code)


def open_data_diff_tui(
    root: Path,
    paths: Sequence[str],
    *,
    rev: str = "HEAD",
    keys: Sequence[str] = (),
    summary: bool | None = None,
) -> None:
    """``pivot data diff FILE...`` in a terminal: the data-diff screen on its own.

    ``paths`` are posix paths relative to ``root``. Every diff is computed before the app
    opens, so that a file that cannot be compared is reported as without a terminal (one
    line, exit 2) and the app never opens on an error. Each lists every changed row; the
    screen shows them page by page, so large files stay responsive.
    """
    from rich.console import Console

    from pivot.core.reports.datadiff import compute_data_diff
    from pivot.core.store.revisions import RevisionReader
    from pivot.tui import DataDiffApp, DiffTarget
    from pivot.tui._diffpages import TUI_MAX_ROWS

    reader = RevisionReader(root, rev)
    targets = []
    with Console(stderr=True).status(f"comparing with {rev}…") as status:
        for path in paths:
            status.update(f"comparing {path} with {rev}…")
            diff = compute_data_diff(
                root,
                path,
                rev=rev,
                keys=tuple(keys),
                max_rows=TUI_MAX_ROWS,
                summary=summary,
                reader=reader,
            )
            targets.append(DiffTarget(f"{path} (vs {rev})", functools.partial(_computed, diff)))
    app = DataDiffApp(targets)
    _run_app(app)
    if app.return_code:
        sys.exit(app.return_code)


def _run_app(app: App[Any]) -> None:
    """Run ``app`` in this terminal, exiting it should the terminal hang up."""
    from pivot.tui._hangup import exit_on_hangup

    watching = exit_on_hangup(app)
    try:
        app.run()
    finally:
        watching.set()


def _computed(diff: DataDiff) -> DataDiff:
    return diff
