"""Whether watch mode can be offered (``w``). Watch mode itself is ``pivot.core.run.watch``."""

from __future__ import annotations

import importlib.util


def watch_available() -> tuple[bool, str]:
    """(available, why not)."""
    try:
        if importlib.util.find_spec("pivot.core.run.watch") is None:
            return False, "this build has no watch engine (pivot.core.run.watch)"
        if importlib.util.find_spec("watchfiles") is None:
            return False, "the watchfiles package is not installed"
    except (ImportError, ValueError) as exc:
        return False, str(exc)
    return True, ""
