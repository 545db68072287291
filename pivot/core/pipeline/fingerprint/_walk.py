"""Walking from a stage function to everything its code reaches, and hashing each piece.

The walk combines the *live* objects (the function, its ``__globals__`` and ``__closure__``,
imported modules, class ``__bases__``) with the *source* of each definition (see ``_parse``):
the source says which names a definition reads, the live objects say what those names are.

Manifest keys (flat, stable, human-readable; ``<mod>`` is the file's path relative to the
project root in dotted form, ``pkg/sub.py`` → ``pkg.sub``, never the name it was imported as):

==========================================  =======================================================
``self:<qualname>``                         the stage function itself (unwrapped from decorators)
``self:<qualname>:args``                    bound arguments when the stage is a functools.partial
``func:<mod>.<qualname>``                   a function, or a method group (``func:m.Model.fit``)
``func:<mod>.<name>``                       a module-level lambda, named by the global or container
                                            slot it was reached through (``func:m.OPS['add']``)
``class:<mod>.<qualname>``                  a class body without its methods (bases, decorators,
                                            attributes, pydantic/dataclass field defaults)
``const:<mod>.<name>``                      a module-level value read by reached code, hashed from a
                                            canonical repr (dispatch tables and partials included),
                                            named after the module that *defines* it
``closure:<mod>.<qualname-or-name>.<var>``  a value captured in a closure cell
``default:<mod>.<qualname-or-name>.<arg>``  a non-literal default value bound at creation
``mod:<mod>``                               a whole project module used as an object (``run(helpers)``,
                                            ``import_module("helpers")``)
``loader:<Class>`` / ``loader:<Class>:<m>`` code of one of Pivot's own loader classes and methods
``loader-config:<Class>``                   field values of the loader instances of that class used
``pkg:<distribution>``                      installed version of a third-party distribution (the value
                                            is the version string, not a hash)
==========================================  =======================================================

Classes of the project (including custom loaders and params models) always use ``class:``/
``func:`` keys, however they are reached, so one piece of code has one key. A key that would
name two different things (two lambdas reached through the same slot, two closures of one
factory) gets a ``#2`` suffix, in deterministic walk order.

Every hashed string is built from names, normalized trees and canonical reprs: never ``id()``,
memory addresses, set iteration order or absolute paths (project paths inside string values
are rewritten to ``<project>/...``).
"""

from __future__ import annotations

import ast
import builtins
import collections
import dataclasses
import enum
import functools
import importlib
import importlib.util
import os
import re
import sys
import types
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from pathlib import PurePath
from typing import Any

from pivot.core.pipeline.fingerprint._classify import (
    Kind,
    ProjectFiles,
    distributions_of,
    is_stdlib,
    module_path,
)
from pivot.core.pipeline.fingerprint._deps import statement_index, statement_names
from pivot.core.pipeline.fingerprint._model import (
    CodeFingerprint,
    FileStat,
    NameDep,
    SourceRecord,
    digest,
)
from pivot.core.pipeline.fingerprint._parse import (
    DynamicCall,
    FuncNode,
    LocalImport,
    NodeInfo,
    ParsedFile,
    Ref,
    is_literal,
    load_file,
)

_MISSING: Any = object()
#: Containers of ``collections`` hashed by content, like dict and list.
_REGISTRY_TYPES = (
    collections.defaultdict,
    collections.OrderedDict,
    collections.Counter,
    collections.deque,
)
#: Folders that hold installed packages (versioned by their distribution's metadata).
_INSTALLED_DIRS = frozenset({"site-packages", "dist-packages"})
_MAX_DEPTH = 40
_MAX_VALUE_NESTING = 200

_BUILTIN_DYNAMIC: dict[str, object] = {
    "getattr": builtins.getattr,
    "eval": builtins.eval,
    "exec": builtins.exec,
    "__import__": builtins.__import__,
    "import_module": importlib.import_module,
    "globals": builtins.globals,
    "vars": builtins.vars,
}
_DYNAMIC_TEXT = {
    "getattr": "getattr with computed name",
    "eval": "eval of dynamic code",
    "exec": "exec of dynamic code",
    "import_module": "importlib.import_module with computed name",
    "__import__": "__import__ with computed name",
    "globals": "globals() lookup with computed key",
    "vars": "vars() lookup with computed key",
}
_CALLABLE_TYPES = (
    types.BuiltinFunctionType,
    types.BuiltinMethodType,
    types.WrapperDescriptorType,
    types.MethodWrapperType,
    types.MethodDescriptorType,
    types.ClassMethodDescriptorType,
)


