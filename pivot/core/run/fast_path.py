"""Answer a no-op `run` or `status` from stats alone, without importing ``pipeline.py``.

When an evaluation leaves every stage of the pipeline up to date, Pivot records what that
answer rests on: every file the evaluation read (code, params and config files, anything
``pipeline.py`` opened or listed while it was imported), every dep and output (each file of a
folder, and each folder's own listing), the lock files, and the interpreter and installed
packages. The next `run` or `status` re-stats those paths (inode, mtime in ns and size: the
rule of the hash cache). If none moved, the recorded answer is still the answer and the
pipeline is never imported; anything else falls back to the full evaluation.

Why a record can be trusted: deps and outputs are verified against the lock files when the
record is written (by hash, through the stat-keyed hash cache), so the record never claims
more than the locks say. Files read during the evaluation are stat'ed when first opened and
again when the record is written; a file that changed in between makes no record.

Not seen (documented): environment variables read by ``pipeline.py`` and code outside the
project that is not an installed package (the full evaluation does not version it either).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import sys
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

import xxhash

from pivot.core.run import history
from pivot.core.run.events import (
    EventSink,
    RunFinished,
    RunStarted,
    RunSummary,
    StageFinished,
    StageStatus,
)
from pivot.core.store.paths import NON_PROJECT_DIRS, PARAMS_FILE, PIPELINE_FILE, PIVOT_DIR
from pivot.core.store.run_lock import ProjectRunLock
from pivot.core.store.state import DB_FAST_PATH, StateDB
from pivot.exceptions import PivotError

if TYPE_CHECKING:
    from pivot.core.pipeline.discovery import PipelineDefinition, StageSpec
    from pivot.core.pipeline.graph import StageGraph
    from pivot.core.project import Project
    from pivot.core.store.artifacts import ArtifactHasher
    from pivot.core.store.lock import StageLock

_VERSION = 3
_KEY = b"up-to-date"
#: Longer than a file-timestamp tick: a file modified this recently when the record is
#: written could change again without its stat moving, so the record waits this long first.
RACY_NS = 10_000_000

#: (inode, mtime_ns, size), or None for a path that does not exist.
Stat = tuple[int, int, int] | None


def stat_of(path: str) -> Stat:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


# -- what the evaluation read ----------------------------------------------------------------


class Observations:
    """Paths read while Pivot evaluated the pipeline, each with its stat when first read."""

    def __init__(self, root: Path) -> None:
        self.root = str(root)
        self._prefix = self.root.rstrip(os.sep) + os.sep
        self.seen: dict[str, Stat] = {}

    def note(self, path: str) -> None:
        """Remember ``path`` (absolute) with its stat now, unless it is not the project's."""
        if path in self.seen or not self._is_project_path(path):
            return
        self.seen[path] = stat_of(path)

    def record(self, path: str, st: os.stat_result | None) -> None:
        """Remember ``path`` with a stat already taken (the first one wins)."""
        if path not in self.seen:
            self.seen[path] = (st.st_ino, st.st_mtime_ns, st.st_size) if st is not None else None

    def _is_project_path(self, path: str) -> bool:
        if not path.startswith(self._prefix):
            return False
        parts = path[len(self._prefix) :].split(os.sep)
        return not any(part in NON_PROJECT_DIRS for part in parts)


_active: Observations | None = None
_hook_installed = False
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


def _audit(event: str, args: tuple[Any, ...]) -> None:
    observations = _active
    if observations is None:
        return
    if event == "open":
        path, mode, flags = args
        if isinstance(mode, str):
            if any(c in mode for c in "wax+"):
                return
        elif isinstance(flags, int) and flags & _WRITE_FLAGS:
            return
    elif event not in ("os.listdir", "os.scandir"):
        return
    else:
        path = args[0]
    if isinstance(path, int) or path is None:
        return
    with suppress(TypeError, ValueError):
        observations.note(os.path.abspath(os.fsdecode(path)))


@contextmanager
def observing(observations: Observations | None) -> Iterator[None]:
    """Note every project file this process opens for reading (and every folder it lists)
    while the block runs. An audit hook cannot be removed, so one is installed per process
    and stays idle outside these blocks."""
    global _active, _hook_installed
    if not _hook_installed:
        sys.addaudithook(_audit)
        _hook_installed = True
    previous, _active = _active, observations
    try:
        yield
    finally:
        _active = previous


# -- the environment -------------------------------------------------------------------------


