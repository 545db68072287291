"""Small input widgets shared by the panes."""

from __future__ import annotations

from textual.binding import Binding
from textual.widgets import Input


class EscInput(Input):
    """An Input that Esc leaves (Textual's Input ignores Esc).

    It takes focus only while shown: a hidden filter box must never swallow keys typed
    before the app has finished starting (Textual focuses the first focusable widget while
    the screen is still being composed, before CSS has hidden it).
    """

    BINDINGS = [Binding("escape", "leave", "Close", show=False)]

    class Left(Input.Changed):
        pass

    def __init__(self, *, placeholder: str, id: str) -> None:
        super().__init__(placeholder=placeholder, id=id)
        self.can_focus = False

    def show(self) -> None:
        self.can_focus = True
        self.add_class("-shown")
        # At once, not after a refresh as ``focus()`` does: the keys that came with the one
        # that opened the box (a fast typist, a paste) must be handed to the box.
        self.screen.set_focus(self)

    def hide(self) -> None:
        self.can_focus = False
        self.remove_class("-shown")

    def action_leave(self) -> None:
        self.post_message(self.Left(self, self.value))
