"""The top bar: the project, what the app is doing, and where the pipeline stands.

One line built from the app's :class:`~pivot.tui._state.AppState` and the
:class:`~pivot.tui._model.PipelineModel` only, so it cannot disagree with the footer or the
Explain tab. During a run it shows progress (done/total, elapsed, an estimate of what is
left) instead of the idle summary.
"""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual.notifications import SeverityLevel

from pivot.core.run.events import RunFinished
from pivot.tui._model import PipelineModel, RunProgress
from pivot.tui._render import Palette
from pivot.tui._state import AppPhase, AppState
from pivot.tui._text import format_duration


def topbar_text(
    project: str, state: AppState, model: PipelineModel, now: float, palette: Palette
) -> Text:
    text = Text()
    text.append(f"pivot · {project}", style="bold")
    progress = model.progress(now)
    if state.phase is AppPhase.LOADING:
        text.append(" · loading pipeline…")
    elif progress is not None:
        text.append(" · ")
        text.append_text(_progress_text(state, progress, palette))
    else:
        text.append(" · " + model.summary())
    if state.watching:
        cycle = f" (cycle {state.watch_cycle})" if state.watch_cycle else ""
        text.append(f" · watching{cycle}", Style(color=palette.accent, bold=True))
    if state.phase is AppPhase.QUITTING:
        text.append(" · quitting…", Style(color=palette.warning, bold=True))
    if state.error is not None:
        text.append(" · ")
        text.append(f"✗ {state.error}", Style(color=palette.error, bold=True))
    return text


def _progress_text(state: AppState, progress: RunProgress, palette: Palette) -> Text:
    text = Text()
    if state.phase is AppPhase.CANCELLING:
        text.append("cancelling… ", Style(color=palette.warning, bold=True))
    else:
        text.append("running ", Style(color=palette.accent, bold=True))
    text.append(f"{progress.done}/{progress.total}", Style(bold=True))
    text.append(f" · {format_duration(progress.elapsed)}")
    if progress.eta is not None and progress.done < progress.total:
        text.append(f" · ETA ~{format_duration(progress.eta)}")
    if progress.waiting:
        text.append(
            f" · {progress.waiting} waiting for resources",
            Style(color=palette.primary, bold=True),
        )
    if progress.failed:
        text.append(f" · {progress.failed} failed", Style(color=palette.error, bold=True))
    return text


def failure_banner(failed: list[str]) -> Text | None:
    """The banner a failed run leaves until the next run starts (None: no failure)."""
    if not failed:
        return None
    names = ", ".join(failed[:3]) + (f" and {len(failed) - 3} more" if len(failed) > 3 else "")
    text = Text()
    text.append(f"✗ {len(failed)} failed: ", Style(bold=True))
    text.append(names)
    text.append(" · e: go to the first error", Style(italic=True))
    return text


def run_finished_notice(finished: RunFinished) -> tuple[str, SeverityLevel]:
    """The toast a finished run leaves: what happened, counted."""
    counts = ", ".join(f"{n} {k}" for k, n in finished.counts.items() if n) or "nothing"
    if finished.cancelled:
        return f"Run cancelled: {counts}", "warning"
    if finished.exit_code:
        return f"Run failed: {counts}", "error"
    return f"Run finished: {counts}", "information"