@functools.cache
def environment_key(root: Path) -> str:
    """The interpreter, Pivot's own code and every installed-package folder on ``sys.path``
    (a folder's mtime moves when a package is installed, upgraded or removed)."""
    digest = xxhash.xxh64()
    digest.update(f"{sys.version}|{sys.executable}|{os.environ.get('PYTHONPATH', '')}".encode())
    # sys.path[0] is where the command started (the script's folder, or the cwd with -m):
    # it differs between `pivot` and `python -m pivot` and holds no installed packages.
    skip = {"", ".", str(root), sys.path[0] if sys.path else ""}
    for entry in sys.path:
        if entry not in skip:
            digest.update(f"{entry}:{stat_of(entry)};".encode())
    package = Path(__file__).resolve().parents[2]
    for folder, dirnames, filenames in os.walk(package):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for name in sorted(filenames):
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                digest.update(f"{path}:{stat_of(path)};".encode())
    return digest.hexdigest()


# -- the record ------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class UpToDate:
    """Every stage was up to date when the paths had these stats."""

    environment: str
    executor: str  # the executor kind the config files named ("local" or "dask")
    stats: dict[str, Stat]  # absolute path -> stat
    order: tuple[str, ...]  # run order
    upstream: dict[str, tuple[str, ...]]
    warnings: dict[str, tuple[str, ...]]  # stages whose code analysis warned
    #: The resources each stage declares (stages that declare none are left out).
    resources: dict[str, dict[str, float]] = dataclasses.field(default_factory=dict)
    #: Stage -> (absolute file, name) of its function, for stages whose body edits
    #: :mod:`pivot.core.run.edit_path` can answer without importing the pipeline.
    functions: dict[str, tuple[str, str]] = dataclasses.field(default_factory=dict)

    def is_current(self, environment: str) -> bool:
        if environment != self.environment:
            return False
        return all(stat_of(path) == recorded for path, recorded in self.stats.items())

    def select(self, targets: Iterable[str], *, no_deps: bool = False) -> list[str] | None:
        """The stages ``targets`` name plus their upstream (all when none), in run order;
        None when a name is unknown (the full evaluation reports it)."""
        from pivot.core.pipeline.selection import expand_targets

        names = expand_targets(targets, self.order)
        if not names:
            return list(self.order)
        if any(name not in self.upstream for name in names):
            return None
        wanted = set(names)
        if not no_deps:
            stack = list(names)
            while stack:
                for up in self.upstream[stack.pop()]:
                    if up not in wanted:
                        wanted.add(up)
                        stack.append(up)
        return [name for name in self.order if name in wanted]

    def to_json(self, root: Path) -> bytes:
        prefix = str(root).rstrip(os.sep) + os.sep
        return json.dumps(
            {
                "version": _VERSION,
                "environment": self.environment,
                "executor": self.executor,
                "stats": {
                    (p[len(prefix) :] if p.startswith(prefix) else p): s
                    for p, s in self.stats.items()
                },
                "order": self.order,
                "upstream": self.upstream,
                "warnings": self.warnings,
                "resources": self.resources,
                "functions": {
                    stage: [path[len(prefix) :] if path.startswith(prefix) else path, name]
                    for stage, (path, name) in self.functions.items()
                },
            },
            separators=(",", ":"),
        ).encode()

    @classmethod
    def from_json(cls, data: bytes, root: Path) -> UpToDate | None:
        try:
            raw = json.loads(data)
            if raw.get("version") != _VERSION:
                return None
            return cls(
                environment=str(raw["environment"]),
                executor=str(raw["executor"]),
                stats={
                    os.path.join(root, p): (tuple(s) if s is not None else None)
                    for p, s in raw["stats"].items()
                },
                order=tuple(raw["order"]),
                upstream={k: tuple(v) for k, v in raw["upstream"].items()},
                warnings={k: tuple(v) for k, v in raw["warnings"].items()},
                resources={k: dict(v) for k, v in raw["resources"].items()},
                functions={
                    stage: (os.path.join(root, path), str(name))
                    for stage, (path, name) in raw["functions"].items()
                },
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            return None


def load(state: StateDB, root: Path) -> UpToDate | None:
    data = state.get(DB_FAST_PATH, _KEY)
    return UpToDate.from_json(data, root) if data is not None else None


def forget(state: StateDB) -> None:
    state.delete(DB_FAST_PATH, _KEY)


def save(state: StateDB, root: Path, record: UpToDate) -> None:
    state.put_many(DB_FAST_PATH, [(_KEY, record.to_json(root))])


def fresh_stats(observed: dict[str, Stat]) -> dict[str, Stat] | None:
    """``observed`` if every path still has the stat it had when read; else None.

    A file modified within the last timestamp tick could change again without its stat
    moving, so when the newest one is that recent this waits the tick out first (at most
    ``RACY_NS``); a modification time in the future makes no record at all."""
    newest = max((s[1] for s in observed.values() if s is not None), default=0)
    wait = RACY_NS - (time.time_ns() - newest)
    if wait > RACY_NS:
        return None
    if wait > 0:
        time.sleep(wait / 1e9)
    if any(stat_of(path) != recorded for path, recorded in observed.items()):
        return None
    return observed


#: What a skipped stage's reason says (the planner's word for it).
UP_TO_DATE = "up to date"


def _fixed_paths(root: Path) -> list[str]:
    """Files whose mere appearance changes what an evaluation would find."""
    from pivot.core.config_files import Scope, config_path
    from pivot.core.pipeline.discovery import MATRIX_FILES

    paths = [root / PIPELINE_FILE, *(root / name for name in MATRIX_FILES)]
    paths += [root / PARAMS_FILE, root / ".pivotignore"]
    paths += [config_path(scope, root) for scope in Scope]
    paths.append(root / PIVOT_DIR / "stages")
    return [str(path) for path in paths]


def _is_under(path: str, roots: set[str]) -> bool:
    probe = path
    while probe not in roots:
        parent = os.path.dirname(probe)
        if parent == probe:
            return False
        probe = parent
    return True


def _matches_lock(lock: StageLock, spec: StageSpec, hasher: ArtifactHasher) -> bool:
    """Every dep and output of ``spec`` is in the workspace with the hash ``lock`` records."""
    deps = lock.dep_hashes()
    for path in spec.dep_paths:
        current = hasher.hash_path(path)
        if current is None or deps.get(path) != current.hash:
            return False
    outs = lock.out_records()
    for out in spec.outs:
        current = hasher.hash_path(out.path)
        recorded = outs.get(out.path)
        if current is None or recorded is None or recorded.hash != current.hash:
            return False
    return True


def configured_executor(root: Path) -> str:
    """The executor kind the config files name (what a run without --executor uses)."""
    from pivot.core.config_files import any_config_file

    if not any_config_file(root):
        return "local"
    from pivot.core.config import load_config

    return str(load_config(root).executor.kind)


class Recorder:
    """Collects what one evaluation reads; when it ends with everything up to date, writes
    the record the next no-op answers from (and otherwise removes any older one)."""

    def __init__(self, project: Project, executor: str) -> None:
        self.project = project
        self.executor = executor
        self.environment = environment_key(project.root)
        self.read = Observations(project.root)

    def note_code(self, files: Iterable[str]) -> None:
        """The project's imported modules (usually already seen being opened)."""
        for file in files:
            self.read.note(file)

    def forget(self) -> None:
        forget(self.project.state)

    def record(
        self,
        pipeline: PipelineDefinition,
        graph: StageGraph,
        warnings: Mapping[str, tuple[str, ...]],
    ) -> bool:
        """Verify every stage's deps and outputs against its lock, then save the record.
        False (and no record) when anything does not match or moved meanwhile."""
        from pivot.core.store.artifacts import ArtifactHasher

        project = self.project
        verified = Observations(project.root)
        hasher = ArtifactHasher(project.root, project.state, observe=verified.record)
        covered: set[str] = set()
        locks: dict[str, StageLock] = {}
        try:
            for name in graph.order:
                lock_file = str(project.paths.lock_file(name))
                verified.record(lock_file, _stat_or_none(lock_file))
                lock = project.locks.read(name)
                spec = pipeline[name]
                if lock is None or not _matches_lock(lock, spec, hasher):
                    self.forget()
                    return False
                locks[name] = lock
                covered.update(str(project.root / path) for path in spec.dep_paths)
                covered.update(str(project.root / out.path) for out in spec.outs)
        except (PivotError, OSError):
            self.forget()
            return False
        finally:
            hasher.flush()
        # Files read as deps or outputs were verified just now; what the evaluation saw of
        # them earlier (an output before its stage rewrote it) is not the record's business.
        read = {p: s for p, s in self.read.seen.items() if not _is_under(p, covered)}
        for path in _fixed_paths(project.root):
            if path not in read:
                read[path] = stat_of(path)
        stats = fresh_stats({**read, **verified.seen})
        if stats is None:
            self.forget()
            return False
        from pivot.core.run import edit_path

        edit_path.remember_shapes(project, stats)
        record = UpToDate(
            environment=self.environment,
            executor=self.executor,
            stats=stats,
            order=graph.order,
            upstream={name: tuple(sorted(graph.upstream[name])) for name in graph.order},
            warnings={name: tuple(w) for name, w in warnings.items() if w},
            resources={
                name: dict(pipeline[name].resources)
                for name in graph.order
                if pipeline[name].resources
            },
            functions=edit_path.stage_functions(project, pipeline, locks),
        )
        save(project.state, project.root, record)
        return True


def _stat_or_none(path: str) -> os.stat_result | None:
    try:
        return os.stat(path)
    except OSError:
        return None


# -- answering from the record ---------------------------------------------------------------


def current_record(project: Project) -> UpToDate | None:
    """The record, if every path it names still has its recorded stat."""
    record = load(project.state, project.root)
    if record is None or not record.is_current(environment_key(project.root)):
        return None
    return record


def status_rows(project: Project, targets: Iterable[str]) -> list[dict[str, Any]] | None:
    """`status` rows of the named stages and their upstream, or None to evaluate in full."""
    record = current_record(project)
    selected = record.select(targets) if record is not None else None
    if record is None or selected is None:
        return None
    return [
        {
            "stage": name,
            "action": "skip",
            "reason": UP_TO_DATE,
            "changes": [],
            "status": "cached",
            "warnings": list(record.warnings.get(name, ())),
            "resources": record.resources.get(name, {}),
        }
        for name in selected
    ]


@dataclasses.dataclass(frozen=True)
class NoOpRun:
    """The parts of a run request the fast path can answer."""

    targets: tuple[str, ...] = ()
    dry_run: bool = False
    jobs: int | None = None
    no_deps: bool = False
    executor: str | None = None  # from the command line; None: what the config says
    #: Capacities from the command line (``--resources``).
    resources: Mapping[str, float] = dataclasses.field(default_factory=dict)


def run_no_op(project: Project, request: NoOpRun, emit: EventSink) -> RunSummary | None:
    """Replay a run that finds every selected stage up to date, or None to run in full."""
    if request.executor not in (None, "local"):
        return None
    lock = None if request.dry_run else ProjectRunLock(project.paths.run_lock)
    if lock is not None and not lock.acquire(wait=False):
        return None  # the full path waits or refuses, with its messages
    try:
        record = current_record(project)
        if record is None or (request.executor is None and record.executor != "local"):
            return None
        selected = record.select(request.targets, no_deps=request.no_deps)
        if selected is None or not _resources_fit(project, record, selected, request):
            return None
        return _replay(project, selected, request, emit)
    finally:
        if lock is not None:
            lock.release()


def _resources_fit(
    project: Project, record: UpToDate, selected: list[str], request: NoOpRun
) -> bool:
    """Whether every selected stage fits the run's capacities (else the full evaluation
    gives the error); loads the config only when a stage declares resources."""
    wanted = {name: record.resources[name] for name in selected if name in record.resources}
    if not wanted:
        return True
    from pivot.core.config import configured_capacities
    from pivot.core.run.resources import resolve_capacities
    from pivot.exceptions import ResourceError

    capacities = resolve_capacities(
        configured_capacities(project.root), request.resources, record.resources
    )
    try:
        capacities.check(wanted)
    except ResourceError:
        return False
    return True


def _replay(project: Project, selected: list[str], request: NoOpRun, emit: EventSink) -> RunSummary:
    from pivot.core.run.jobs import default_jobs

    run_id = history.new_run_id()
    started = time.time()
    jobs = 0 if request.dry_run else max(1, request.jobs or default_jobs(project.root).jobs)
    emit(RunStarted(run_id=run_id, stages=tuple(selected), jobs=jobs, dry_run=request.dry_run))
    for name in selected:
        emit(
            StageFinished(run_id=run_id, stage=name, status=StageStatus.SKIPPED, reason=UP_TO_DATE)
        )
    statuses = dict.fromkeys(selected, StageStatus.SKIPPED)
    summary = RunSummary(
        run_id, statuses, dict.fromkeys(selected, UP_TO_DATE), time.time() - started, 0
    )
    if not request.dry_run:
        with suppress(PivotError, OSError):
            history.record_run(project, summary, started, dict.fromkeys(selected, 0.0))
    emit(RunFinished(run_id=run_id, counts=summary.counts, duration=summary.duration, exit_code=0))
    return summary
