"""Source files parsed once per process, and what each definition in them refers to.

Hashing works on a *normalized AST*, never on raw text: the tree of a definition is serialized
field by field, leaving out positions, ``ctx`` markers, string-prefix kinds and docstrings, and
leaving out ``None`` and empty-list fields so that the fields newer Pythons add with empty
defaults (``type_params`` in 3.12) do not change the hash of unchanged code. Comments, blank
lines, formatting, quote style and docstrings therefore never change a hash; renaming a local
variable does (the tree records names; telling a rename from a real change would need data-flow
analysis, and a spurious re-run is the safe mistake).

A :class:`ParsedFile` is kept per path for the life of the process and re-read only when its
stat changes (or when it was *racy*: modified within :data:`RACY_WINDOW_NS` of being read, when
a same-size edit could keep the same mtime). Re-reading bytes that hash the same keeps the old
tree, so 176 stages sharing one helper module parse it once.

:class:`NodeInfo` is the analysis of one definition: its normalized hash, its line span, and the
names it reads from outside itself (:class:`Ref`), found with real lexical scoping (parameters,
assignments, comprehension targets and nested scopes are local; ``global`` declarations are
not; class bodies are invisible to the functions inside them).
"""

from __future__ import annotations

import ast
import bisect
import os
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import xxhash

from pivot.core.pipeline.fingerprint._model import FileStat, SourceRecord, digest

#: A file modified less than this long before it was read may be modified again without its
#: mtime changing (coarse filesystem timestamps); such reads are marked racy.
RACY_WINDOW_NS = 2_000_000_000

FuncNode = ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda
DefNode = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda

#: Calls whose effect on what code runs cannot be seen statically unless their argument is a
#: constant.
DYNAMIC_CALLS = frozenset({"getattr", "eval", "exec", "import_module", "__import__"})
#: Namespace lookups: ``globals()[key]``, ``vars(module)[key]`` (and their ``.get(key)``).
NAMESPACE_CALLS = frozenset({"globals", "vars"})


@dataclass(frozen=True, slots=True)
class Ref:
    """A name read from outside a definition, with the attribute chain that follows it."""

    root: str
    attrs: tuple[str, ...]
    line: int
    #: Only read in annotations (of a helper): followed only if it names a class.
    annotation: bool = False


@dataclass(frozen=True, slots=True)
class LocalImport:
    """An import statement inside a definition (a lazily imported helper or package)."""

    #: The local name the statement binds.
    name: str
    #: The module as written (without leading dots) and the number of leading dots.
    module: str
    level: int
    #: For ``from m import x``: ``x``. None for ``import m`` / ``import m as n``.
    attr: str | None
    #: For ``import a.b`` (which binds ``a``): True, meaning ``a.b`` must be imported but ``a``
    #: is what the name refers to.
    binds_top: bool
    line: int


@dataclass(frozen=True, slots=True)
class DynamicCall:
    """A call to getattr/eval/exec/import_module/__import__ found in a definition, or a
    ``globals()``/``vars(x)`` lookup with a key (kinds ``globals`` and ``vars``)."""

    kind: str
    callee: Ref
    #: The constant attribute or module name, when the relevant argument is a string literal.
    constant: str | None
    #: For getattr: the object whose attribute is read, when it is a plain name chain.
    target: Ref | None
    line: int


@dataclass(frozen=True, slots=True)
class NodeInfo:
    """Everything the fingerprint needs from one definition's tree."""

    digest: str
    first_line: int
    last_line: int
    refs: tuple[Ref, ...]
    imports: tuple[LocalImport, ...]
    dynamic: tuple[DynamicCall, ...]


# --------------------------------------------------------------------------------------------
# normalized serialization

_SKIPPED_FIELDS = frozenset({"ctx", "kind", "type_comment"})
_DOC_OWNERS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Module)
_FUNCTION_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef)


def _is_docstring(stmt: ast.AST) -> bool:
    return (
        isinstance(stmt, ast.Expr)
        and isinstance(stmt.value, ast.Constant)
        and isinstance(stmt.value.value, str)
    )


