"""The app's state model and the top bar drawn from it (no app needed)."""

from __future__ import annotations

from pivot.core.pipeline.graph import StageGraph
from pivot.core.run.events import RunStarted, StageFinished, StageQueued, StageStarted, StageStatus
from pivot.core.run.planner import Action, Decision
from pivot.tui._model import PipelineModel
from pivot.tui._render import Palette
from pivot.tui._state import AppPhase, AppState
from pivot.tui._topbar import topbar_text

PALETTE = Palette({}, dark=True)


def model_of(*names: str) -> PipelineModel:
    graph = StageGraph(
        order=names,
        upstream={n: () for n in names},
        downstream={n: () for n in names},
        producer={},
    )
    model = PipelineModel(graph)
    model.apply_plan(Decision(n, Action.RUN, "never run") for n in names)
    return model


def test_a_run_then_a_cancel_then_the_end() -> None:
    state = AppState().loaded()
    assert state.phase is AppPhase.IDLE and state.can_start and not state.busy
    state = state.run_started()
    assert state.phase is AppPhase.RUNNING and state.busy and not state.can_start
    state = state.cancel_requested()
    assert state.phase is AppPhase.CANCELLING and state.busy
    assert state.session_ended().phase is AppPhase.IDLE


def test_a_broken_pipeline_is_remembered_across_a_session() -> None:
    state = AppState().loaded().load_failed("pipeline.py:3: syntax error\nmore")
    assert state.phase is AppPhase.BROKEN and state.error == "pipeline.py:3: syntax error"
    assert state.can_start  # `R` and `s` try again
    watching = state.watch_started()
    assert watching.watching and watching.error is not None
    assert watching.session_ended().phase is AppPhase.BROKEN
    assert watching.session_ended().loaded().phase is AppPhase.IDLE


def test_quitting_waits_for_the_session() -> None:
    state = AppState().loaded().run_started().quit_requested()
    assert state.phase is AppPhase.QUITTING and state.busy
    ended = state.session_ended()
    assert ended.phase is AppPhase.QUITTING and not ended.busy


def test_top_bar_idle_running_cancelling_and_broken() -> None:
    model = model_of("a", "b", "c")
    idle = AppState().loaded()
    assert topbar_text("p", idle, model, 0, PALETTE).plain == "pivot · p · 3 stages · 3 stale"
    model.apply(
        [
            RunStarted(run_id="r", stages=("a", "b", "c"), jobs=2, time=100.0),
            StageQueued(run_id="r", stage="a", reason="never run"),
            StageStarted(run_id="r", stage="a", time=100.0),
            StageFinished(run_id="r", stage="a", status=StageStatus.RAN, reason="", duration=4),
            StageStarted(run_id="r", stage="b", time=104.0),
        ]
    )
    running = idle.run_started()
    text = topbar_text("p", running, model, 110.0, PALETTE).plain
    assert text == "pivot · p · running 1/3 · 10.0s · ETA ~20.0s"
    assert "up to date" not in text
    cancelling = topbar_text("p", running.cancel_requested(), model, 110.0, PALETTE).plain
    assert cancelling.startswith("pivot · p · cancelling… 1/3")
    broken = topbar_text(
        "p", idle.load_failed("pipeline.py:1: syntax error"), model_of("a"), 0, PALETTE
    )
    assert broken.plain == "pivot · p · 1 stage · 1 stale · ✗ pipeline.py:1: syntax error"


def test_after_a_cancel_the_stale_stage_is_counted() -> None:
    model = model_of("a", "b")
    model.apply(
        [
            RunStarted(run_id="r", stages=("a", "b"), jobs=2),
            StageStarted(run_id="r", stage="a"),
            StageFinished(run_id="r", stage="a", status=StageStatus.RAN, reason="", duration=1),
            StageStarted(run_id="r", stage="b"),
            StageFinished(
                run_id="r", stage="b", status=StageStatus.CANCELLED, reason="", duration=1
            ),
        ]
    )
    model.apply_plan(
        [Decision("a", Action.SKIP, "up to date"), Decision("b", Action.RUN, "never run")]
    )
    assert model.summary() == "2 stages · 1 stale"
