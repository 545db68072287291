"""Command palette (Ctrl+P): the app's actions, plus "Go to stage …" for every stage."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

from textual.command import DiscoveryHit, Hit, Hits, Provider


@dataclasses.dataclass(frozen=True)
class PaletteCommand:
    title: str
    help: str
    run: Callable[[], object]


@runtime_checkable
class HasPaletteCommands(Protocol):
    def palette_commands(self) -> list[PaletteCommand]: ...

    def palette_stages(self) -> list[str]: ...

    def select_stage(self, name: str) -> None: ...


class PivotCommands(Provider):
    """Offers exactly the actions that apply now (the same ones the footer shows)."""

    def _commands(self) -> list[PaletteCommand]:
        app = self.app
        if not isinstance(app, HasPaletteCommands):
            return []
        commands = list(app.palette_commands())
        for name in app.palette_stages():
            commands.append(
                PaletteCommand(
                    f"Go to stage {name}",
                    "select it in the stage pane",
                    lambda name=name: app.select_stage(name),  # type: ignore[misc]
                )
            )
        return commands

    async def discover(self) -> Hits:
        for command in self._commands():
            if not command.title.startswith("Go to stage"):
                yield DiscoveryHit(command.title, command.run, help=command.help)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for command in self._commands():
            score = matcher.match(command.title)
            if score > 0:
                yield Hit(score, matcher.highlight(command.title), command.run, help=command.help)


class _ActionApp(Protocol):
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None: ...

    def action_show_tab(self, tab: str) -> None: ...


def action_commands(
    app: _ActionApp, actions: dict[str, tuple[str, str]], tabs: Sequence[str]
) -> list[PaletteCommand]:
    """The palette entries for ``actions`` that apply now, and one per detail tab."""
    commands = [
        PaletteCommand(title, help_text, getattr(app, f"action_{action}"))
        for action, (title, help_text) in actions.items()
        if app.check_action(action, ())
    ]
    for number, tab in enumerate(tabs, start=1):
        commands.append(
            PaletteCommand(
                f"Show {tab.capitalize()} tab",
                f"({number})",
                functools.partial(app.action_show_tab, tab),
            )
        )
    return commands
