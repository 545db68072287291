"""State shared by all commands: global flags and lazily created project and console."""

from __future__ import annotations

import dataclasses
import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

    from pivot.core.project import Project


@dataclasses.dataclass
class CliContext:
    no_tui: bool = False
    verbose: int = 0
    quiet: bool = False

    @property
    def interactive(self) -> bool:
        """True when the TUI may open: a terminal, no --no-tui, not CI."""
        return not self.no_tui and sys.stdout.isatty() and not os.environ.get("CI")

    def project(self) -> Project:
        from pivot.core.project import Project

        return Project.discover()

    def console(self, *, stderr: bool = False) -> Console:
        from rich.console import Console

        plain = self.no_tui or not sys.stdout.isatty()
        return Console(
            stderr=stderr,
            highlight=False,
            soft_wrap=plain,
            no_color=plain and not os.environ.get("FORCE_COLOR"),
        )
