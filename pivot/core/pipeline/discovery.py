"""Load ``pipeline.py`` and collect its stages.

The project root goes on ``sys.path`` first, so ``pipeline.py`` can import sibling modules
(``helpers.py``, packages) without any PYTHONPATH setup.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.abc
import importlib.machinery
import importlib.util
import marshal
import os
import sys
import traceback
import types
from collections.abc import Sequence
from pathlib import Path

import xxhash

from pivot import registry
from pivot._frames import INSTALL_PANDAS
from pivot.core.store.atomic import write_bytes_atomic
from pivot.core.store.paths import (
    NON_PROJECT_DIRS,
    PIPELINE_FILE,
    PIVOT_DIR,
    PivotPaths,
    normalize_path,
)
from pivot.exceptions import PipelineError, PivotError, ProjectError, StageDefinitionError
from pivot.registry import StageSpec

MODULE_NAME = "pipeline"
MATRIX_FILE = "pivot.yaml"
#: The stages file's names, in the order they are looked for (one of them may exist).
MATRIX_FILES = (MATRIX_FILE, "pivot.yml")


@dataclasses.dataclass(frozen=True)
class PipelineDefinition:
    """The stages of a project, in registration order, with paths relative to the root."""

    root: Path
    stages: dict[str, StageSpec]
    #: Stage -> the folder whose own pipeline.py defined it (absent: the root's).
    folders: dict[str, str] = dataclasses.field(default_factory=dict)

    def __getitem__(self, name: str) -> StageSpec:
        return self.stages[name]

    def __contains__(self, name: object) -> bool:
        return name in self.stages

    def __len__(self) -> int:
        return len(self.stages)


def is_project_module_file(file: str | None, root: Path) -> bool:
    """True for a source file of the project (not of a virtualenv inside it)."""
    if not file:
        return False
    try:
        rel = Path(file).resolve().relative_to(root)
    except ValueError:
        return False
    return NON_PROJECT_DIRS.isdisjoint(rel.parts)


def project_module_files(root: Path) -> list[str]:
    """The files of the project's modules imported in this process, sorted."""
    return sorted(
        str(getattr(m, "__file__", ""))
        for m in list(sys.modules.values())
        if is_project_module_file(getattr(m, "__file__", None), root)
    )


def code_token(root: Path) -> str:
    """Identifies the project code loaded in this process: workers reload when it differs."""
    digest = xxhash.xxh64()
    # pivot.yaml is imported too: a worker must reload when it changes.
    for file in [*project_module_files(root), *(str(root / name) for name in MATRIX_FILES)]:
        with contextlib.suppress(OSError):
            st = os.stat(file)
            digest.update(f"{file}:{st.st_mtime_ns}:{st.st_size};".encode())
    return digest.hexdigest()


class FreshSourceLoader(importlib.machinery.SourceFileLoader):
    """Loads a project module's code only if it was compiled from the very bytes on disk.

    Python's default ``.pyc`` is validated by the source's mtime in whole seconds plus its
    size, so a same-size edit saved within the second of the last import would load stale
    code: the stage would run, and be fingerprinted, as it was before the edit. Compiling
    every time is safe but costs ~0.4 ms and ~40 kB of peak memory per stage in every process
    (1.8 s and 200 MB for a 5,000-stage ``pipeline.py``). So this loader keeps *checked
    hash-based* bytecode (PEP 552), used only when the hash of the current source bytes equals
    the one it was compiled from, in ``.pivot/cache/bytecode/`` (local, never committed):
    ``__pycache__`` folders, which a repository could ship, are neither read nor written.
    """

    def __init__(self, fullname: str, path: str, root: Path | None = None) -> None:
        super().__init__(fullname, path)
        self.root = root

    def get_code(self, fullname: str) -> types.CodeType:
        path = self.get_filename(fullname)
        source = self.get_data(path)
        cache = self._bytecode_path(path)
        if cache is None:
            return self.source_to_code(source, path)
        source_hash = importlib.util.source_hash(source)
        code = _read_hash_pyc(cache, source_hash)
        if code is None:
            code = _compile_once(source, path) or self.source_to_code(source, path)
            if not sys.dont_write_bytecode:
                _write_hash_pyc(cache, source_hash, code)
        return code

    def _bytecode_path(self, path: str) -> Path | None:
        tag = sys.implementation.cache_tag
        if self.root is None or tag is None:
            return None
        paths = PivotPaths(self.root)
        if not paths.pivot_dir.is_dir():
            return None
        try:
            rel = Path(path).resolve().relative_to(self.root)
        except (OSError, ValueError):
            return None
        opt = f".opt-{sys.flags.optimize}" if sys.flags.optimize else ""
        return paths.bytecode / f"{rel.as_posix()}.{tag}{opt}.pyc"


