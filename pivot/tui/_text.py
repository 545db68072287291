"""Small text helpers shared by the panes (no Textual here: tested without a UI)."""

from __future__ import annotations


def format_duration(seconds: float | None) -> str:
    """``0.31s``, ``12.4s``, ``3m05s``, ``1h02m``; empty for None."""
    if seconds is None:
        return ""
    if seconds < 10:
        return f"{seconds:.2f}s"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def short_hash(digest: str | None) -> str:
    return digest[:8] if digest else "-"


def shorten(text: str, width: int) -> str:
    """Cut ``text`` to ``width`` cells with an ellipsis."""
    if width <= 0:
        return ""
    if len(text) <= width:
        return text
    return text[: max(width - 1, 0)] + "…"


def shorten_middle(text: str, width: int) -> str:
    """Cut ``text`` to ``width`` cells by eliding its middle: names that share a long prefix
    (``features_shard_01``, ``features_shard_02``) stay told apart by their tails."""
    if width <= 0:
        return ""
    if len(text) <= width:
        return text
    if width < 8:
        return shorten(text, width)
    head = (width - 1) // 3
    tail = width - 1 - head
    return text[:head] + "…" + text[len(text) - tail :]


def format_value(value: object, width: int = 60) -> str:
    """A one-line, bounded repr for params and change tables."""
    if value is None:
        return "∅"
    text = repr(value) if not isinstance(value, str) else value
    return shorten(" ".join(text.split()), width)
