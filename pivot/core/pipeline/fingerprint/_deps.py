"""Which top-level statements of a source file one fingerprint depends on.

A fingerprint reads a file through names: the definitions it hashes (a function, a class, a
constant's binding) and the globals it resolves. When the file changes, the fingerprint is
still valid if none of the statements behind those names changed, so editing one stage in a
``pipeline.py`` of 2,000 stages re-fingerprints that stage, not all of them.

Statements are split in two:

* **pure** ones only bind names, evaluating nothing but Pivot's API and a few builtins at
  import time: imports, undecorated ``def``s (their bodies do not run at import), assignments
  of such expressions, classes built on Pivot's classes, ``pipeline.register(stage)``. A pure
  statement matters to a fingerprint only if it binds (or, for a method call, mutates) a name
  the fingerprint read.
* every other statement (a call into project code, a decorator, ``from x import *``, an
  ``if`` at module level, a subscript assignment into a registry) is **impure**: it could
  change any value, so every fingerprint that read the file depends on all of them.

The digest of a fingerprint's dependency on a file hashes the text of the impure statements
and of the pure statements binding its names, in file order (text, not normalized trees: a
comment edit then only recomputes a fingerprint that comes out the same, and text is cheap).
"""

from __future__ import annotations

import ast
import builtins
import dataclasses
from collections.abc import Iterable

import xxhash

from pivot.core.pipeline.fingerprint._parse import ParsedFile

#: Builtins that only build values: calling them at import time changes no other name.
_PURE_BUILTINS = frozenset(
    {
        "bool", "bytes", "dict", "float", "frozenset", "int", "list", "object", "range",
        "set", "str", "tuple", "len", "sorted", "min", "max", "sum", "abs", "round",
        "enumerate", "zip", "reversed", "isinstance", "issubclass", "repr", "any", "all",
        "property", "staticmethod", "classmethod",
    }
)  # fmt: skip


_PURE_DECORATORS = frozenset({"property", "staticmethod", "classmethod"})


def _root(node: ast.expr) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def _bound_by_import(stmt: ast.Import | ast.ImportFrom) -> list[tuple[str, str]]:
    """(bound name, module it comes from) for each alias; star imports are not listed."""
    found = []
    for alias in stmt.names:
        if alias.name == "*":
            continue
        if isinstance(stmt, ast.Import):
            found.append((alias.asname or alias.name.partition(".")[0], alias.name))
        else:
            found.append((alias.asname or alias.name, "." * stmt.level + (stmt.module or "")))
    return found


def _targets(stmt: ast.AST) -> list[ast.expr]:
    if isinstance(stmt, ast.Assign):
        return list(stmt.targets)
    if isinstance(stmt, (ast.AnnAssign, ast.AugAssign)):
        return [stmt.target]
    return []


def _names_of(target: ast.expr) -> list[str]:
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, (ast.Tuple, ast.List)):
        return [name for element in target.elts for name in _names_of(element)]
    if isinstance(target, ast.Starred):
        return _names_of(target.value)
    return []


