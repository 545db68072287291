"""Checking a method's named params: every bad one is an INVALID_PARAMS error naming it."""

from __future__ import annotations

from typing import Any

from pivot.core.serve._rpc import INVALID_PARAMS
from pivot.exceptions import RpcError


class Params:
    """Reads typed values out of a request's params; :meth:`done` refuses unknown names."""

    def __init__(self, method: str, params: dict[str, Any]) -> None:
        self.method = method
        self._params = params
        self._read: set[str] = set()

    def _get(self, name: str, required: bool) -> Any:
        self._read.add(name)
        if name not in self._params or self._params[name] is None:
            if required:
                raise self._bad(f"missing param '{name}'")
            return None
        return self._params[name]

    def _bad(self, text: str) -> RpcError:
        return RpcError(INVALID_PARAMS, f"{self.method}: {text}")

    def string(self, name: str, *, required: bool = False, default: str | None = None) -> Any:
        value = self._get(name, required)
        if value is None:
            return default
        if not isinstance(value, str) or not value:
            raise self._bad(f"'{name}' must be a non-empty string")
        return value

    def strings(self, name: str) -> tuple[str, ...]:
        value = self._get(name, False)
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self._bad(f"'{name}' must be a list of non-empty strings")
        return tuple(value)

    def flag(self, name: str) -> bool:
        value = self._get(name, False)
        if value is None:
            return False
        if not isinstance(value, bool):
            raise self._bad(f"'{name}' must be true or false")
        return value

    def integer(
        self, name: str, *, default: int, minimum: int = 0, maximum: int | None = None
    ) -> int:
        value = self._get(name, False)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self._bad(f"'{name}' must be an integer >= {minimum}")
        if maximum is not None and value > maximum:
            raise self._bad(f"'{name}' must be at most {maximum}")
        return value

    def done(self) -> None:
        """Refuse names the method does not take (a typo must not pass silently)."""
        unknown = sorted(set(self._params) - self._read)
        if unknown:
            known = ", ".join(sorted(self._read)) or "none"
            raise self._bad(f"unknown param '{unknown[0]}' (takes: {known})")
