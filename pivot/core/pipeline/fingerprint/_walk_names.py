"""Following names: modules, globals, imports inside functions, dynamic lookups."""

from __future__ import annotations

import ast
import builtins
import importlib
import importlib.util
import os
import sys
import types
from collections.abc import Mapping, Sequence

from pivot.core.pipeline.fingerprint._classify import (
    Kind,
    is_stdlib,
    module_path,
)
from pivot.core.pipeline.fingerprint._parse import (
    DynamicCall,
    LocalImport,
    NodeInfo,
    ParsedFile,
    Ref,
)
from pivot.core.pipeline.fingerprint._walk_core import WalkerBase
from pivot.core.pipeline.fingerprint._walk_util import (
    _BUILTIN_DYNAMIC,
    _CALLABLE_TYPES,
    _DYNAMIC_TEXT,
    _MISSING,
    _Context,
    _Hint,
    _module_name,
    _package_of,
)


class NamesPart(WalkerBase):
    def _visit_module(self, module: types.ModuleType) -> str:
        known = self._labels.get(id(module))
        if known is not None:
            return known
        self._keepalive.append(module)
        label = f"module {module.__name__}"
        self._labels[id(module)] = label
        kind, rel = self.files.module_kind(module)
        if kind is Kind.PIVOT:
            return label
        if kind is not Kind.PROJECT:
            self._record_pkg(module.__name__)
            return label
        filename = getattr(module, "__file__", None)
        if not isinstance(filename, str):
            return label  # a namespace package has no code of its own
        parsed = self._parse(filename, rel, kind)
        if parsed is None:
            return label
        key = self._claim(f"mod:{module_path(rel)}", (parsed.path, "module"))
        self._labels[id(module)] = key
        namespace = vars(module)

        def task() -> None:
            info = parsed.module_info()
            self._set(key, *self._keyed(parsed, key, rel, [parsed.tree], info.digest))
            context = _Context.of(parsed, rel, namespace, info.imports)
            self._resolve_info(context, info)

        self._queue.append(task)
        return key

    def _module_name_kind(self, name: str) -> Kind:
        """Whether a module (maybe not imported yet) is project code, without importing it."""
        known = self._module_kinds.get(name)
        if known is not None:
            return known
        kind = Kind.OTHER
        module = sys.modules.get(name)
        if module is not None:
            kind = self.files.module_kind(module)[0]
        else:
            top = name.partition(".")[0]
            if top in sys.modules:
                kind = self.files.module_kind(sys.modules[top])[0]
            else:
                try:
                    spec = importlib.util.find_spec(top)
                except (ImportError, ValueError):
                    spec = None
                if spec is not None:
                    if spec.origin and spec.origin not in ("built-in", "frozen"):
                        kind = self.files.file_kind(spec.origin)[0]
                    for location in spec.submodule_search_locations or ():
                        if (
                            self.files.file_kind(os.path.join(location, "__init__.py"))[0]
                            is Kind.PROJECT
                        ):
                            kind = Kind.PROJECT
        self._module_kinds[name] = kind
        return kind

    def _resolve_info(self, context: _Context, info: NodeInfo) -> None:
        for ref in info.refs:
            self._resolve_ref(context, ref)
        for call in info.dynamic:
            self._check_dynamic(context, call)

    def _home(
        self,
        parsed: ParsedFile,
        rel: str,
        name: str,
        namespace: Mapping[str, object],
        package: str | None,
    ) -> _Hint:
        """Where a module-level name is defined, following ``from m import name`` re-exports."""
        for _ in range(8):
            self._read(parsed.path, name)
            stmt = parsed.binding(name)
            if not isinstance(stmt, ast.ImportFrom):
                break
            alias = next((a for a in stmt.names if (a.asname or a.name) == name), None)
            if alias is None:
                break
            try:
                target = importlib.util.resolve_name(
                    "." * stmt.level + (stmt.module or ""), package or ""
                )
            except (ImportError, ValueError):
                break
            module = sys.modules.get(target)
            if module is None:
                break
            kind, target_rel = self.files.module_kind(module)
            filename = getattr(module, "__file__", None)
            if kind is not Kind.PROJECT or not isinstance(filename, str):
                break
            target_parsed = self._parse(filename, target_rel, kind)
            if target_parsed is None:
                break
            parsed, rel, name = target_parsed, target_rel, alias.name
            namespace = vars(module)
            package = _package_of(namespace)
        return _Hint(f"{module_path(rel)}.{name}", "const", parsed, rel, name, namespace, package)

    def _resolve_ref(self, context: _Context, ref: Ref) -> None:
        root = ref.root
        self._read(context.parsed.path, root)
        value: object
        imported = context.imports.get(root)
        if imported is not None:
            value, hint = self._resolve_import(context, imported)
            if value is _MISSING:
                return
        elif root in context.closure:
            value = context.closure[root]
            hint = _Hint(f"{context.closure_label}.{root}", prefix="closure")
        elif root in context.namespace:
            value = context.namespace[root]
            hint = self._home(context.parsed, context.rel, root, context.namespace, context.package)
        else:
            return  # a builtin, or a name that would fail at run time anyway
        if context.pkg_only:
            self._record_pkg_of(value)
            return
        if (
            ref.annotation
            and not isinstance(value, type)
            and not isinstance(value, types.ModuleType)
        ):
            return  # a type alias (list[float], Optional[X]) in a helper's annotation
        self._follow(value, ref.attrs, hint)

    def _record_pkg_of(self, value: object) -> None:
        """Record the distribution a value comes from, if it is not project code."""
        if isinstance(value, types.ModuleType):
            if self.files.module_kind(value)[0] is Kind.OTHER:
                self._record_pkg(value.__name__)
            return
        if isinstance(value, (types.FunctionType, type, *_CALLABLE_TYPES)):
            module = sys.modules.get(_module_name(value))
            if module is None or self.files.module_kind(module)[0] is Kind.OTHER:
                self._record_pkg(_module_name(value))

    def _follow(self, value: object, attrs: Sequence[str], hint: _Hint) -> None:
        for attr in attrs:
            if not isinstance(value, types.ModuleType):
                break
            kind, rel = self.files.module_kind(value)
            if kind is not Kind.PROJECT:
                break
            filename = getattr(value, "__file__", None)
            if isinstance(filename, str):
                self._read(filename, attr)
            try:
                nxt = getattr(value, attr, _MISSING)
            except Exception:
                nxt = _MISSING
            if nxt is _MISSING:
                return  # would raise AttributeError at run time
            parsed = self._parse(filename, rel, kind) if isinstance(filename, str) else None
            if parsed is not None:
                namespace = vars(value)
                hint = self._home(parsed, rel, attr, namespace, _package_of(namespace))
            else:
                hint = _Hint(f"{module_path(rel) if rel else value.__name__}.{attr}")
            value = nxt
        self.visit_value(value, hint)

    def _resolve_import(self, context: _Context, imported: LocalImport) -> tuple[object, _Hint]:
        """What an import inside a function refers to; third-party modules are not imported."""
        if imported.level:
            if not context.package:
                self.warn("relative import without a package", context.rel, imported.line)
                return _MISSING, _Hint()
            try:
                base = importlib.util.resolve_name(
                    "." * imported.level + imported.module, context.package
                )
            except (ImportError, ValueError):
                return _MISSING, _Hint()
        else:
            base = imported.module
        if is_stdlib(base) or base.partition(".")[0] == "pivot":
            return _MISSING, _Hint()
        if self._module_name_kind(base) is not Kind.PROJECT:
            self._record_pkg(base)
            return _MISSING, _Hint()
        try:
            module = importlib.import_module(base)
        except Exception as exc:
            self.warn(
                f"cannot import {base} ({type(exc).__name__}: {exc})", context.rel, imported.line
            )
            return _MISSING, _Hint()
        if imported.attr is None:
            if imported.binds_top:
                top = sys.modules.get(base.partition(".")[0], _MISSING)
                return top, _Hint()
            return module, _Hint()
        module_file = getattr(module, "__file__", None)
        if isinstance(module_file, str):
            self._read(module_file, imported.attr)
        value = getattr(module, imported.attr, _MISSING)
        if value is _MISSING:
            try:
                value = importlib.import_module(f"{base}.{imported.attr}")
            except Exception:
                return _MISSING, _Hint()
        kind, rel = self.files.module_kind(module)
        filename = getattr(module, "__file__", None)
        parsed = self._parse(filename, rel, kind) if isinstance(filename, str) else None
        if parsed is None:
            return value, _Hint(f"{base}.{imported.attr}")
        namespace = vars(module)
        return value, self._home(parsed, rel, imported.attr, namespace, _package_of(namespace))

    def _peek(self, context: _Context, ref: Ref) -> object:
        """The object a name chain refers to, without fingerprinting anything."""
        root = ref.root
        value: object
        imported = context.imports.get(root)
        if imported is not None:
            if imported.level:
                return _MISSING
            if imported.attr is None:
                name = imported.module.partition(".")[0] if imported.binds_top else imported.module
                value = sys.modules.get(name, _MISSING)
            else:
                module = sys.modules.get(imported.module)
                value = getattr(module, imported.attr, _MISSING) if module else _MISSING
        elif root in context.closure:
            value = context.closure[root]
        elif root in context.namespace:
            self._read(context.parsed.path, root)
            value = context.namespace[root]
        else:
            self._read(context.parsed.path, root)
            value = getattr(builtins, root, _MISSING)
        for attr in ref.attrs:
            if value is _MISSING:
                break
            try:
                value = getattr(value, attr, _MISSING)
            except Exception:
                return _MISSING
        return value

    def _check_dynamic(self, context: _Context, call: DynamicCall) -> None:
        if context.pkg_only:
            return
        callee = self._peek(context, call.callee)
        expected = _BUILTIN_DYNAMIC[call.kind]
        if callee is not _MISSING and callee is not expected:
            # a function of the user's that happens to share the name
            if call.kind == "getattr" and call.constant is not None and call.target is not None:
                self._resolve_ref(context, call.target)  # the collector left it to us
            return
        text = _DYNAMIC_TEXT[call.kind]
        if call.kind == "getattr":
            if call.constant is not None:
                if call.target is not None:
                    attrs = (*call.target.attrs, call.constant)
                    self._resolve_ref(context, Ref(call.target.root, attrs, call.line))
                return
            self.warn(text, context.rel, call.line)
            if call.target is not None:
                target = self._peek(context, call.target)
                if isinstance(target, types.ModuleType):
                    self.visit_value(target, _Hint())  # best effort: the whole module
            return
        if call.kind in ("globals", "vars"):
            self.warn(text, context.rel, call.line)
            if call.kind == "globals":
                target = sys.modules.get(str(context.namespace.get("__name__", "")), _MISSING)
            else:
                target = self._peek(context, call.target) if call.target is not None else None
            if isinstance(target, types.ModuleType):
                self.visit_value(target, _Hint())  # best effort: the whole module
            return
        if call.kind in ("import_module", "__import__") and call.constant is not None:
            name = call.constant
            if name.startswith("."):
                return
            if self._module_name_kind(name) is Kind.PROJECT:
                try:
                    module = importlib.import_module(name)
                except Exception as exc:
                    self.warn(
                        f"cannot import {name} ({type(exc).__name__})", context.rel, call.line
                    )
                    return
                self.visit_value(module, _Hint())
            else:
                self._record_pkg(name)
            return
        self.warn(text, context.rel, call.line)