def _compile_once(source: bytes, path: str) -> types.CodeType | None:
    """Code compiled from the syntax tree the code fingerprint parses anyway, so an edited
    ``pipeline.py`` of thousands of stages is parsed once, not twice (~0.3 s at 2,000
    stages); None when that parse is not of these very bytes."""
    import xxhash

    from pivot.core.pipeline.fingerprint._parse import load_file

    try:
        parsed = load_file(path)
    except (OSError, SyntaxError, ValueError):
        return None
    if parsed.stat.digest != xxhash.xxh64(source).hexdigest():
        return None
    return compile(parsed.tree, path, "exec", dont_inherit=True)


_CHECKED_HASH_PYC = (0b11).to_bytes(4, "little")  # PEP 552 flags: hash-based, checked


def _read_hash_pyc(cache: Path, source_hash: bytes) -> types.CodeType | None:
    try:
        with open(cache, "rb") as handle:
            data = handle.read()
    except OSError:
        return None
    header = importlib.util.MAGIC_NUMBER + _CHECKED_HASH_PYC + source_hash
    if not data.startswith(header):
        return None
    try:
        code = marshal.loads(data[len(header) :])
    except (EOFError, ValueError, TypeError):
        return None
    return code if isinstance(code, types.CodeType) else None


def _write_hash_pyc(cache: Path, source_hash: bytes, code: types.CodeType) -> None:
    data = importlib.util.MAGIC_NUMBER + _CHECKED_HASH_PYC + source_hash + marshal.dumps(code)
    with contextlib.suppress(OSError):
        write_bytes_atomic(cache, data)


