"""Fingerprinting classes: class bodies and methods, factory-made classes, attached methods,
filled containers, and Pivot's own loader classes."""

from __future__ import annotations

import ast
import dataclasses
import sys
import types
from collections.abc import Callable, Mapping

from pivot.core.pipeline.fingerprint._classify import (
    Kind,
    module_path,
)
from pivot.core.pipeline.fingerprint._parse import (
    ParsedFile,
    is_literal,
)
from pivot.core.pipeline.fingerprint._walk_core import WalkerBase
from pivot.core.pipeline.fingerprint._walk_util import (
    _PIVOT_CLASSES,
    _REGISTRY_TYPES,
    _class_home,
    _Context,
    _Hint,
    unwrap,
)


class ClassesPart(WalkerBase):
    def _class_kind(self, cls: type) -> tuple[Kind, str]:
        if cls.__module__.partition(".")[0] == "pivot":
            return Kind.PIVOT, ""
        module = sys.modules.get(cls.__module__)
        if module is not None:
            return self.files.module_kind(module)
        filename, _ = _class_home(cls)
        return self.files.file_kind(filename) if filename else (Kind.OTHER, "")

    def _find_class(self, parsed: ParsedFile, cls: type) -> ast.ClassDef | None:
        candidates = parsed.classes_named(cls.__qualname__)
        if len(candidates) <= 1:
            return candidates[0] if candidates else None
        lines = [
            member.__code__.co_firstlineno
            for member in vars(cls).values()
            if isinstance(member, types.FunctionType)
        ]
        for node in reversed(candidates):
            end = node.end_lineno or node.lineno
            if any(node.lineno <= line <= end for line in lines):
                return node
        return candidates[-1]

    def _visit_class(self, cls: type) -> str:
        known = self._labels.get(id(cls))
        if known is not None:
            return known
        self._keepalive.append(cls)
        kind, rel = self._class_kind(cls)
        if kind is Kind.PIVOT:
            self._labels[id(cls)] = cls.__qualname__
            return cls.__qualname__
        label = f"{cls.__module__}.{cls.__qualname__}"
        self._labels[id(cls)] = label
        if kind is not Kind.PROJECT:
            self._record_pkg(cls.__module__)
            return label
        filename, namespace = _class_home(cls)
        if filename is None or namespace is None:
            return label
        parsed = self._parse(filename, rel, kind)
        if parsed is None:
            return label
        modpath = module_path(rel)
        node = self._find_class(parsed, cls)
        if node is None:
            made = self._factory_statement(parsed, cls, namespace)
            if made is None:
                self.warn(f"source of class {modpath}.{cls.__qualname__} not found")
                return label
            label = self._hash_factory_class(parsed, rel, made, cls, namespace, modpath)
            self._labels[id(cls)] = label
            for base in cls.__bases__:
                self.visit_value(base, _Hint())
            return label
        label = self._enqueue_class_node(parsed, rel, node, cls, namespace, modpath)
        self._labels[id(cls)] = label
        top = parsed.top_of(node)
        if top is not None:
            self._visit_enclosing(parsed, rel, top, namespace, modpath)
        for base in cls.__bases__:
            self.visit_value(base, _Hint())
        self._visit_attached(cls, parsed.class_body_names(node), f"{modpath}.{cls.__qualname__}")
        self._visit_filled_containers(cls, node, f"{modpath}.{cls.__qualname__}")
        return label

    def _visit_filled_containers(self, cls: type, node: ast.ClassDef, label: str) -> None:
        """Class-level containers that hold more than the class body wrote (a registry
        filled by a decorator, subclasses collected by ``__init_subclass__``): their contents
        are hashed, under ``const:<mod>.<Class>.<name>``."""
        written: dict[str, ast.expr] = {}
        for stmt in node.body:
            if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
                target, value = stmt.targets[0], stmt.value
            elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
                target, value = stmt.target, stmt.value
            else:
                continue
            if isinstance(target, ast.Name):
                written[target.id] = value
        for name, value in vars(cls).items():
            if name.startswith("__") and name.endswith("__"):
                continue  # what Python and frameworks keep on classes (pydantic's schema)
            if not isinstance(value, (dict, list, set, *_REGISTRY_TYPES)) or not value:
                continue
            source = written.get(name)
            if source is not None and is_literal(source):
                try:
                    if ast.literal_eval(source) == value:
                        continue  # exactly what the (already hashed) class body says
                except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                    pass
            self.visit_value(value, _Hint(f"{label}.{name}"))

    @staticmethod
    def _factory_statement(
        parsed: ParsedFile, cls: type, namespace: Mapping[str, object]
    ) -> ast.stmt | None:
        """The module-level statement that made a class without a ``class`` block
        (``namedtuple(...)``, ``Enum("Color", ...)``, ``type("X", ...)``, ``make_dataclass``):
        the binding of its name, or of whichever global holds it."""
        names = [cls.__qualname__]
        names += sorted(name for name, value in namespace.items() if value is cls)
        for name in names:
            stmt = parsed.binding(name)
            if isinstance(stmt, (ast.Assign, ast.AnnAssign)) and stmt.value is not None:
                return stmt
        return None

    def _hash_factory_class(
        self,
        parsed: ParsedFile,
        rel: str,
        stmt: ast.stmt,
        cls: type,
        namespace: Mapping[str, object],
        modpath: str,
    ) -> str:
        """Hash the statement that made ``cls`` and follow the names it uses."""
        key = self._claim(f"class:{modpath}.{cls.__qualname__}", (parsed.path, id(stmt)))
        if key in self.manifest:
            return key
        info = parsed.statement_info(stmt)
        self._set(key, *self._keyed(parsed, key, rel, [stmt], "statement:" + info.digest))
        context = _Context.of(parsed, rel, namespace, info.imports)
        self._resolve_info(context, info)
        return key

    def _visit_attached(self, cls: type, body_names: frozenset[str], label: str) -> None:
        """Functions set on a class after its definition (``Model.extra = _extra``): they are
        methods like the ones in the body. Methods generated by exec (dataclasses, named
        tuples) have no source file and follow from the class body, which is hashed."""
        for name, member in vars(cls).items():
            if name in body_names:
                continue
            inner = member.__func__ if isinstance(member, (staticmethod, classmethod)) else member
            if isinstance(inner, property):
                inner = inner.fget
            inner = unwrap(inner)
            if not isinstance(inner, types.FunctionType):
                continue
            if self.files.file_kind(inner.__code__.co_filename)[0] is not Kind.PROJECT:
                continue  # generated (dataclass __repr__ and the like) or not project code
            self.visit_value(member, _Hint(f"{label}.{name}"))

    def _enqueue_class_node(
        self,
        parsed: ParsedFile,
        rel: str,
        node: ast.ClassDef,
        cls: type | None,
        namespace: Mapping[str, object],
        modpath: str,
    ) -> str:
        existing = self._node_keys.get((parsed.path, id(node)))
        if existing is not None:
            return existing
        qualname = parsed.qualname(node) or node.name
        key = self._claim(f"class:{modpath}.{qualname}", (parsed.path, id(node)))
        self._node_keys[(parsed.path, id(node))] = key

        def method_key(name: str) -> str:
            return f"func:{modpath}.{qualname}.{name}"

        self._queue.append(
            lambda: self._process_class(parsed, rel, node, key, method_key, namespace, False)
        )
        return key

    def _visit_pivot_class(self, cls: type) -> None:
        """One of Pivot's own classes (a built-in loader): its code, under ``loader:`` keys.

        What a Pivot class contributes depends only on Pivot's source, so it is computed once
        per process (and again only if that file is re-parsed), not once per stage.
        """
        if id(cls) in self._pivot_classes:
            return
        self._pivot_classes.add(id(cls))
        module = sys.modules.get(cls.__module__)
        filename = getattr(module, "__file__", None)
        if module is None or not isinstance(filename, str):
            return
        kind, rel = self.files.file_kind(filename)
        parsed = self._parse(filename, rel, kind)
        if parsed is None:
            return
        cached = _PIVOT_CLASSES.get(id(cls))
        if cached is None or cached[0] is not cls or cached[1] is not parsed:
            node = self._find_class(parsed, cls)
            if node is None:
                return
            sub = type(self)(self.stage, self.files)  # the whole walker, whatever part this is
            key = f"loader:{cls.__qualname__}"
            sub._queue.append(
                lambda: sub._process_class(
                    parsed, rel, node, key, lambda name: f"{key}:{name}", vars(module), True
                )
            )
            sub.run()
            cached = (cls, parsed, dict(sub.manifest), dict(sub.sources))
            _PIVOT_CLASSES[id(cls)] = cached
        for original, value in cached[2].items():
            key = original
            if not original.startswith("pkg:"):
                key = self._claim(original, ("pivot-class", id(cls), original))
            record = cached[3].get(original)
            if record is not None and key != original:
                record = dataclasses.replace(record, key=key)
            self._set(key, value, record)

    def _process_class(
        self,
        parsed: ParsedFile,
        rel: str,
        node: ast.ClassDef,
        key: str,
        method_key: Callable[[str], str],
        namespace: Mapping[str, object],
        pkg_only: bool,
    ) -> None:
        info = parsed.class_info(node)
        self._set(key, *self._keyed(parsed, key, rel, [node], info.digest))
        context = _Context.of(parsed, rel, namespace, info.imports, pkg_only=pkg_only)
        self._resolve_info(context, info)
        groups: dict[str, list[ast.FunctionDef | ast.AsyncFunctionDef]] = {}
        for stmt in node.body:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                groups.setdefault(stmt.name, []).append(stmt)
        outer = parsed.class_body_names(node)
        for name, methods in groups.items():
            mkey = self._claim(method_key(name), (parsed.path, id(methods[0])))
            infos = [parsed.function_info(method, outer) for method in methods]
            payload = "|".join(item.digest for item in infos)
            self._set(mkey, *self._keyed(parsed, mkey, rel, methods, payload))
            for method, item in zip(methods, infos, strict=True):
                self._node_keys.setdefault((parsed.path, id(method)), mkey)
                method_context = _Context.of(
                    parsed, rel, namespace, item.imports, pkg_only=pkg_only
                )
                self._resolve_info(method_context, item)
