"""Fingerprinting functions: finding their source, closures, defaults, enclosing defs."""

from __future__ import annotations

import ast
import sys
import types
from collections.abc import Mapping

from pivot.core.pipeline.fingerprint._classify import (
    Kind,
    module_path,
)
from pivot.core.pipeline.fingerprint._parse import (
    FuncNode,
    ParsedFile,
    is_literal,
)
from pivot.core.pipeline.fingerprint._walk_core import WalkerBase
from pivot.core.pipeline.fingerprint._walk_util import (
    _closure_values,
    _Context,
    _Hint,
    _module_name,
    _wrapped,
)


class FunctionsPart(WalkerBase):
    def _find_function(self, parsed: ParsedFile, code: types.CodeType) -> FuncNode | None:
        candidates = parsed.functions_at(code.co_name, code.co_firstlineno)
        if len(candidates) <= 1:
            return candidates[0] if candidates else None
        # several lambdas on one line: pick the one whose span holds the code's positions
        positions = [
            (line, col)
            for line, _, col, end_col in code.co_positions()
            if line is not None and col is not None and (col, end_col) != (0, 0)
        ]

        def score(node: FuncNode) -> int:
            start = (node.lineno, node.col_offset)
            end = (node.end_lineno or node.lineno, node.end_col_offset or 0)
            return sum(1 for pos in positions if start <= pos <= end)

        return max(candidates, key=score)

    def _visit_function(self, fn: types.FunctionType, hint: _Hint) -> str:
        known = self._labels.get(id(fn))
        if known is not None:
            return known
        self._keepalive.append(fn)
        code = fn.__code__
        label = f"{_module_name(fn)}.{fn.__qualname__}"
        self._labels[id(fn)] = label
        inner = _wrapped(fn)
        if inner is not None:
            self.visit_value(inner, _Hint())
        registry = fn.__dict__.get("registry")
        if isinstance(registry, Mapping) and callable(fn.__dict__.get("dispatch")):
            # functools.singledispatch: every registered implementation may be called
            for implementation in list(registry.values()):
                if implementation is not inner:
                    self.visit_value(implementation, _Hint())
        kind, rel = self.files.file_kind(code.co_filename)
        if kind is Kind.PIVOT:
            return label
        if kind is not Kind.PROJECT:
            module = sys.modules.get(_module_name(fn))
            if (
                code.co_filename.startswith("<")
                and module is not None
                and self.files.module_kind(module)[0] is Kind.PROJECT
            ):
                self.warn(f"function {label} has no source file (created by exec?)")
                return label
            self._record_pkg(_module_name(fn))
            return label
        parsed = self._parse(code.co_filename, rel, kind)
        if parsed is None:
            return label
        modpath = module_path(rel)
        node = self._find_function(parsed, code)
        if node is None:
            self.warn(
                f"source of {modpath}.{code.co_qualname} not found (file changed since import?)",
                rel,
                code.co_firstlineno,
            )
            return label
        closure = _closure_values(fn)
        closure_label = hint.label if hint.label else f"{modpath}.{code.co_qualname}"
        top = parsed.top_of(node)
        if top is None:
            key = self._node_keys.get((parsed.path, id(node)))
            if key is None:
                if isinstance(node, ast.Lambda):
                    base = f"func:{hint.label}" if hint.label else f"func:{modpath}.<lambda>"
                else:
                    base = f"func:{modpath}.{parsed.qualname(node) or code.co_qualname}"
                key = self._claim(base, (parsed.path, id(node)))
                self._node_keys[(parsed.path, id(node))] = key
                self._enqueue_function(
                    parsed, rel, node, key, fn.__globals__, closure, closure_label
                )
            label = key
        else:
            self._visit_enclosing(parsed, rel, top, fn.__globals__, modpath)
            label = f"func:{modpath}.{code.co_qualname}"
        self._labels[id(fn)] = label
        self._visit_closure(closure, closure_label)
        self._visit_defaults(fn, node, closure_label)
        return label

    def _visit_closure(self, closure: Mapping[str, object], label: str) -> None:
        for name, value in closure.items():
            self.visit_value(value, _Hint(f"{label}.{name}", prefix="closure"))

    def _visit_defaults(self, fn: types.FunctionType, node: FuncNode, label: str) -> None:
        """Default values bound when the function was created (``lambda v, k=k: ...``): the
        source says ``k``, the value lives in ``__defaults__``/``__kwdefaults__``. Literal
        defaults are already in the hashed source and are not repeated."""
        args = node.args
        positional = [*args.posonlyargs, *args.args]
        values = fn.__defaults__ or ()
        pairs: list[tuple[str, ast.expr, object]] = []
        for arg, expr, value in zip(
            positional[len(positional) - len(args.defaults) :], args.defaults, values, strict=False
        ):
            pairs.append((arg.arg, expr, value))
        keyword_values = fn.__kwdefaults__ or {}
        for arg, default in zip(args.kwonlyargs, args.kw_defaults, strict=False):
            if default is not None and arg.arg in keyword_values:
                pairs.append((arg.arg, default, keyword_values[arg.arg]))
        for name, expr, value in pairs:
            if not is_literal(expr):
                self.visit_value(value, _Hint(f"{label}.{name}", prefix="default"))

    def _visit_enclosing(
        self,
        parsed: ParsedFile,
        rel: str,
        top: ast.stmt,
        namespace: Mapping[str, object],
        modpath: str,
    ) -> None:
        """A nested definition's source lives in its module-level definition: fingerprint that."""
        if isinstance(top, ast.ClassDef):
            self._read(parsed.path, top.name)
            live = namespace.get(top.name)
            if isinstance(live, type):
                self._visit_class(live)
            else:
                self._enqueue_class_node(parsed, rel, top, None, namespace, modpath)
            return
        if not isinstance(top, (ast.FunctionDef, ast.AsyncFunctionDef)):
            return
        key = self._node_keys.get((parsed.path, id(top)))
        if key is None:
            key = self._claim(f"func:{modpath}.{top.name}", (parsed.path, id(top)))
            self._node_keys[(parsed.path, id(top))] = key
            self._enqueue_function(parsed, rel, top, key, namespace, {}, key[5:])

    def _enqueue_function(
        self,
        parsed: ParsedFile,
        rel: str,
        node: FuncNode,
        key: str,
        namespace: Mapping[str, object],
        closure: Mapping[str, object],
        closure_label: str,
    ) -> None:
        def task() -> None:
            info = parsed.function_info(node, annotations=key.startswith("self:"))
            self._set(key, *self._keyed(parsed, key, rel, [node], info.digest))
            context = _Context.of(
                parsed,
                rel,
                namespace,
                info.imports,
                closure=closure,
                closure_label=closure_label,
            )
            self._resolve_info(context, info)

        self._queue.append(task)
