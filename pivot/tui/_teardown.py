"""Handlers that may run while the app is shutting down."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from textual.app import ScreenStackError
from textual.css.query import NoMatches

__all__ = ["during_teardown_ignored"]


class _Closable(Protocol):
    _shutting_down: bool

    @property
    def is_running(self) -> bool: ...


_Handler = TypeVar("_Handler", bound=Callable[..., Any])


def during_teardown_ignored(handler: _Handler) -> _Handler:
    """Worker messages and key events can still be queued while the app shuts down and its
    widgets are gone; handling them then is pointless, not an error."""

    @functools.wraps(handler)
    def wrapper(self: _Closable, *args: Any, **kwargs: Any) -> Any:
        if self._shutting_down:
            return None
        try:
            return handler(self, *args, **kwargs)
        except (NoMatches, ScreenStackError):
            if self.is_running and not self._shutting_down:
                raise
            return None

    return wrapper  # type: ignore[return-value]