class ProjectModuleFinder(importlib.abc.MetaPathFinder):
    """Gives the project's own modules a :class:`FreshSourceLoader`."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if (
            spec is None
            or spec.origin is None
            or type(spec.loader) is not importlib.machinery.SourceFileLoader
            or not is_project_module_file(spec.origin, self.root)
        ):
            return None
        spec.loader = FreshSourceLoader(fullname, spec.origin, self.root)
        return spec


def _install_finder(root: Path) -> None:
    if not any(isinstance(f, ProjectModuleFinder) and f.root == root for f in sys.meta_path):
        sys.meta_path.insert(0, ProjectModuleFinder(root))


def purge_project_modules(root: Path) -> None:
    """Forget imported project modules so the next load sees edited code."""
    for name, module in list(sys.modules.items()):
        if is_project_module_file(getattr(module, "__file__", None), root):
            del sys.modules[name]


def unload_project(root: Path) -> None:
    """Forget everything importing ``root`` left in this process: its modules, its entry on
    ``sys.path`` and its module finder."""
    purge_project_modules(root)
    root_str = str(root)
    while root_str in sys.path:
        sys.path.remove(root_str)
    sys.meta_path[:] = [
        f for f in sys.meta_path if not (isinstance(f, ProjectModuleFinder) and f.root == root)
    ]


def has_pipeline(root: Path) -> bool:
    """Whether ``root`` defines stages at all (a data-only project, such as a data registry of
    tracked files and imports, has none)."""
    return (root / PIPELINE_FILE).is_file() or stages_file(root) is not None


def load_pipeline(root: Path, *, fresh: bool = False) -> PipelineDefinition:
    """Import ``root/pipeline.py`` and return its stages.

    With ``fresh``, project modules imported earlier in this process are dropped first.
    """
    path = root / PIPELINE_FILE
    if not has_pipeline(root):
        raise PipelineError(
            f"no {PIPELINE_FILE} or {MATRIX_FILE} in {root}; create one that registers your stages"
        )
    if fresh:
        purge_project_modules(root)
    root_str = str(root)
    if root_str not in sys.path:
        sys.path.insert(0, root_str)
    _install_finder(root)
    registry.begin_collection()
    subs = sub_pipeline_files(root)
    for sub in subs:
        # Executed again on every load, like the root pipeline.py: a module kept from an
        # earlier load would not create its pipelines again (and pipeline.py may import it).
        sys.modules.pop(".".join(sub.relative_to(root).with_suffix("").parts), None)
    if path.is_file():
        _exec_pipeline_file(path, root)
    matrix_file = stages_file(root)
    if matrix_file is not None:
        load_matrix_file(matrix_file, root)
    for sub in subs:
        _import_sub_pipeline(sub, root)
    return collect(root)


def sub_pipeline_files(root: Path) -> list[Path]:
    """``pipeline.py`` files of the root's sub-folders (one level down), in name order.

    Hidden folders, virtualenvs and the like, and folders that are projects of their own
    (holding a ``.pivot/``) are skipped. Only the root is listed: listing every folder would
    make the no-op fast path distrust its record whenever a stage adds a file to ``data/``.
    Each candidate is probed by opening it, which the fast path watches (a stat it would
    not), so a ``pipeline.py`` added later is noticed.
    """
    found: list[Path] = []
    try:
        with os.scandir(root) as entries:
            subdirs = sorted(
                Path(entry.path)
                for entry in entries
                if entry.is_dir(follow_symlinks=False)
                and not entry.name.startswith(".")
                and entry.name not in NON_PROJECT_DIRS
            )
    except OSError:
        return []
    for sub in subdirs:
        candidate = sub / PIPELINE_FILE
        try:
            with open(candidate, "rb"):
                pass
        except OSError:
            continue
        if not (sub / PIVOT_DIR).exists():
            found.append(candidate)
    return found


def sub_pipeline_module(path: Path, root: Path) -> str:
    """The module name a sub-folder's pipeline.py is imported as (``analysis.pipeline``), so
    that another pipeline importing it (for a handle) gets the same module, loaded once."""
    parts = path.relative_to(root).with_suffix("").parts
    if not all(part.isidentifier() for part in parts):
        raise PipelineError(
            f"{path.relative_to(root).as_posix()}: a folder holding a pipeline.py must be "
            "named like a Python module (letters, digits, '_'); rename it"
        )
    return ".".join(parts)


def _import_sub_pipeline(path: Path, root: Path) -> None:
    name = sub_pipeline_module(path, root)
    rel = path.relative_to(root).as_posix()
    try:
        importlib.import_module(name)
    except PivotError as exc:
        if isinstance(exc, PipelineError) and not str(exc).startswith(f"{path.name}:"):
            raise type(exc)(f"{rel}: {exc}") from exc
        raise
    except SyntaxError as exc:
        raise PipelineError(f"{rel}:{exc.lineno}: syntax error: {exc.msg}; fix it") from exc
    except Exception as exc:
        raise PipelineError(
            f"{rel} failed to load at {_user_frame(exc, root)}: {type(exc).__name__}: {exc}"
            f"{_install_hint(exc)}"
        ) from exc


def _exec_pipeline_file(path: Path, root: Path) -> None:
    spec = importlib.util.spec_from_file_location(
        MODULE_NAME, path, loader=FreshSourceLoader(MODULE_NAME, str(path), root)
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[MODULE_NAME] = module
    try:
        spec.loader.exec_module(module)
    except PivotError as exc:
        sys.modules.pop(MODULE_NAME, None)
        raise _located(exc, path) from exc
    except SyntaxError as exc:
        sys.modules.pop(MODULE_NAME, None)
        where = f"{Path(exc.filename or path).name}:{exc.lineno}"
        raise PipelineError(f"{where}: syntax error: {exc.msg}; fix it and run again") from exc
    except Exception as exc:
        sys.modules.pop(MODULE_NAME, None)
        raise PipelineError(
            f"{PIPELINE_FILE} failed to load at {_user_frame(exc, root)}: "
            f"{type(exc).__name__}: {exc}{_install_hint(exc)}"
        ) from exc


def _install_hint(exc: BaseException) -> str:
    """Advice for the optional libraries Pivot's own extras provide (pandas for DataFrames)."""
    if isinstance(exc, ImportError) and exc.name in ("pandas", "pyarrow"):
        return f"; {INSTALL_PANDAS}"
    return ""


