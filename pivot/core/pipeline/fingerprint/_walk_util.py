"""Values and helpers the parts of the walker share."""

from __future__ import annotations

import builtins
import collections
import dataclasses
import functools
import importlib
import importlib.util
import re
import sys
import types
from collections.abc import Iterable, Mapping
from typing import Any

from pivot.core.pipeline.fingerprint._classify import module_path
from pivot.core.pipeline.fingerprint._model import (
    SourceRecord,
)
from pivot.core.pipeline.fingerprint._parse import (
    LocalImport,
    ParsedFile,
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

    @classmethod
    def of(
        cls,
        parsed: ParsedFile,
        rel: str,
        namespace: Mapping[str, object],
        imports: Iterable[LocalImport],
        *,
        closure: Mapping[str, object] | None = None,
        closure_label: str = "",
        pkg_only: bool = False,
    ) -> _Context:
        """The context of one definition or statement of the module ``namespace`` belongs to
        (its module path and package follow from ``rel`` and ``namespace``)."""
        return cls(
            parsed,
            rel,
            module_path(rel),
            namespace,
            closure or {},
            closure_label,
            {imp.name: imp for imp in imports},
            _package_of(namespace),
            pkg_only,
        )


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