class _NotCanonical(Exception):
    """A value has no deterministic representation."""


@dataclasses.dataclass(frozen=True, slots=True)
class _Hint:
    """Where a value was found: names its key, and locates its defining statement."""

    label: str = ""
    prefix: str = "const"
    parsed: ParsedFile | None = None
    rel: str = ""
    name: str = ""
    namespace: Mapping[str, object] | None = None
    package: str | None = None


@dataclasses.dataclass(slots=True)
class _Context:
    """How names read by one definition resolve."""

    parsed: ParsedFile
    rel: str
    modpath: str
    namespace: Mapping[str, object]
    closure: Mapping[str, object]
    closure_label: str
    imports: dict[str, LocalImport]
    package: str | None
    #: Resolving references of Pivot's own code: only third-party versions are recorded.
    pkg_only: bool = False


def _package_of(namespace: Mapping[str, object]) -> str | None:
    package = namespace.get("__package__")
    if isinstance(package, str):
        return package
    spec = namespace.get("__spec__")
    parent = getattr(spec, "parent", None)
    return parent if isinstance(parent, str) else None


def _closure_values(fn: types.FunctionType) -> dict[str, object]:
    values: dict[str, object] = {}
    cells = fn.__closure__ or ()
    for name, cell in zip(fn.__code__.co_freevars, cells, strict=False):
        if name == "__class__":
            continue
        try:
            values[name] = cell.cell_contents
        except ValueError:  # an empty cell: the variable is not assigned yet
            continue
    return values


def _wrapped(value: object) -> object | None:
    """``__wrapped__`` set by functools.wraps/update_wrapper, read without triggering __getattr__."""
    try:
        namespace = object.__getattribute__(value, "__dict__")
    except AttributeError:
        return None
    if not isinstance(namespace, dict):
        return None
    inner = namespace.get("__wrapped__")
    return None if inner is None or inner is value else inner


def unwrap(func: object) -> object:
    for _ in range(100):
        inner = _wrapped(func)
        if inner is None:
            break
        func = inner
    return func


def _qualname(value: object) -> str:
    name = getattr(value, "__qualname__", None) or getattr(value, "__name__", None)
    return name if isinstance(name, str) else type(value).__qualname__


def _module_name(value: object) -> str:
    name = getattr(value, "__module__", None)
    if isinstance(name, str):
        return name
    return type(value).__module__


#: Per-process memo of what each of Pivot's own classes contributes: id → (class, parsed
#: file, manifest entries, source records). Holding the class keeps its id from being reused.
_PIVOT_CLASSES: dict[int, tuple[type, ParsedFile, dict[str, str], dict[str, SourceRecord]]] = {}