class _Purity:
    """Decides, statement by statement in file order, which statements are pure."""

    def __init__(self, tree: ast.Module) -> None:
        self.pivot_names: set[str] = set()  # names bound to Pivot's modules or objects
        #: Names the module binds at its top level (they shadow builtins there); names bound
        #: inside compound statements are found by walking just those statements.
        self.defined: set[str] = set()
        for stmt in tree.body:
            if isinstance(stmt, (ast.If, ast.For, ast.While, ast.With, ast.Try, ast.Match)):
                for node in ast.walk(stmt):
                    if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                        self.defined.add(node.id)
                    elif isinstance(node, ast.stmt):
                        self.defined.update(statement_names(node))
            else:
                self.defined.update(statement_names(stmt))

    def _callee_ok(self, func: ast.expr) -> bool:
        root = _root(func)
        if root is None:
            return False
        return root in self.pivot_names or (
            root in _PURE_BUILTINS and root not in self.defined and hasattr(builtins, root)
        )

    def expression(self, node: ast.AST | None) -> bool:
        """True when evaluating ``node`` calls nothing but Pivot and value-building builtins.

        Hand-walked for the shapes annotations and literals take (most of a pipeline.py),
        with the generic walk for the rest."""
        pending: list[ast.AST | None] = [node]
        while pending:
            current = pending.pop()
            if current is None or isinstance(current, (ast.Constant, ast.Name)):
                continue
            if isinstance(current, ast.Call):
                if not self._callee_ok(current.func):
                    return False
                pending.append(current.func)
                pending.extend(current.args)
                pending.extend(keyword.value for keyword in current.keywords)
            elif isinstance(current, ast.Attribute):
                pending.append(current.value)
            elif isinstance(current, ast.Subscript):
                pending.append(current.value)
                pending.append(current.slice)
            elif isinstance(current, (ast.Tuple, ast.List, ast.Set)):
                pending.extend(current.elts)
            elif isinstance(current, (ast.NamedExpr, ast.Await, ast.Yield, ast.YieldFrom)):
                return False
            else:
                pending.extend(ast.iter_child_nodes(current))
        return True

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
        """A def runs its decorators, defaults and annotations at import time, not its body."""
        if any(not self._decorator_ok(d) for d in node.decorator_list):
            return False
        args = node.args
        parts: list[ast.AST | None] = [*args.defaults, *args.kw_defaults, node.returns]
        for arg in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]:
            if arg is not None:
                parts.append(arg.annotation)
        return all(self.expression(part) for part in parts)

    def _decorator_ok(self, node: ast.expr) -> bool:
        if isinstance(node, ast.Name) and node.id in _PURE_DECORATORS:
            return node.id not in self.defined
        if isinstance(node, ast.Attribute) and node.attr in ("setter", "getter", "deleter"):
            return isinstance(node.value, ast.Name)  # @value.setter of a property
        root = _root(node)
        return root is not None and root in self.pivot_names and self.expression(node)

    def _class(self, node: ast.ClassDef) -> bool:
        if node.decorator_list or node.keywords:
            return False
        # A base's __init_subclass__ or metaclass runs at definition: only Pivot's are known.
        for base in node.bases:
            root = _root(base)
            if root is None or (root not in self.pivot_names and root != "object"):
                return False
        return all(self.statement(stmt, in_class=True) for stmt in node.body)

    def statement(self, stmt: ast.stmt, *, in_class: bool = False) -> bool:
        """Whether ``stmt`` is pure; records the Pivot names it binds."""
        if isinstance(stmt, ast.Import):
            if any(
                alias.name == "pivot" or alias.name.startswith("pivot.") for alias in stmt.names
            ):
                self.pivot_names.update(name for name, _ in _bound_by_import(stmt))
            return True
        if isinstance(stmt, ast.ImportFrom):
            if any(alias.name == "*" for alias in stmt.names):
                return False
            if stmt.level == 0 and (stmt.module or "").partition(".")[0] == "pivot":
                self.pivot_names.update(name for name, _ in _bound_by_import(stmt))
            return True
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            return self._function(stmt)
        if isinstance(stmt, ast.ClassDef):
            return self._class(stmt)
        if isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = _targets(stmt)
            if not all(isinstance(t, (ast.Name, ast.Tuple, ast.List)) for t in targets):
                return False  # a subscript or attribute store mutates another object
            value = getattr(stmt, "value", None)
            if not self.expression(value) or not self.expression(getattr(stmt, "annotation", None)):
                return False
            if not in_class and isinstance(value, ast.Call) and self._callee_ok(value.func):
                root = _root(value.func)
                if root in self.pivot_names:  # e.g. pipeline = pivot.Pipeline("demo")
                    self.pivot_names.update(n for t in targets for n in _names_of(t))
            return True
        if isinstance(stmt, ast.Expr):
            value = stmt.value
            if isinstance(value, ast.Constant):
                return True  # a docstring
            return isinstance(value, ast.Call) and self.expression(value)
        return isinstance(stmt, (ast.Pass, ast.Delete))


@dataclasses.dataclass
class StatementIndex:
    """The top-level statements of one file, classified once per parse."""

    parsed: ParsedFile
    impure: list[int]
    binders: dict[str, list[int]]
    _digests: dict[int, str] = dataclasses.field(default_factory=dict)

    @classmethod
    def build(cls, parsed: ParsedFile) -> StatementIndex:
        purity = _Purity(parsed.tree)
        impure: list[int] = []
        binders: dict[str, list[int]] = {}
        for index, stmt in enumerate(parsed.tree.body):
            if not purity.statement(stmt):
                impure.append(index)
                continue
            for name in statement_names(stmt):
                binders.setdefault(name, []).append(index)
        return cls(parsed, impure, binders)

    def digest(self, names: Iterable[str]) -> str:
        """Digest of the statements a fingerprint that read ``names`` depends on."""
        wanted = set(self.impure)
        for name in names:
            wanted.update(self.binders.get(name, ()))
        body = self.parsed.tree.body
        hasher = xxhash.xxh64()
        for index in sorted(wanted):
            text = self._digests.get(index)
            if text is None:
                # The statement's text: cheaper than its normalized tree, and a comment or
                # formatting change only costs recomputing a fingerprint that comes out equal.
                source = self.parsed.segment(body[index])[2]
                text = self._digests[index] = xxhash.xxh64(source.encode()).hexdigest()
            hasher.update(text.encode())
            hasher.update(b";")
        return hasher.hexdigest()


def statement_names(stmt: ast.AST) -> list[str]:
    """Names a statement binds, or mutates through a method call (``pipeline.register``)."""
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [stmt.name]
    if isinstance(stmt, (ast.Import, ast.ImportFrom)):
        return [name for name, _ in _bound_by_import(stmt)]
    if isinstance(stmt, ast.Delete):
        return [name for target in stmt.targets for name in _names_of(target)]
    if isinstance(stmt, ast.Expr):
        root = _root(stmt.value) if isinstance(stmt.value, ast.Call) else None
        return [root] if root is not None else []
    return [name for target in _targets(stmt) for name in _names_of(target)]


#: The index of the latest parse of each file. Keyed by path, not by parse: an index holds its
#: parse, so a key per parse kept every version of every edited file alive (watch mode grew
#: by ~45 KiB per code edit, found by the watch soak).
_INDEXES: dict[str, StatementIndex] = {}


def statement_index(parsed: ParsedFile) -> StatementIndex:
    """The index of ``parsed``, built once per parse (per process)."""
    index = _INDEXES.get(parsed.path)
    if index is None or index.parsed is not parsed:
        index = _INDEXES[parsed.path] = StatementIndex.build(parsed)
    return index
