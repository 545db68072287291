"""Fingerprinting values: dispatch by kind, module-level constants, values without a repr."""

from __future__ import annotations

import ast
import dataclasses
import importlib
import importlib.util
import sys
import types

from pivot.core.pipeline.fingerprint._classify import (
    Kind,
)
from pivot.core.pipeline.fingerprint._model import (
    SourceRecord,
    digest,
)
from pivot.core.pipeline.fingerprint._parse import (
    is_literal,
)
from pivot.core.pipeline.fingerprint._walk_core import WalkerBase
from pivot.core.pipeline.fingerprint._walk_util import (
    _CALLABLE_TYPES,
    _MAX_VALUE_NESTING,
    _Context,
    _Hint,
    _module_name,
    _NotCanonical,
    _qualname,
    _wrapped,
)


class ValuesPart(WalkerBase):
    def visit_value(self, value: object, hint: _Hint) -> str:
        """Fingerprint whatever ``value`` is; returns the label canonical reprs refer to it by."""
        if self._nesting > _MAX_VALUE_NESTING:
            self.warn(f"{hint.label or _qualname(value)} is nested too deeply to fingerprint")
            return "<?>"
        self._nesting += 1
        try:
            return self._visit_value(value, hint)
        except RecursionError:
            self.warn(f"{hint.label or _qualname(value)} is nested too deeply to fingerprint")
            return "<?>"
        except Exception as exc:  # never let a weird object break fingerprinting
            self.warn(
                f"could not fingerprint {hint.label or _qualname(value)} "
                f"({type(exc).__name__}: {exc})"
            )
            return "<?>"
        finally:
            self._nesting -= 1

    def _visit_value(self, value: object, hint: _Hint) -> str:
        if isinstance(value, types.FunctionType):
            return self._visit_function(value, hint)
        if isinstance(value, type):
            return self._visit_class(value)
        if isinstance(value, types.ModuleType):
            return self._visit_module(value)
        if isinstance(value, types.MethodType):
            owner = value.__self__
            if isinstance(owner, type):
                self._visit_class(owner)
                return self.visit_value(value.__func__, hint)
            # a method bound to an instance (``scale = Scaler(3).apply``): the instance's
            # state is part of what the method does
            self._visit_class(type(owner))
            method = self.visit_value(value.__func__, hint)
            bound = (
                dataclasses.replace(hint, label=f"{hint.label}.__self__") if hint.label else _Hint()
            )
            return f"{method} of {self.visit_value(owner, bound)}"
        if isinstance(value, (staticmethod, classmethod)):
            return self.visit_value(value.__func__, hint)
        if isinstance(value, property):
            for accessor in (value.fget, value.fset, value.fdel):
                if accessor is not None:
                    self.visit_value(accessor, _Hint())
            return "<property>"
        if isinstance(value, _CALLABLE_TYPES):
            module = _module_name(value)
            self._record_pkg(module)
            return f"{module}.{_qualname(value)}"
        inner = _wrapped(value)
        if inner is not None:
            self._visit_class(type(value))
            return self.visit_value(inner, hint)
        try:
            text = self._canon(value, hint, 0, set())
        except _NotCanonical:
            return self._opaque(value, hint)
        if hint.label:
            self._record_value(hint, text)
        return text

    def _record_value(self, hint: _Hint, text: str) -> None:
        key = self._claim(f"{hint.prefix}:{hint.label}", ("value", text))
        record: SourceRecord | None = None
        stmt = hint.parsed.binding(hint.name) if hint.parsed is not None and hint.name else None
        if hint.parsed is not None and stmt is not None:
            start, _, source = hint.parsed.segment(stmt)
            value_node = getattr(stmt, "value", None)
            if not (isinstance(value_node, ast.expr) and is_literal(value_node)):
                shown = text if len(text) <= 500 else text[:500] + "..."
                source += f"# value: {shown}\n"
            record = SourceRecord(key, hint.rel, start, source)
        else:
            name = hint.label.rpartition(".")[2] or hint.label
            record = SourceRecord(key, "", 0, f"{name} = {text}\n")
        self._set(key, digest(key, text), record)
        self._value_sources(hint, stmt)

    def _value_sources(self, hint: _Hint, stmt: ast.stmt | None) -> None:
        """The project modules a module-level value was computed from (``LIMIT = consts.N *
        10``, or a name from ``from consts import *``): the value is hashed, but a cached
        fingerprint must also be recomputed when those files change."""
        if hint.parsed is None or hint.namespace is None or not hint.name:
            return
        if stmt is not None:
            for ref in hint.parsed.statement_info(stmt).refs:
                self._depend_on_module_of(hint.namespace.get(ref.root))
            return
        for node in hint.parsed.tree.body:  # not bound in the file: maybe by a star import
            if isinstance(node, ast.ImportFrom) and any(a.name == "*" for a in node.names):
                try:
                    name = importlib.util.resolve_name(
                        "." * node.level + (node.module or ""), hint.package or ""
                    )
                except (ImportError, ValueError):
                    continue
                self._depend_on_module_of(sys.modules.get(name))

    def _depend_on_module_of(self, value: object) -> None:
        module = value if isinstance(value, types.ModuleType) else None
        if module is None and isinstance(value, (types.FunctionType, type)):
            module = sys.modules.get(value.__module__)
        if module is None:
            return
        kind, rel = self.files.module_kind(module)
        filename = getattr(module, "__file__", None)
        if kind is Kind.PROJECT and isinstance(filename, str):
            parsed = self._parse(filename, rel, kind)
            if parsed is not None:
                self._whole.add(parsed.path)

    def _opaque(self, value: object, hint: _Hint) -> str:
        """A value without a canonical repr: hash the statement that created it, if any."""
        cls = type(value)
        label = self._visit_class(cls)
        stmt = hint.parsed.binding(hint.name) if hint.parsed is not None and hint.name else None
        if (
            hint.parsed is not None
            and stmt is not None
            and hint.namespace is not None
            and not isinstance(stmt, (ast.Import, ast.ImportFrom))
        ):
            parsed = hint.parsed
            info = parsed.statement_info(stmt)
            key = self._claim(f"{hint.prefix}:{hint.label}", (parsed.path, id(stmt)))
            if key not in self.manifest:
                self._set(
                    key, *self._keyed(parsed, key, hint.rel, [stmt], "statement:" + info.digest)
                )
                context = _Context.of(parsed, hint.rel, hint.namespace, info.imports)
                self._resolve_info(context, info)
            return f"<{label} instance>"
        kind, _ = self._class_kind(cls)
        if kind is Kind.PROJECT and hint.label:
            self.warn(
                f"value of {hint.label} ({cls.__qualname__}) has no stable representation "
                "and no source statement; changes to it are not detected"
            )
        return f"<{label} instance>"