class Walker:
    """One fingerprint computation; holds the manifest being built and the work queue."""

    def __init__(self, stage: str, files: ProjectFiles) -> None:
        self.stage = stage
        self.files = files
        self.root = files.root
        self.manifest: dict[str, str] = {}
        self.sources: dict[str, SourceRecord] = {}
        self.warnings: dict[str, None] = {}
        self._parsed: dict[str, ParsedFile | None] = {}
        self._stats: dict[str, FileStat] = {}
        self._project_files: set[str] = set()
        self._node_keys: dict[tuple[str, int], str] = {}
        self._labels: dict[int, str] = {}
        self._key_owners: dict[str, object] = {}
        self._keepalive: list[object] = []
        self._queue: deque[Callable[[], None]] = deque()
        self._pkg_modules: set[str] = set()
        self._module_kinds: dict[str, Kind] = {}
        self._loader_configs: dict[str, set[str]] = {}
        self._pivot_classes: set[int] = set()
        self._nesting = 0
        #: Module-level names read in each file (absolute path), and files read as a whole:
        #: what a cached entry re-checks when the file changes (see ``_deps``).
        self._reads: dict[str, set[str]] = {}
        self._whole: set[str] = set()

    # ---------------------------------------------------------------------------------------
    # bookkeeping

    def warn(self, message: str, rel: str = "", line: int = 0) -> None:
        where = f" at {rel}:{line}" if rel and line else (f" in {rel}" if rel else "")
        self.warnings.setdefault(f"{self.stage}: {message}{where}", None)

    def _claim(self, base: str, owner: object) -> str:
        """A key for ``owner``: ``base`` unless another owner has it, then ``base#2``, ..."""
        key = base
        number = 1
        while True:
            current = self._key_owners.get(key, _MISSING)
            if current is _MISSING:
                self._key_owners[key] = owner
                return key
            if current == owner:
                return key
            number += 1
            key = f"{base}#{number}"

    def _read(self, path: str, name: str) -> None:
        self._reads.setdefault(os.path.abspath(path), set()).add(name)

    def _keyed(
        self, parsed: ParsedFile, key: str, rel: str, nodes: Sequence[ast.AST], payload: str
    ) -> tuple[str, SourceRecord]:
        """``parsed.keyed``, noting which module-level names the hashed nodes belong to."""
        for node in nodes:
            if isinstance(node, ast.Module):
                self._whole.add(parsed.path)
                continue
            top = parsed.top_of(node)
            names = statement_names(top if top is not None else node)
            if not names:
                self._whole.add(parsed.path)
            for name in names:
                self._read(parsed.path, name)
        return parsed.keyed(key, rel, nodes, payload)

    def _set(self, key: str, value: str, record: SourceRecord | None) -> None:
        self.manifest[key] = value
        if record is not None:
            self.sources[key] = record

    def _parse(self, path: str, rel: str, kind: Kind) -> ParsedFile | None:
        path = os.path.abspath(path)
        if path in self._parsed:
            return self._parsed[path]
        parsed: ParsedFile | None
        try:
            parsed = load_file(path)
        except (OSError, SyntaxError, ValueError) as exc:
            self.warn(f"cannot read the source of {rel or path} ({type(exc).__name__}: {exc})")
            parsed = None
            # a stat no file can match: a cached entry with this warning is always recomputed
            self._stats[path] = FileStat(path, -1, -1, -1, "", True)
        self._parsed[path] = parsed
        if parsed is not None:
            self._stats[path] = parsed.stat
            if kind is Kind.PROJECT:
                self._project_files.add(path)
        return parsed

    def _record_pkg(self, module_name: str) -> None:
        top = module_name.partition(".")[0]
        if top in self._pkg_modules:
            return
        self._pkg_modules.add(top)
        found = distributions_of(top)
        for dist, version in found:
            self.manifest[f"pkg:{dist}"] = version
        if not found:
            self._warn_if_unversioned(top)

    def _warn_if_unversioned(self, top: str) -> None:
        """Code reached through ``sys.path`` from outside the project that no installed
        distribution provides: neither hashed nor versioned, so say so."""
        if top == "pivot" or is_stdlib(top) or top in sys.builtin_module_names:
            return
        module = sys.modules.get(top)
        filename = getattr(module, "__file__", None)
        if not isinstance(filename, str) or _INSTALLED_DIRS & set(PurePath(filename).parts):
            return
        if module is not None and self.files.module_kind(module)[0] is not Kind.OTHER:
            return  # project code (reached through a wrapper that kept its __module__)
        self.warn(
            f"module {top} ({filename}) is outside the project and not an installed package: "
            "edits to it are not detected (move it into the project, or pip install -e it)"
        )

    def run(self) -> None:
        while self._queue:
            task = self._queue.popleft()
            try:
                task()
            except RecursionError:
                self.warn("a definition is too deeply nested to fingerprint")
            except Exception as exc:  # a status command must not die on one odd definition
                self.warn(f"could not fingerprint a definition ({type(exc).__name__}: {exc})")

    def result(self) -> CodeFingerprint:
        for display, texts in sorted(self._loader_configs.items()):
            key = f"loader-config:{display}"
            text = "\n".join(sorted(texts))
            self._set(key, digest(key, text), SourceRecord(key, "", 0, text + "\n"))
        manifest = dict(sorted(self.manifest.items()))
        sources = {key: self.sources[key] for key in manifest if key in self.sources}
        files = tuple(sorted(self._project_files))
        stats = tuple(self._stats[path] for path in sorted(self._stats))
        return CodeFingerprint(
            manifest=manifest,
            sources=sources,
            warnings=tuple(self.warnings),
            files=files,
            file_stats=stats,
            name_deps=self._name_deps(),
        )

    def _name_deps(self) -> tuple[NameDep, ...]:
        """For each project file read only through names, those names and the digest of the
        statements behind them; a file read as a whole (or unparsed) gets none."""
        deps = []
        for path in sorted(self._project_files):
            names = self._reads.get(path)
            parsed = self._parsed.get(path)
            if not names or parsed is None or path in self._whole:
                continue
            ordered = tuple(sorted(names))
            deps.append(NameDep(path, ordered, statement_index(parsed).digest(ordered)))
        return tuple(deps)

    # ---------------------------------------------------------------------------------------
    # entry points

    def add_stage(self, func: object) -> None:
        target = unwrap(func)
        if isinstance(target, functools.partial):
            inner = unwrap(target.func)
            label = f"{_qualname(inner)}:args"
            try:
                text = self._canon_call_args(target.args, target.keywords, _Hint(label))
            except _NotCanonical:
                self.warn("arguments bound by functools.partial cannot be hashed")
            else:
                key = f"self:{label}"
                self._set(key, digest(key, text), SourceRecord(key, "", 0, text + "\n"))
            target = inner
        if isinstance(target, types.MethodType):
            self.visit_value(target.__self__, _Hint())
            target = target.__func__
        if not isinstance(target, types.FunctionType):
            self.warn(f"stage object {_qualname(target)} is not a Python function")
            self.visit_value(target, _Hint())
            return
        code = target.__code__
        kind, rel = self.files.file_kind(code.co_filename)
        if kind is not Kind.PROJECT:
            self.warn(
                f"stage function {target.__module__}.{target.__qualname__} is not project code; "
                "only its package version is tracked"
            )
            self._record_pkg(target.__module__)
            return
        parsed = self._parse(code.co_filename, rel, kind)
        if parsed is None:
            return
        node = self._find_function(parsed, code)
        if node is None:
            self.warn(
                f"source of stage function {code.co_qualname} not found", rel, code.co_firstlineno
            )
            return
        key = self._claim(f"self:{code.co_qualname}", (parsed.path, id(node)))
        self._node_keys[(parsed.path, id(node))] = key
        self._labels[id(target)] = key
        self._keepalive.append(target)
        modpath = module_path(rel)
        closure = _closure_values(target)
        closure_label = f"{modpath}.{code.co_qualname}"
        self._enqueue_function(parsed, rel, node, key, target.__globals__, closure, closure_label)
        top = parsed.top_of(node)
        if top is not None:
            self._visit_enclosing(parsed, rel, top, target.__globals__, modpath)
        self._visit_closure(closure, closure_label)
        self._visit_defaults(target, node, closure_label)
        if func is not target:
            self.visit_value(func, _Hint())

    def add_extra(self, obj: object) -> None:
        """A loader instance, params model class, or other object the stage uses implicitly."""
        if isinstance(obj, type):
            self._visit_hierarchy(obj, pivot_code=False)
            return
        if isinstance(obj, (types.FunctionType, types.ModuleType, functools.partial)):
            self.visit_value(obj, _Hint())
            return
        cls = type(obj)
        self._visit_hierarchy(cls, pivot_code=not _is_pydantic_model(cls))
        if _is_pydantic_model(cls):
            return  # a params instance: its values are tracked as params, not as code
        try:
            text = self._canon(obj, _Hint(), 0, set())
        except _NotCanonical:
            self.warn(f"configuration of {cls.__qualname__} has no stable representation")
            return
        kind, rel = self._class_kind(cls)
        if kind is Kind.PROJECT:
            display = f"{module_path(rel)}.{cls.__qualname__}"
        elif kind is Kind.PIVOT:
            display = cls.__qualname__
        else:
            display = f"{cls.__module__}.{cls.__qualname__}"
        self._loader_configs.setdefault(display, set()).add(text)

    def _visit_hierarchy(self, cls: type, *, pivot_code: bool) -> None:
        """A class and its bases; Pivot's own classes count only for loader instances."""
        for klass in cls.__mro__:
            kind, _ = self._class_kind(klass)
            if kind is Kind.PIVOT:
                if pivot_code:
                    self._visit_pivot_class(klass)
            else:
                self.visit_value(klass, _Hint())

    # ---------------------------------------------------------------------------------------
    # values

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
                context = _Context(
                    parsed,
                    hint.rel,
                    module_path(hint.rel),
                    hint.namespace,
                    {},
                    "",
                    {imp.name: imp for imp in info.imports},
                    hint.package,
                )
                self._resolve_info(context, info)
            return f"<{label} instance>"
        kind, _ = self._class_kind(cls)
        if kind is Kind.PROJECT and hint.label:
            self.warn(
                f"value of {hint.label} ({cls.__qualname__}) has no stable representation "
                "and no source statement; changes to it are not detected"
            )
        return f"<{label} instance>"

    # ---------------------------------------------------------------------------------------
    # functions

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
            context = _Context(
                parsed,
                rel,
                module_path(rel),
                namespace,
                closure,
                closure_label,
                {imp.name: imp for imp in info.imports},
                _package_of(namespace),
            )
            self._resolve_info(context, info)

        self._queue.append(task)

    # ---------------------------------------------------------------------------------------
    # classes

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
        context = _Context(
            parsed,
            rel,
            modpath,
            namespace,
            {},
            "",
            {imp.name: imp for imp in info.imports},
            _package_of(namespace),
        )
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
            sub = Walker(self.stage, self.files)
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
        package = _package_of(namespace)
        modpath = module_path(rel)
        context = _Context(
            parsed,
            rel,
            modpath,
            namespace,
            {},
            "",
            {i.name: i for i in info.imports},
            package,
            pkg_only,
        )
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
                method_context = _Context(
                    parsed,
                    rel,
                    modpath,
                    namespace,
                    {},
                    "",
                    {i.name: i for i in item.imports},
                    package,
                    pkg_only,
                )
                self._resolve_info(method_context, item)

    # ---------------------------------------------------------------------------------------
    # modules

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
            context = _Context(
                parsed,
                rel,
                module_path(rel),
                namespace,
                {},
                "",
                {i.name: i for i in info.imports},
                _package_of(namespace),
            )
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

    # ---------------------------------------------------------------------------------------
    # resolving the names a definition reads

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

    # ---------------------------------------------------------------------------------------
    # canonical representations

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


