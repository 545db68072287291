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

import functools
import types

from pivot.core.pipeline.fingerprint._classify import (
    Kind,
    module_path,
)
from pivot.core.pipeline.fingerprint._model import (
    SourceRecord,
    digest,
)
from pivot.core.pipeline.fingerprint._walk_canon import CanonPart
from pivot.core.pipeline.fingerprint._walk_classes import ClassesPart
from pivot.core.pipeline.fingerprint._walk_functions import FunctionsPart
from pivot.core.pipeline.fingerprint._walk_names import NamesPart
from pivot.core.pipeline.fingerprint._walk_util import (
    _closure_values,
    _Hint,
    _is_pydantic_model,
    _NotCanonical,
    _qualname,
    unwrap,
)
from pivot.core.pipeline.fingerprint._walk_values import ValuesPart

__all__ = ["Walker", "unwrap"]


class Walker(ValuesPart, FunctionsPart, ClassesPart, NamesPart, CanonPart):
    """One fingerprint computation: the entry points; the parts do the walking."""

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
