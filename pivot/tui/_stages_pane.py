"""The stage pane: the stage list and its filter box, titled with what the filter shows."""

from __future__ import annotations

from collections.abc import Callable

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Input

from pivot.tui._inputs import EscInput
from pivot.tui._model import PipelineModel
from pivot.tui._stage_list import StageList

__all__ = ["StagesPane"]


class StagesPane(Vertical):
    """``/`` in the list opens the filter box; Enter keeps the filter, Esc clears it.

    ``/`` is a priority binding of the pane: the app runs those before it hands the key to a
    widget, so the box has focus before the keys that came with ``/`` (a fast typist, a paste)
    are handed out, and they are typed into it.
    """

    BINDINGS = [Binding("slash", "filter", "Filter", priority=True)]

    def __init__(self, model: PipelineModel, clock: Callable[[], float], *, id: str) -> None:
        super().__init__(id=id)
        self._model = model
        self._clock = clock
        self.border_title = "Stages"

    def compose(self) -> ComposeResult:
        yield EscInput(placeholder="filter stages (Esc clears)", id="filter")
        yield StageList(self._model, self._clock, id="stages")

    @property
    def stage_list(self) -> StageList:
        return self.query_one(StageList)

    @property
    def _box(self) -> EscInput:
        return self.query_one("#filter", EscInput)

    def set_model(self, model: PipelineModel) -> None:
        self._model = model
        self.stage_list.set_model(model)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "filter":
            return not self._box.has_focus  # in the box, `/` is typed
        return True

    def action_filter(self) -> None:
        self._box.value = self.stage_list.filter_text
        self._box.show()

    @on(StageList.FilterCleared)
    def _on_filter_cleared(self) -> None:
        self._box.value = ""
        self._box.hide()
        self._update_title()

    @on(Input.Changed, "#filter")
    def _on_filter_changed(self, event: Input.Changed) -> None:
        if isinstance(event, EscInput.Left):
            return
        self.stage_list.apply_filter(event.value)
        self._update_title()

    @on(Input.Submitted, "#filter")
    def _on_filter_submitted(self, event: Input.Submitted) -> None:
        if not event.value:
            self._box.hide()
        self.stage_list.focus()

    @on(EscInput.Left, "#filter")
    def _on_filter_left(self, event: EscInput.Left) -> None:
        event.input.value = ""
        self._box.hide()
        self.stage_list.apply_filter("")
        self._update_title()
        self.stage_list.focus()

    def _update_title(self) -> None:
        """The title says when a filter hides stages, and how many it shows."""
        query = self.stage_list.filter_text
        if query:
            shown = len(self.stage_list.rows)
            self.border_title = f"Stages · {shown}/{len(self._model.order)} match {query!r}"
        else:
            self.border_title = "Stages"
