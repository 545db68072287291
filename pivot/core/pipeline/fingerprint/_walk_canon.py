"""Canonical representations: the deterministic text a value is hashed from."""

from __future__ import annotations

import collections
import dataclasses
import enum
import functools
import re
import types
from collections.abc import Mapping, Sequence
from pathlib import PurePath
from typing import Any

from pivot.core.pipeline.fingerprint._classify import (
    Kind,
)
from pivot.core.pipeline.fingerprint._walk_core import WalkerBase
from pivot.core.pipeline.fingerprint._walk_util import (
    _CALLABLE_TYPES,
    _MAX_DEPTH,
    _REGISTRY_TYPES,
    _basic_value,
    _Hint,
    _is_pydantic_model,
    _NotCanonical,
    _root_pattern,
    _wrapped,
)


class CanonPart(WalkerBase):
    def _relativize(self, text: str) -> str:
        """``text`` with each path inside the project written from ``<project>``: only where
        the root is a whole path prefix (``/srv/proj-data`` is not inside ``/srv/proj``), so
        two clones at different places hash the same values."""
        if self.root not in text:
            return text
        return _root_pattern(self.root).sub("<project>", text)

    def _type_label(self, cls: type) -> str:
        return self.visit_value(cls, _Hint())

    def _canon_call_args(
        self, args: Sequence[object], keywords: Mapping[str, object], hint: _Hint
    ) -> str:
        parts = [self._canon(arg, hint, 1, set()) for arg in args]
        parts.extend(
            f"{name}={self._canon(keywords[name], hint, 1, set())}" for name in sorted(keywords)
        )
        return "(" + ", ".join(parts) + ")"

    def _canon(self, value: object, hint: _Hint, depth: int, active: set[int]) -> str:
        if depth > _MAX_DEPTH:
            raise _NotCanonical
        cls = type(value)
        if value is None or cls is bool:
            return repr(value)
        if cls is int:
            try:
                return repr(value)
            except ValueError:  # more digits than int→str conversion allows
                return hex(value)  # type: ignore[arg-type]
        if cls is float or cls is complex:
            return repr(value)
        if cls is str:
            return repr(self._relativize(value))  # type: ignore[arg-type]
        if cls is bytes:
            return repr(value)
        if cls is bytearray:
            return f"bytearray({bytes(value)!r})"  # type: ignore[call-overload]
        if value is Ellipsis or value is NotImplemented or cls is range:
            return repr(value)
        if cls in (tuple, list, dict, set, frozenset):
            if id(value) in active:
                raise _NotCanonical
            active.add(id(value))
            try:
                return self._canon_container(value, hint, depth, active)
            finally:
                active.discard(id(value))
        if cls in _REGISTRY_TYPES:
            if id(value) in active:
                raise _NotCanonical
            active.add(id(value))
            try:
                return self._canon_registry(value, hint, depth, active)
            finally:
                active.discard(id(value))
        if isinstance(value, enum.Enum):
            return f"{self._type_label(cls)}.{value.name}"
        if isinstance(value, PurePath):
            return f"Path({self._relativize(value.as_posix())!r})"
        if isinstance(value, re.Pattern):
            return f"re.compile({value.pattern!r}, {int(value.flags)})"
        if isinstance(value, functools.partial):
            func = self.visit_value(value.func, hint)
            return "partial<" + func + ">" + self._canon_call_args(value.args, value.keywords, hint)
        if (
            isinstance(
                value,
                (
                    types.FunctionType,
                    types.MethodType,
                    type,
                    types.ModuleType,
                    staticmethod,
                    classmethod,
                    *_CALLABLE_TYPES,
                ),
            )
            or _wrapped(value) is not None
        ):
            return f"<{self.visit_value(value, hint)}>"
        if id(value) in active:
            raise _NotCanonical
        active.add(id(value))
        try:
            return self._canon_object(value, hint, depth, active)
        finally:
            active.discard(id(value))

    def _canon_container(self, value: Any, hint: _Hint, depth: int, active: set[int]) -> str:
        def sub(item: object, suffix: str) -> str:
            return self._canon(
                item, _Hint(hint.label + suffix) if hint.label else hint, depth + 1, active
            )

        if isinstance(value, tuple):
            return "(" + "".join(sub(item, f"[{i}]") + ", " for i, item in enumerate(value)) + ")"
        if isinstance(value, list):
            return "[" + ", ".join(sub(item, f"[{i}]") for i, item in enumerate(value)) + "]"
        if isinstance(value, dict):
            entries = []
            for key, item in value.items():
                key_text = self._canon(key, _Hint(), depth + 1, active)
                entries.append((key_text, sub(item, f"[{key_text}]")))
            entries.sort()
            return "{" + ", ".join(f"{k}: {v}" for k, v in entries) + "}"
        items = sorted(sub(item, "{}") for item in value)
        name = "set" if isinstance(value, set) else "frozenset"
        return f"{name}({{" + ", ".join(items) + "})"

    def _canon_registry(self, value: Any, hint: _Hint, depth: int, active: set[int]) -> str:
        """The containers of ``collections`` that registries are built from: what was put in
        them at import time is part of the value (issue 20)."""
        name = type(value).__name__
        if isinstance(value, collections.deque):
            items = self._canon_container(list(value), hint, depth, active)
            return f"deque({items}, maxlen={value.maxlen!r})"
        if isinstance(value, collections.OrderedDict):  # the order is part of its meaning
            entries = [
                f"({self._canon(key, _Hint(), depth + 1, active)}, "
                f"{self._canon(item, _Hint(), depth + 1, active)})"
                for key, item in value.items()
            ]
            return f"OrderedDict([{', '.join(entries)}])"
        items = self._canon_container(dict(value), hint, depth, active)
        if isinstance(value, collections.defaultdict):
            factory = value.default_factory
            made = "None" if factory is None else self._canon(factory, _Hint(), depth + 1, active)
            return f"defaultdict({made}, {items})"
        return f"{name}({items})"

    def _canon_object(self, value: object, hint: _Hint, depth: int, active: set[int]) -> str:
        cls = type(value)

        def fields(names: Sequence[str]) -> str:
            parts = []
            for name in names:
                try:
                    item = getattr(value, name)
                except Exception as exc:
                    raise _NotCanonical from exc
                parts.append(f"{name}={self._canon(item, _Hint(), depth + 1, active)}")
            return f"{self._type_label(cls)}(" + ", ".join(parts) + ")"

        if dataclasses.is_dataclass(value):
            return fields([field.name for field in dataclasses.fields(value)])
        if _is_pydantic_model(cls):
            model_fields = getattr(cls, "model_fields", {})
            return fields(list(model_fields))
        if isinstance(value, tuple) and hasattr(cls, "_fields"):
            return fields(list(cls._fields))
        basic = _basic_value(value)
        if basic is not None:
            return f"{self._type_label(cls)}({self._canon(basic, hint, depth + 1, active)})"
        if self._class_kind(cls)[0] is Kind.PROJECT:
            try:
                state = object.__getattribute__(value, "__dict__")
            except AttributeError as exc:
                raise _NotCanonical from exc
            if isinstance(state, dict) and not getattr(cls, "__slots__", ()):
                return fields(sorted(k for k in state if isinstance(k, str)))
        raise _NotCanonical