def _dump(node: ast.AST, out: list[str], elide_methods: bool = False) -> None:
    out.append(type(node).__name__)
    out.append("(")
    for name in node._fields:
        if name in _SKIPPED_FIELDS:
            continue
        value = getattr(node, name, None)
        if value is None:
            continue
        if isinstance(value, list):
            if not value:
                continue
            if name == "body" and isinstance(node, _DOC_OWNERS) and _is_docstring(value[0]):
                value = value[1:]
            out.append(name)
            out.append("=[")
            for item in value:
                if isinstance(item, ast.AST):
                    if elide_methods and isinstance(item, _FUNCTION_DEFS):
                        out.append(f"Method({item.name!r})")
                    else:
                        _dump(item, out)
                else:
                    out.append(repr(item))
                out.append(",")
            out.append("],")
        elif isinstance(value, ast.AST):
            out.append(name)
            out.append("=")
            _dump(value, out)
            out.append(",")
        else:
            out.append(name)
            out.append("=")
            out.append(repr(value))
            out.append(",")
    out.append(")")


def normalized_hash(nodes: Iterable[ast.AST], elide_methods: bool = False) -> str:
    """xxhash64 of the normalized serialization of ``nodes`` (docstrings, positions left out).

    With ``elide_methods``, methods directly in a class body are reduced to their names: a
    class's own hash then covers its bases, decorators and attributes, and each method is
    hashed under its own key.
    """
    out: list[str] = []
    for node in nodes:
        _dump(node, out, elide_methods)
        out.append(";")
    return xxhash.xxh64("".join(out).encode()).hexdigest()


# --------------------------------------------------------------------------------------------
# scope-aware reference collection


class _Scope:
    __slots__ = ("is_class", "names")

    def __init__(self, names: set[str], is_class: bool = False) -> None:
        self.names = names
        self.is_class = is_class


def _arg_names(args: ast.arguments) -> set[str]:
    names = {a.arg for a in args.posonlyargs}
    names.update(a.arg for a in args.args)
    names.update(a.arg for a in args.kwonlyargs)
    if args.vararg is not None:
        names.add(args.vararg.arg)
    if args.kwarg is not None:
        names.add(args.kwarg.arg)
    return names


_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)