def load_matrix_file(path: Path, root: Path) -> None:
    """Register the stages of ``pivot.yaml`` (see :mod:`pivot.core.pipeline.stages_file`)."""
    from pivot.core.pipeline.stages_file import load_stages_file

    load_stages_file(path)


def stages_file(root: Path) -> Path | None:
    """The project's ``pivot.yaml`` or ``pivot.yml``; PipelineError when both exist."""
    found = [root / name for name in MATRIX_FILES if (root / name).is_file()]
    if len(found) > 1:
        raise PipelineError(f"both {' and '.join(MATRIX_FILES)} exist in {root}; keep one of them")
    return found[0] if found else None


def collect(root: Path) -> PipelineDefinition:
    """Gather the stages of every Pipeline created during the load, normalizing paths."""
    stages: dict[str, StageSpec] = {}
    folders: dict[str, str] = {}
    for pipeline in registry.collected_pipelines():
        folder = _sub_folder(pipeline, root)
        namespace = (
            pipeline.name if folder is not None and pipeline is not registry.REGISTRY else None
        )
        for spec in pipeline.stages:
            if namespace is not None and "/" not in spec.name:
                name = f"{namespace}/{spec.name}"
                registry.validate_stage_name(name)
                spec = dataclasses.replace(spec, name=name)
            if spec.name in stages:
                raise StageDefinitionError(
                    f"two stages are named '{spec.name}'; give one another name with "
                    "register(fn, name=...)"
                )
            try:
                stages[spec.name] = spec.with_paths(lambda p: normalize_path(p, root))
                if folder is not None:
                    folders[spec.name] = folder
            except ProjectError as exc:
                raise StageDefinitionError(f"stage '{spec.name}': {exc}") from None
    return PipelineDefinition(root, stages, folders)


def _sub_folder(pipeline: registry.Pipeline, root: Path) -> str | None:
    """The folder whose own pipeline.py created ``pipeline``; None for the root's pipelines
    (their register() stages keep the names they always had) and those of other modules.
    Stages a sub-folder's pipeline registers are named ``<pipeline>/<stage>``."""
    source = pipeline.defined_in
    if not source or Path(source).name != PIPELINE_FILE:
        return None
    try:
        rel = Path(source).resolve().relative_to(root.resolve())
    except (OSError, ValueError):
        return None
    return rel.parts[0] if len(rel.parts) == 2 else None


def _located(exc: PivotError, path: Path) -> PivotError:
    if not isinstance(exc, PipelineError) or str(exc).startswith(f"{path.name}:"):
        return exc  # already located (composed stages name the line of the call)
    return type(exc)(f"{path.name}: {exc}")


def _user_frame(exc: BaseException, root: Path) -> str:
    """file:line of the innermost frame inside the project, for a one-line error."""
    where = PIPELINE_FILE
    for frame in traceback.extract_tb(exc.__traceback__):
        if is_project_module_file(frame.filename, root):
            where = f"{Path(frame.filename).resolve().relative_to(root).as_posix()}:{frame.lineno}"
    return where
