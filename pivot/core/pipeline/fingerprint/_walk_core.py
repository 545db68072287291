"""The walker's state and bookkeeping: the manifest being built, keys, parsed files, the queue.

The other parts (``_walk_values``, ``_walk_functions``, ``_walk_classes``, ``_walk_names``,
``_walk_canon``) are mixins over this base; the stubs below are the methods they call across
parts, so each part type-checks on its own.
"""

from __future__ import annotations

import ast
import os
import sys
import types
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from pathlib import PurePath

from pivot.core.pipeline.fingerprint._classify import (
    Kind,
    ProjectFiles,
    distributions_of,
    is_stdlib,
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
    FuncNode,
    NodeInfo,
    ParsedFile,
    load_file,
)
from pivot.core.pipeline.fingerprint._walk_util import (
    _INSTALLED_DIRS,
    _MISSING,
    _Context,
    _Hint,
)


class WalkerBase:
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

    # -- implemented by the other parts -------------------------------------------------

    def _canon(self, value: object, hint: _Hint, depth: int, active: set[int]) -> str:
        raise NotImplementedError

    def _canon_call_args(
        self, args: Sequence[object], keywords: Mapping[str, object], hint: _Hint
    ) -> str:
        raise NotImplementedError

    def _class_kind(self, cls: type) -> tuple[Kind, str]:
        raise NotImplementedError

    def _enqueue_class_node(
        self,
        parsed: ParsedFile,
        rel: str,
        node: ast.ClassDef,
        cls: type | None,
        namespace: Mapping[str, object],
        modpath: str,
    ) -> str:
        raise NotImplementedError

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
        raise NotImplementedError

    def _find_function(self, parsed: ParsedFile, code: types.CodeType) -> FuncNode | None:
        raise NotImplementedError

    def _resolve_info(self, context: _Context, info: NodeInfo) -> None:
        raise NotImplementedError

    def _visit_class(self, cls: type) -> str:
        raise NotImplementedError

    def _visit_closure(self, closure: Mapping[str, object], label: str) -> None:
        raise NotImplementedError

    def _visit_defaults(self, fn: types.FunctionType, node: FuncNode, label: str) -> None:
        raise NotImplementedError

    def _visit_enclosing(
        self,
        parsed: ParsedFile,
        rel: str,
        top: ast.stmt,
        namespace: Mapping[str, object],
        modpath: str,
    ) -> None:
        raise NotImplementedError

    def _visit_function(self, fn: types.FunctionType, hint: _Hint) -> str:
        raise NotImplementedError

    def _visit_module(self, module: types.ModuleType) -> str:
        raise NotImplementedError

    def _visit_pivot_class(self, cls: type) -> None:
        raise NotImplementedError

    def visit_value(self, value: object, hint: _Hint) -> str:
        raise NotImplementedError