def _bound_names(body: Sequence[ast.AST]) -> set[str]:
    """Names bound directly in a scope whose statements are ``body`` (nested scopes excluded).

    Names bound only by import statements are *not* returned: references to them are resolved
    through the import, so they must stay visible as references.
    """
    names: set[str] = set()
    declared: set[str] = set()
    stack: list[ast.AST] = list(body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
            stack.extend(node.decorator_list)
            continue
        if isinstance(node, ast.Lambda):
            continue
        if isinstance(node, ast.comprehension):
            # the target belongs to the comprehension's own scope; walrus targets inside the
            # iterables and conditions bind in this one
            stack.append(node.iter)
            stack.extend(node.ifs)
            continue
        if isinstance(node, ast.Name):
            if not isinstance(node.ctx, ast.Load):
                names.add(node.id)
            continue
        if isinstance(node, (ast.Global, ast.Nonlocal)):
            declared.update(node.names)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        if (isinstance(node, ast.ExceptHandler) and node.name) or (
            isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name
        ):
            names.add(node.name)
        elif isinstance(node, ast.MatchMapping) and node.rest:
            names.add(node.rest)
        stack.extend(ast.iter_child_nodes(node))
    return names - declared


def _chain(node: ast.expr) -> tuple[ast.expr, tuple[str, ...]]:
    """Split ``a.b.c`` into (the ``a`` node, ("b", "c"))."""
    attrs: list[str] = []
    while isinstance(node, ast.Attribute):
        attrs.append(node.attr)
        node = node.value
    attrs.reverse()
    return node, tuple(attrs)


class _Collector:
    """Walks a definition and records what it reads from outside, imports and dynamic calls."""

    def __init__(self, annotations: bool = True) -> None:
        self.refs: dict[tuple[str, tuple[str, ...]], Ref] = {}
        self.imports: list[LocalImport] = []
        self.dynamic: list[DynamicCall] = []
        #: Annotations are code to follow (the stage's); else their names are marked.
        self.annotations = annotations
        self._in_annotation = False

    # -- helpers

    @staticmethod
    def _is_local(name: str, stack: list[_Scope]) -> bool:
        last = len(stack) - 1
        for index in range(last, -1, -1):
            scope = stack[index]
            if scope.is_class and index != last:
                continue
            if name in scope.names:
                return True
        return False

    def _add(self, root: str, attrs: tuple[str, ...], line: int) -> None:
        known = self.refs.get((root, attrs))
        if known is None or (known.annotation and not self._in_annotation):
            self.refs[(root, attrs)] = Ref(root, attrs, line, self._in_annotation)

    def _ref_of(self, node: ast.expr, stack: list[_Scope]) -> Ref | None:
        base, attrs = _chain(node)
        if isinstance(base, ast.Name) and not self._is_local(base.id, stack):
            return Ref(base.id, attrs, node.lineno)
        return None

    # -- traversal

    def visit(self, node: ast.AST, stack: list[_Scope]) -> None:
        handler = _HANDLERS.get(type(node))
        if handler is not None:
            handler(self, node, stack)
        else:
            for child in ast.iter_child_nodes(node):
                self.visit(child, stack)

    def visit_all(self, nodes: Iterable[ast.AST], stack: list[_Scope]) -> None:
        for node in nodes:
            self.visit(node, stack)

    def visit_annotation(self, node: ast.expr | None, stack: list[_Scope]) -> None:
        if node is None:
            return
        outer = self._in_annotation
        self._in_annotation = outer or not self.annotations
        try:
            self._visit_annotation(node, stack)
        finally:
            self._in_annotation = outer

    def _visit_annotation(self, node: ast.expr, stack: list[_Scope]) -> None:
        self.visit(node, stack)
        # string annotations ("Model", list["Model"]) still name the classes they mean
        for sub in _forward_references(node):
            try:
                parsed = _quiet_parse(str(sub.value).strip(), "<annotation>", "eval")
            except (SyntaxError, ValueError):
                continue
            for inner in ast.walk(parsed):
                ast.copy_location(inner, sub)
            self.visit(parsed.body, stack)

    def _visit_name(self, node: ast.Name, stack: list[_Scope]) -> None:
        if isinstance(node.ctx, ast.Load) and not self._is_local(node.id, stack):
            self._add(node.id, (), node.lineno)

    def _visit_attribute(self, node: ast.Attribute, stack: list[_Scope]) -> None:
        base, attrs = _chain(node)
        if isinstance(base, ast.Name):
            if not self._is_local(base.id, stack):
                self._add(base.id, attrs, node.lineno)
        else:
            self.visit(base, stack)

    def _visit_call(self, node: ast.Call, stack: list[_Scope]) -> None:
        base, attrs = _chain(node.func)
        handed_over: ast.expr | None = None
        if isinstance(node.func, ast.Attribute) and node.func.attr == "get":
            lookup = self._namespace_call(node.func.value, stack)
            if lookup is not None:  # globals().get(key), vars(module).get(key)
                self._record_lookup(lookup, node.args[0] if node.args else None, node.lineno, stack)
        if isinstance(base, ast.Name):
            last = attrs[-1] if attrs else base.id
            if last in DYNAMIC_CALLS and not self._is_local(base.id, stack):
                call = self._record_dynamic(node, last, Ref(base.id, attrs, node.lineno), stack)
                if call.kind == "getattr" and call.constant is not None and call.target:
                    # getattr(helpers, "scale") reads helpers.scale, not the whole module;
                    # the dynamic-call check resolves the chain (or the bare target)
                    handed_over = node.args[0]
        for child in ast.iter_child_nodes(node):
            if child is not handed_over:
                self.visit(child, stack)

    def _namespace_call(self, node: ast.expr, stack: list[_Scope]) -> ast.Call | None:
        """``node`` if it is a call of the builtin-looking ``globals()`` or ``vars(x)``."""
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in NAMESPACE_CALLS
            and not self._is_local(node.func.id, stack)
        ):
            return node
        return None

    def _record_lookup(
        self, call: ast.Call, key: ast.expr | None, line: int, stack: list[_Scope]
    ) -> None:
        """``globals()[key]`` reads the global ``key``; ``vars(x)[key]`` reads ``x.key``; a
        computed key cannot be followed, which the walker reports."""
        kind = call.func.id  # type: ignore[attr-defined]
        target = self._ref_of(call.args[0], stack) if kind == "vars" and call.args else None
        constant = (
            key.value if isinstance(key, ast.Constant) and isinstance(key.value, str) else None
        )
        if constant is not None and kind == "globals":
            self._add(constant, (), line)
            return
        if constant is not None and target is not None:
            self._add(target.root, (*target.attrs, constant), line)
            return
        callee = Ref(kind, (), line)
        self.dynamic.append(DynamicCall(kind, callee, constant, target, line))

    def _visit_subscript(self, node: ast.Subscript, stack: list[_Scope]) -> None:
        call = self._namespace_call(node.value, stack)
        if call is not None:
            self._record_lookup(call, node.slice, node.lineno, stack)
        for child in ast.iter_child_nodes(node):
            self.visit(child, stack)

    def _record_dynamic(
        self, node: ast.Call, kind: str, callee: Ref, stack: list[_Scope]
    ) -> DynamicCall:
        constant: str | None = None
        target: Ref | None = None
        if kind == "getattr":
            if len(node.args) >= 2:
                name_arg = node.args[1]
                if isinstance(name_arg, ast.Constant) and isinstance(name_arg.value, str):
                    constant = name_arg.value
                target = self._ref_of(node.args[0], stack)
        elif kind in ("import_module", "__import__"):
            first: ast.expr | None = node.args[0] if node.args else None
            for keyword in node.keywords:
                if keyword.arg == "name":
                    first = keyword.value
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                constant = first.value
        call = DynamicCall(kind, callee, constant, target, node.lineno)
        self.dynamic.append(call)
        return call

    def _visit_function(
        self, node: ast.FunctionDef | ast.AsyncFunctionDef, stack: list[_Scope]
    ) -> None:
        self.visit_header(node, stack)
        scope = _Scope(_arg_names(node.args) | _bound_names(node.body))
        self.visit_all(node.body, [*stack, scope])

    def visit_header(
        self, node: ast.FunctionDef | ast.AsyncFunctionDef, stack: list[_Scope]
    ) -> None:
        """Decorators, defaults and annotations: evaluated in the enclosing scope."""
        self.visit_all(node.decorator_list, stack)
        self._visit_arguments(node.args, stack)
        self.visit_annotation(node.returns, stack)

    def _visit_arguments(self, args: ast.arguments, stack: list[_Scope]) -> None:
        self.visit_all(args.defaults, stack)
        self.visit_all([d for d in args.kw_defaults if d is not None], stack)
        for arg in (*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg):
            if arg is not None:
                self.visit_annotation(arg.annotation, stack)

    def _visit_lambda(self, node: ast.Lambda, stack: list[_Scope]) -> None:
        self._visit_arguments(node.args, stack)
        scope = _Scope(_arg_names(node.args) | _bound_names([node.body]))
        self.visit(node.body, [*stack, scope])

    def _visit_class(self, node: ast.ClassDef, stack: list[_Scope]) -> None:
        self.visit_class_header(node, stack)
        scope = _Scope(_bound_names(node.body), is_class=True)
        self.visit_all(node.body, [*stack, scope])

    def visit_class_header(self, node: ast.ClassDef, stack: list[_Scope]) -> None:
        self.visit_all(node.decorator_list, stack)
        self.visit_all(node.bases, stack)
        self.visit_all(node.keywords, stack)

    def _visit_comprehension(
        self,
        node: ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp,
        stack: list[_Scope],
    ) -> None:
        generators = node.generators
        self.visit(generators[0].iter, stack)
        names: set[str] = set()
        for generator in generators:
            names.update(_bound_names([generator.target]))
        inner = [*stack, _Scope(names)]
        for index, generator in enumerate(generators):
            if index:
                self.visit(generator.iter, inner)
            self.visit_all(generator.ifs, inner)
        if isinstance(node, ast.DictComp):
            self.visit(node.key, inner)
            self.visit(node.value, inner)
        else:
            self.visit(node.elt, inner)

    def _visit_import(self, node: ast.Import, stack: list[_Scope]) -> None:
        for alias in node.names:
            if alias.asname:
                self.imports.append(
                    LocalImport(alias.asname, alias.name, 0, None, False, node.lineno)
                )
            else:
                top = alias.name.partition(".")[0]
                self.imports.append(
                    LocalImport(top, alias.name, 0, None, "." in alias.name, node.lineno)
                )

    def _visit_import_from(self, node: ast.ImportFrom, stack: list[_Scope]) -> None:
        for alias in node.names:
            if alias.name == "*":
                continue
            name = alias.asname or alias.name
            self.imports.append(
                LocalImport(name, node.module or "", node.level, alias.name, False, node.lineno)
            )

    def _visit_ann_assign(self, node: ast.AnnAssign, stack: list[_Scope]) -> None:
        self.visit(node.target, stack)
        self.visit_annotation(node.annotation, stack)
        if node.value is not None:
            self.visit(node.value, stack)

    def result(self) -> tuple[tuple[Ref, ...], tuple[LocalImport, ...], tuple[DynamicCall, ...]]:
        return tuple(self.refs.values()), tuple(self.imports), tuple(self.dynamic)