#: Characters that continue a file or folder name: the root followed or preceded by one of
#: them is part of another name, not a path inside the project.
_NAME_CHARS = r"\w.\-~+@%"


@functools.cache
def _root_pattern(root: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![{_NAME_CHARS}/]){re.escape(root)}(?![{_NAME_CHARS}])")


def _class_home(cls: type) -> tuple[str | None, Mapping[str, object] | None]:
    """The file a class is defined in and its module's namespace.

    Normally from ``sys.modules[cls.__module__]``; for code executed without registering its
    module, from the code objects of the class's own methods.
    """
    module = sys.modules.get(cls.__module__)
    filename = getattr(module, "__file__", None)
    if module is not None and isinstance(filename, str):
        return filename, vars(module)
    for member in vars(cls).values():
        if isinstance(member, (staticmethod, classmethod)):
            member = member.__func__
        elif isinstance(member, property):
            member = member.fget
        if isinstance(member, types.FunctionType):
            return member.__code__.co_filename, member.__globals__
    return None, None


def _basic_value(value: object) -> object | None:
    """The plain builtin value inside an instance of a subclass of int/float/str/bytes."""
    if isinstance(value, int):
        return int.__int__(value)
    if isinstance(value, float):
        return float.__float__(value)
    if isinstance(value, complex):
        return complex(value.real, value.imag)
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, bytes):
        return bytes(memoryview(value))
    return None


def _is_pydantic_model(cls: type) -> bool:
    return isinstance(getattr(cls, "model_fields", None), dict) and hasattr(cls, "model_dump")
