"""Pivot's terminal app (Textual).

Only the CLI imports this package, and only when the app will really open: ``--no-tui``, a
non-TTY stdout or ``CI`` never import Textual (``tests/tui/test_imports.py`` checks it). The
app consumes engine events and calls engine methods; see ``docs/tui.md``.
"""

from pivot.tui._app import MIN_HEIGHT, MIN_WIDTH, PivotApp
from pivot.tui._datadiff_screen import DataDiffApp, DataDiffScreen, DiffTarget

__all__ = ["MIN_HEIGHT", "MIN_WIDTH", "DataDiffApp", "DataDiffScreen", "DiffTarget", "PivotApp"]