_HANDLERS: dict[type[ast.AST], Callable[[_Collector, Any, list[_Scope]], None]] = {
    ast.Name: _Collector._visit_name,
    ast.Attribute: _Collector._visit_attribute,
    ast.Call: _Collector._visit_call,
    ast.Subscript: _Collector._visit_subscript,
    ast.FunctionDef: _Collector._visit_function,
    ast.AsyncFunctionDef: _Collector._visit_function,
    ast.Lambda: _Collector._visit_lambda,
    ast.ClassDef: _Collector._visit_class,
    ast.ListComp: _Collector._visit_comprehension,
    ast.SetComp: _Collector._visit_comprehension,
    ast.GeneratorExp: _Collector._visit_comprehension,
    ast.DictComp: _Collector._visit_comprehension,
    ast.Import: _Collector._visit_import,
    ast.ImportFrom: _Collector._visit_import_from,
    ast.AnnAssign: _Collector._visit_ann_assign,
}


# --------------------------------------------------------------------------------------------
# parsed files


def _quiet_parse(source: str | bytes, filename: str, mode: str = "exec") -> Any:
    """ast.parse without re-emitting SyntaxWarnings: Python already showed them at import."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ast.parse(source, filename=filename, mode=mode)


def first_line(node: ast.AST) -> int:
    """The first line of a definition, counting its decorators (like ``co_firstlineno``)."""
    line: int = getattr(node, "lineno", 1)
    for decorator in getattr(node, "decorator_list", ()):
        line = min(line, decorator.lineno)
    return line


class ParsedFile:
    """One source file: its text, tree, stat, and lazily built indexes and analyses."""

    def __init__(self, path: str, data: bytes, stat: FileStat) -> None:
        self.path = path
        self.stat = stat
        self.text = data.decode("utf-8-sig", errors="replace")
        self.lines = self.text.splitlines()
        self.tree = _quiet_parse(data, path)
        self._functions: dict[tuple[str, int], list[FuncNode]] | None = None
        self._classes: dict[str, list[ast.ClassDef]] = {}
        self._qualnames: dict[int, str] = {}
        self._tops: dict[int, ast.stmt] = {}
        self._bindings: dict[str, ast.stmt] = {}
        self._infos: dict[tuple[int, str], NodeInfo] = {}
        self._class_names: dict[int, frozenset[str]] = {}
        self._keyed: dict[tuple[str, str, tuple[int, ...]], tuple[str, SourceRecord]] = {}
        self._joined: str | None = None
        self._line_starts: list[int] = []

    # -- indexes

    def _index(self) -> dict[tuple[str, int], list[FuncNode]]:
        if self._functions is not None:
            return self._functions
        functions: dict[tuple[str, int], list[FuncNode]] = {}
        work: list[tuple[ast.AST, str, ast.stmt | None]] = [
            (stmt, "", None) for stmt in reversed(self.tree.body)
        ]
        while work:
            node, prefix, top = work.pop()
            if top is None and isinstance(node, _FUNCTION_DEFS) and not self._may_nest(node):
                # a module-level def with nothing defined inside it (most stages): its own
                # entry is all there is to index, without walking its body
                functions.setdefault((node.name, first_line(node)), []).append(node)
                self._qualnames[id(node)] = node.name
                continue
            child_prefix = prefix
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                qualname = prefix + node.name
                functions.setdefault((node.name, first_line(node)), []).append(node)
                child_prefix = qualname + ".<locals>."
            elif isinstance(node, ast.Lambda):
                qualname = prefix + "<lambda>"
                functions.setdefault(("<lambda>", node.lineno), []).append(node)
                child_prefix = qualname + ".<locals>."
            elif isinstance(node, ast.ClassDef):
                qualname = prefix + node.name
                self._classes.setdefault(qualname, []).append(node)
                child_prefix = qualname + "."
            else:
                qualname = ""
            if qualname:
                self._qualnames[id(node)] = qualname
                if top is not None:
                    self._tops[id(node)] = top
            next_top = top
            if next_top is None and isinstance(
                node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
            ):
                next_top = node
            children = list(ast.iter_child_nodes(node))
            work.extend((child, child_prefix, next_top) for child in reversed(children))
        self._index_bindings(self.tree.body)
        self._functions = functions
        return functions

    def _may_nest(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
        """False for a def whose text holds no other def, lambda or class."""
        start, end = first_line(node), node.end_lineno or node.lineno
        text = "\n".join(self.lines[start - 1 : end])
        return text.count("def ") > 1 or "lambda" in text or "class " in text

    def _index_bindings(self, body: list[ast.stmt]) -> None:
        for stmt in body:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                self._bindings[stmt.name] = stmt
            elif isinstance(stmt, ast.Assign):
                for target in stmt.targets:
                    for name in _store_names(target):
                        self._bindings[name] = stmt
            elif isinstance(stmt, (ast.AnnAssign, ast.AugAssign)):
                for name in _store_names(stmt.target):
                    self._bindings[name] = stmt
            elif isinstance(stmt, (ast.Import, ast.ImportFrom)):
                for alias in stmt.names:
                    if alias.name != "*":
                        bound = alias.asname or alias.name.partition(".")[0]
                        self._bindings[bound] = stmt
            elif isinstance(stmt, (ast.If, ast.For, ast.While, ast.With, ast.Try)):
                for field in ("body", "orelse", "finalbody"):
                    self._index_bindings(getattr(stmt, field, []))
                for handler in getattr(stmt, "handlers", []):
                    self._index_bindings(handler.body)

    def functions_at(self, name: str, line: int) -> list[FuncNode]:
        return self._index().get((name, line), [])

    def classes_named(self, qualname: str) -> list[ast.ClassDef]:
        self._index()
        return self._classes.get(qualname, [])

    def qualname(self, node: ast.AST) -> str:
        self._index()
        return self._qualnames.get(id(node), "")

    def top_of(self, node: ast.AST) -> ast.stmt | None:
        """The module-level def or class that contains ``node`` (None if it is one itself)."""
        self._index()
        return self._tops.get(id(node))

    def binding(self, name: str) -> ast.stmt | None:
        """The last module-level statement that binds ``name``."""
        self._index()
        return self._bindings.get(name)

    # -- text

    def line_of(self, text: str, near: int = 1) -> int | None:
        """The first line at which ``text`` (whole lines, as :meth:`segment` returns them)
        appears, searching from about line ``near`` first; None if it does not appear."""
        if self._joined is None:
            self._joined = "\n".join(self.lines) + "\n"
            self._line_starts = [0]
            for line in self.lines:
                self._line_starts.append(self._line_starts[-1] + len(line) + 1)
        starts = self._line_starts
        hint = starts[max(0, min(near - 1, len(starts) - 1))]
        found = self._joined.find(text, max(0, hint - 20_000))
        while found != -1 and found > 0 and self._joined[found - 1] != "\n":
            found = self._joined.find(text, found + 1)
        if found == -1:
            found = self._joined.find(text)
            while found > 0 and self._joined[found - 1] != "\n":
                found = self._joined.find(text, found + 1)
        if found == -1:
            return None
        return bisect.bisect_right(starts, found)

    def segment(self, node: ast.AST) -> tuple[int, int, str]:
        start = first_line(node)
        end: int = getattr(node, "end_lineno", None) or start
        return start, end, "\n".join(self.lines[start - 1 : end]) + "\n"

    def keyed(
        self, key: str, rel: str, nodes: Sequence[ast.AST], payload: str
    ) -> tuple[str, SourceRecord]:
        """Manifest hash and source record of ``nodes`` under ``key`` (memoized: many stages
        of one pipeline reach the same helpers)."""
        memo_key = (key, rel, tuple(id(node) for node in nodes))
        found = self._keyed.get(memo_key)
        if found is None:
            segments = [self.segment(node) for node in nodes]
            if isinstance(nodes[0], ast.Module):
                record = SourceRecord(key, rel, 1, self.text)
            else:
                text = "\n".join(segment[2] for segment in segments)
                record = SourceRecord(key, rel, segments[0][0], text)
            found = (digest(key, payload), record)
            self._keyed[memo_key] = found
        return found

    # -- analyses (memoized per node)

    def function_info(
        self, node: FuncNode, outer: frozenset[str] = frozenset(), *, annotations: bool = False
    ) -> NodeInfo:
        """Analysis of a function or lambda; ``outer`` are class-body names its header sees.

        Unless ``annotations`` (the stage itself, whose annotations choose its loaders),
        names used only in annotations are marked: the walk follows them only when they
        name a class (whose methods the annotated value may run), not a type alias, since an
        alias does not change what a helper computes. The annotation text is still part of
        the function's own hash."""
        memo_key = (id(node), ("method" if outer else "function") + ("+ann" if annotations else ""))
        info = self._infos.get(memo_key)
        if info is None:
            collector = _Collector(annotations=annotations)
            outer_stack = [_Scope(set(outer), is_class=True)] if outer else []
            if isinstance(node, ast.Lambda):
                collector.visit(node, outer_stack)
            else:
                collector.visit_header(node, outer_stack)
                scope = _Scope(_arg_names(node.args) | _bound_names(node.body))
                collector.visit_all(node.body, [*outer_stack, scope])
            info = self._make_info(node, [node], collector)
            self._infos[memo_key] = info
        return info

    def class_info(self, node: ast.ClassDef) -> NodeInfo:
        """Analysis of a class body without its methods (those are analysed one by one)."""
        memo_key = (id(node), "class")
        info = self._infos.get(memo_key)
        if info is None:
            collector = _Collector()
            collector.visit_class_header(node, [])
            scope = _Scope(_bound_names(node.body), is_class=True)
            collector.visit_all(
                [stmt for stmt in node.body if not isinstance(stmt, _FUNCTION_DEFS)], [scope]
            )
            refs, imports, dynamic = collector.result()
            start, end, _ = self.segment(node)
            info = NodeInfo(
                normalized_hash([node], elide_methods=True), start, end, refs, imports, dynamic
            )
            self._infos[memo_key] = info
        return info

    def class_body_names(self, node: ast.ClassDef) -> frozenset[str]:
        names = self._class_names.get(id(node))
        if names is None:
            names = self._class_names[id(node)] = frozenset(_bound_names(node.body))
        return names

    def statement_info(self, node: ast.stmt) -> NodeInfo:
        """Analysis of a module-level statement (the fallback for values that have no repr)."""
        memo_key = (id(node), "statement")
        info = self._infos.get(memo_key)
        if info is None:
            collector = _Collector()
            collector.visit(node, [])
            info = self._make_info(node, [node], collector)
            self._infos[memo_key] = info
        return info

    def module_info(self) -> NodeInfo:
        """Analysis of the whole module, for code that uses a module object as a whole."""
        memo_key = (id(self.tree), "module")
        info = self._infos.get(memo_key)
        if info is None:
            collector = _Collector()
            collector.visit_all(self.tree.body, [])
            refs, imports, dynamic = collector.result()
            info = NodeInfo(
                normalized_hash([self.tree]), 1, max(len(self.lines), 1), refs, imports, dynamic
            )
            self._infos[memo_key] = info
        return info

    def _make_info(self, node: ast.AST, nodes: list[ast.AST], collector: _Collector) -> NodeInfo:
        refs, imports, dynamic = collector.result()
        start, end, _ = self.segment(node)
        return NodeInfo(normalized_hash(nodes), start, end, refs, imports, dynamic)


def _store_names(target: ast.expr) -> list[str]:
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, (ast.Tuple, ast.List)):
        names: list[str] = []
        for element in target.elts:
            names.extend(_store_names(element))
        return names
    if isinstance(target, ast.Starred):
        return _store_names(target.value)
    return []


def is_literal(node: ast.expr) -> bool:
    try:
        ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False
    return True


# --------------------------------------------------------------------------------------------
# the per-process cache


_FILES: dict[str, ParsedFile] = {}


def _stat_key(st: os.stat_result) -> tuple[int, int, int]:
    return st.st_ino, st.st_mtime_ns, st.st_size


def load_file(path: str) -> ParsedFile:
    """The parsed file at ``path`` (absolute), reusing this process's parse when unchanged.

    Raises OSError when the file cannot be read and SyntaxError/ValueError when it does not
    parse; callers turn those into fingerprint warnings.
    """
    st = os.stat(path)
    cached = _FILES.get(path)
    if (
        cached is not None
        and not cached.stat.racy
        and (cached.stat.ino, cached.stat.mtime_ns, cached.stat.size) == _stat_key(st)
    ):
        return cached
    with open(path, "rb") as handle:
        data = handle.read()
        st_read = os.fstat(handle.fileno())
    read_ns = time.time_ns()
    # a file that changed while it was read, or so recently that another edit could keep its
    # mtime, is racy: a cached fingerprint must check its digest, not just its stat
    racy = st_read.st_mtime_ns >= read_ns - RACY_WINDOW_NS or _stat_key(st_read) != _stat_key(st)
    digest = xxhash.xxh64(data).hexdigest()
    stat = FileStat(
        path=path,
        ino=st_read.st_ino,
        mtime_ns=st_read.st_mtime_ns,
        size=st_read.st_size,
        digest=digest,
        racy=racy,
    )
    if cached is not None and cached.stat.digest == digest:
        cached.stat = stat
        return cached
    parsed = ParsedFile(path, data, stat)
    _FILES[path] = parsed
    return parsed


def _forward_references(node: ast.expr) -> list[ast.Constant]:
    """String constants in type positions of an annotation.

    Strings that are arguments of a call (``Dep("data/a.csv")``) or metadata of ``Annotated``
    are values, not forward references: parsing ``"out/first.json"`` as an expression would
    make ``first`` look like a referenced name.
    """
    found: list[ast.Constant] = []
    pending: list[ast.AST] = [node]
    while pending:
        current = pending.pop()
        if isinstance(current, ast.Call):
            continue
        if isinstance(current, ast.Subscript) and _is_annotated(current.value):
            inner = current.slice
            pending.append(inner.elts[0] if isinstance(inner, ast.Tuple) and inner.elts else inner)
            continue
        if isinstance(current, ast.Constant):
            if isinstance(current.value, str):
                found.append(current)
            continue
        pending.extend(ast.iter_child_nodes(current))
    return found


def _is_annotated(node: ast.expr) -> bool:
    return (isinstance(node, ast.Name) and node.id == "Annotated") or (
        isinstance(node, ast.Attribute) and node.attr == "Annotated"
    )
