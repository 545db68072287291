"""The engine: run what is stale, in dependency order, and commit the results.

Drive it as a library::

    engine = Engine(Project.discover())
    summary = engine.run(RunRequest(targets=("train",)), emit=print)

It emits :mod:`pivot.core.run.events` as it goes. The loop lives in the calling thread; stages
run in the executor's processes. A stage is decided (skip / restore / run) only when all its
upstream stages have finished, so a stage whose upstream re-ran but wrote identical bytes is
still skipped.
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import dataclasses
import gc
import json
import threading
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pivot.core.pipeline.discovery import (
    PipelineDefinition,
    code_token,
    load_pipeline,
    project_module_files,
)
from pivot.core.pipeline.graph import (
    StageGraph,
    build_graph,
    check_sources_exist,
    missing_sources,
)
from pivot.core.pipeline.selection import expand_targets
from pivot.core.project import Project
from pivot.core.run import fast_path, history
from pivot.core.run.checkout import restore_record
from pivot.core.run.events import (
    EventSink,
    Message,
    RunFinished,
    RunStarted,
    RunSummary,
    StageFinished,
    StageLog,
    StageLogPending,
    StageQueued,
    StageStarted,
    StageStatus,
    StageWaiting,
)
from pivot.core.run.executors import Executor, LocalExecutor, WorkerLost
from pivot.core.run.history import new_run_id
from pivot.core.run.logs import LogTail
from pivot.core.run.planner import Action, Decision, Planner, StageInputs
from pivot.core.run.resources import Capacities, Shortage, resolve_capacities, waiting_reason
from pivot.core.run.worker import StageOutcome, StageTask
from pivot.core.store.atomic import is_temp_path, remove_path
from pivot.core.store.links import unshare
from pivot.core.store.lock import RESTORED, DepRecord, OutRecord, StageLock
from pivot.core.store.run_lock import ProjectRunLock
from pivot.core.store.sweep import sweep_leftovers
from pivot.exceptions import CacheError, IncrementalStateError, PivotError, UsageError

if TYPE_CHECKING:
    from pivot.core.remote import RemoteRuns
    from pivot.core.run.fast_path import Recorder

_POLL_SECONDS = 0.05


@dataclasses.dataclass(frozen=True)
class RunRequest:
    targets: tuple[str, ...] = ()
    force: bool = False
    keep_going: bool = False
    dry_run: bool = False
    jobs: int | None = None
    #: Run only the named stages, not their upstream (for `pivot run --single`).
    no_deps: bool = False
    #: Wait for another run of the project to finish instead of stopping.
    wait: bool = False
    #: Let an incremental output start over when its previous version is not in the cache.
    allow_uncached_incremental: bool = False
    #: Resource capacities from the command line (``--resources gpu=1``), over the config's.
    resources: Mapping[str, float] = dataclasses.field(default_factory=dict)


#: Uncached outputs up to this size are cached anyway, for the run cache (metrics, plot data).
_SMALL_OUTPUT = 1 << 20


def _remote_runs(project: Project) -> RemoteRuns | None:
    """Earlier runs on the default remote, when the project has one (None otherwise)."""
    from pivot.core.config_files import any_config_file

    if not any_config_file(project.root):
        return None  # no config file, so no remote
    from pivot.core.config import load_config

    try:
        config = load_config(project.root)
    except PivotError:
        return None
    if not config.remotes:
        return None
    from pivot.core.remote import RemoteRuns

    return RemoteRuns(project)


def _unshare(target: Path) -> None:
    """Files of their own for an output (a file, or each file of a folder)."""
    files = [p for p in target.rglob("*") if p.is_file()] if target.is_dir() else [target]
    for path in files:
        unshare(path)


def uncached_incremental_message(path: str) -> str:
    return (
        f"the previous version of incremental output '{path}' is not in the cache; "
        "`pivot pull` it, or pass --allow-uncached-incremental to start over"
    )


def output_paths(pipeline: PipelineDefinition) -> list[str]:
    """Every output path the pipeline declares (where a killed stage may leave temp files)."""
    return [out.path for spec in pipeline.stages.values() for out in spec.outs]


def change_records(decision: Decision) -> tuple[dict[str, Any], ...]:
    """A decision's changes as plain data for events."""
    return tuple(dataclasses.asdict(change) for change in decision.changes)


class Engine:
    """Plans and runs one project's pipeline."""

    def __init__(self, project: Project, executor: Executor | None = None) -> None:
        self.project = project
        self.executor = executor or LocalExecutor()
        self._cancel_reason: str | None = None
        self._cancel_event = threading.Event()
        self._pipeline: PipelineDefinition | None = None
        self._graph: StageGraph | None = None
        self._token = ""
        #: Set by the command line: writes (or removes) the record a later no-op `run` or
        #: `status` answers from without importing the pipeline (run.fast_path).
        self.recorder: Recorder | None = None
        #: Set by one-shot commands: what loading the pipeline built lives until the process
        #: ends, so the load runs with the collector paused and its result is then moved out
        #: of the collector's sight (see :meth:`load`). Long-lived sessions (watch, the TUI,
        #: serve) reload and keep the collector as it is.
        self.freeze_after_load = False

    # -- loading -------------------------------------------------------------------------------

    def load(self, *, fresh: bool = False) -> tuple[PipelineDefinition, StageGraph]:
        """Import pipeline.py (again, with ``fresh``) and build the graph."""
        if self._pipeline is None or fresh:
            # Importing a large pipeline.py allocates millions of objects that all survive:
            # the cyclic collector would walk them again and again for nothing (~0.5 s at
            # 2,000 stages, and ~1 s more at exit), so a one-shot command pauses it.
            paused = self.freeze_after_load and gc.isenabled()
            if paused:
                gc.disable()
            try:
                pipeline = load_pipeline(self.project.root, fresh=fresh)
                graph = build_graph(pipeline)
            finally:
                if paused:
                    gc.enable()
            if self.freeze_after_load:
                gc.freeze()
            self._pipeline, self._graph = pipeline, graph
            self._token = code_token(self.project.root)
            if self.recorder is not None:
                self.recorder.note_code(project_module_files(self.project.root))
        assert self._pipeline is not None and self._graph is not None
        return self._pipeline, self._graph

    @property
    def graph(self) -> StageGraph | None:
        """The graph of the pipeline as last loaded (None before the first load)."""
        return self._graph

    def select(self, targets: Iterable[str], *, no_deps: bool = False) -> list[str]:
        """The named stages plus their upstream (all stages when none are named), in run order."""
        pipeline, graph = self.load()
        names = expand_targets(targets, graph.order)
        unknown = [name for name in names if name not in pipeline]
        if unknown:
            known = ", ".join(sorted(pipeline.stages)) or "none"
            raise UsageError(f"unknown stage '{unknown[0]}' (stages: {known})")
        if not names:
            return list(graph.order)
        return graph.ordered(names if no_deps else graph.ancestors(names))

    def planner(self) -> Planner:
        pipeline, graph = self.load()
        return Planner(self.project, pipeline, graph)

    def plan(self, targets: Iterable[str] = (), *, force: bool = False) -> list[Decision]:
        """Predicted decisions (what `status` and `--dry-run` show)."""
        selected = self.select(targets)
        pipeline, graph = self.load()
        check_sources_exist(pipeline, graph, selected)
        planner = self.planner()
        try:
            decisions = planner.predict(selected, force=force)
        finally:
            planner.flush()
        if self.recorder is not None and len(selected) == len(graph.order):
            if not force and all(d.action is Action.SKIP for d in decisions):
                warnings = {d.stage: d.inputs.warnings for d in decisions if d.inputs}
                self.recorder.record(pipeline, graph, warnings)
            else:
                self.recorder.forget()
        return decisions

    def capacities(self, request: RunRequest, selected: Iterable[str]) -> Capacities:
        """The resource capacities of a run; refuses (ResourceError) when a selected stage
        asks for more than one of them."""
        pipeline, graph = self.load()
        requests = {name: pipeline[name].resources for name in graph.order}
        requests = {name: needs for name, needs in requests.items() if needs}
        configured: dict[str, float] = {}
        if requests:  # the config module (and pydantic) is only imported when it matters
            from pivot.core.config import configured_capacities

            configured = configured_capacities(self.project.root)
        capacities = resolve_capacities(configured, request.resources, requests)
        capacities.check({name: requests[name] for name in selected if name in requests})
        return capacities

    # -- cancellation --------------------------------------------------------------------------

    def cancel(self, reason: str = "request") -> None:
        """Stop the current run: running stages are killed, nothing they wrote is committed."""
        self._cancel_reason = reason
        self._cancel_event.set()

    # -- running -------------------------------------------------------------------------------

    def run(self, request: RunRequest, emit: EventSink) -> RunSummary:
        self._cancel_reason = None
        self._cancel_event.clear()
        if not request.dry_run and self._pipeline is None:
            # Workers import the pipeline while this process does, instead of after planning.
            self.executor.preload(self.project.root)
        selected = self.select(request.targets, no_deps=request.no_deps)
        run_id = new_run_id()
        capacities = self.capacities(request, selected)
        if request.dry_run:
            return self._dry_run(run_id, selected, request, emit)
        pipeline, graph = self.load()
        check_sources_exist(pipeline, graph, selected)
        lock = ProjectRunLock(self.project.paths.run_lock)
        if not lock.acquire(wait=False):
            if not request.wait:
                lock.refuse()
            emit(Message(run_id=run_id, level="info", text=lock.waiting_message()))
            while not lock.acquire(wait=False):
                if self._cancel_event.wait(0.2):
                    return RunSummary(run_id, {}, {}, 0.0, 130, self._cancel_reason)
        try:
            # not observed: the sweep lists output folders the run is about to change, and a
            # listing noted now would keep this run from leaving a no-op record
            with fast_path.observing(None):
                sweep_leftovers(self.project.paths, lock.acquired_at, output_paths(pipeline))
            run = _Run(self, run_id, selected, request, emit, capacities)
            return run.execute()
        finally:
            lock.release()

    def _dry_run(
        self, run_id: str, selected: list[str], request: RunRequest, emit: EventSink
    ) -> RunSummary:
        """Report what a run would do, without running or restoring anything.

        A stage that could not run (a source that does not exist, params its model rejects,
        an incremental output whose last version is gone) is reported FAILED with the reason,
        the stages downstream of it BLOCKED, and the exit code is 2.
        """
        started = time.time()
        emit(RunStarted(run_id=run_id, stages=tuple(selected), jobs=0, dry_run=True))
        pipeline, graph = self.load()
        problems = missing_sources(pipeline, graph, selected)
        # `-f` forces the named stages (all when none are named), as a real run does.
        force: bool | frozenset[str] = request.force
        if request.force and request.targets:
            force = frozenset(request.targets)
        planner = self.planner()
        try:
            decisions = planner.predict(selected, force=force)
            statuses: dict[str, StageStatus] = {}
            reasons: dict[str, str] = {}
            for decision in decisions:
                name = decision.stage
                status, reason = self._dry_outcome(planner, decision, problems, statuses, request)
                statuses[name], reasons[name] = status, reason
                if status is StageStatus.RAN:
                    emit(
                        StageQueued(
                            run_id=run_id,
                            stage=name,
                            reason=reason,
                            changes=change_records(decision),
                        )
                    )
                emit(StageFinished(run_id=run_id, stage=name, status=status, reason=reason))
        finally:
            planner.flush()
        exit_code = 2 if StageStatus.FAILED in statuses.values() else 0
        summary = RunSummary(run_id, statuses, reasons, time.time() - started, exit_code)
        emit(
            RunFinished(
                run_id=run_id,
                counts=summary.counts,
                duration=summary.duration,
                exit_code=exit_code,
            )
        )
        return summary

    def _dry_outcome(
        self,
        planner: Planner,
        decision: Decision,
        problems: dict[str, str],
        statuses: dict[str, StageStatus],
        request: RunRequest,
    ) -> tuple[StageStatus, str]:
        """What a run would do with one stage, given what it would do with those upstream."""
        name = decision.stage
        problem = problems.get(name)
        if problem is None and decision.action is Action.ERROR:
            problem = decision.reason
        if problem is None and decision.action is Action.RUN:
            problem = self._incremental_problem(planner, name, request)
        if problem is not None:
            return StageStatus.FAILED, problem
        blocked = sorted(
            up
            for up in planner.graph.upstream[name]
            if statuses.get(up) in (StageStatus.FAILED, StageStatus.BLOCKED)
        )
        if blocked:
            return StageStatus.BLOCKED, f"upstream {blocked[0]} cannot run"
        status = {
            Action.RUN: StageStatus.RAN,
            Action.RESTORE: StageStatus.RESTORED,
            Action.SKIP: StageStatus.SKIPPED,
        }[decision.action]
        return status, decision.reason

    def _incremental_problem(self, planner: Planner, name: str, request: RunRequest) -> str | None:
        """Why ``name`` could not start: an incremental output's last version is neither in
        the workspace nor in the cache (what :meth:`_Run._prepare_incremental` would refuse)."""
        if request.allow_uncached_incremental:
            return None
        spec = planner.pipeline[name]
        incremental = [out for out in spec.outs if out.incremental]
        if not incremental:
            return None
        lock = self.project.locks.read(name)
        recorded = lock.out_records() if lock is not None else {}
        for out in incremental:
            record = recorded.get(out.path)
            if record is None:
                continue
            current = planner.hasher.hash_path(out.path)
            if current is not None and current.hash == record.hash:
                continue
            if not all(self.project.cache.has(h) for h in record.blob_hashes()):
                return uncached_incremental_message(out.path)
        return None

    def close(self) -> None:
        self.executor.close()


class _Run:
    """One execution of the scheduling loop."""

    def __init__(
        self,
        engine: Engine,
        run_id: str,
        selected: list[str],
        request: RunRequest,
        emit: EventSink,
        capacities: Capacities,
    ) -> None:
        self.engine = engine
        self.project = engine.project
        self.run_id = run_id
        self.selected = selected
        self.request = request
        self.emit = emit
        self.pipeline, self.graph = engine.load()
        self.planner = engine.planner()
        self.remote_runs = _remote_runs(self.project)
        self.planner.elsewhere = self.remote_runs
        self.log_dir = self.project.logs_dir / run_id
        self.statuses: dict[str, StageStatus] = {}
        self.reasons: dict[str, str] = {}
        self.durations: dict[str, float] = {}
        self.warnings: dict[str, tuple[str, ...]] = {}  # code-analysis warnings per stage
        self.worker_peak_rss = 0
        self.running: dict[Future[StageOutcome], _Running] = {}
        self.waiting: list[tuple[str, Decision]] = []
        self.suspects: set[str] = set()  # stages in flight when a worker died
        self.stopped = False  # no new stages after a failure without --keep-going
        self.pending_or_done = frozenset(selected)
        self.pending: dict[str, None] = dict.fromkeys(selected)  # not yet finished, in order
        self.upstream_left = {
            name: sum(1 for up in self.graph.upstream[name] if up in self.pending_or_done)
            for name in selected
        }
        self.ready: collections.deque[str] = collections.deque(
            name for name in selected if self.upstream_left[name] == 0
        )
        self.capacity = engine.executor.capacity
        if request.jobs:
            self.capacity = min(self.capacity, request.jobs)
        self.resources = capacities
        #: The reason last said for each stage waiting for a resource (said again on change).
        self.waiting_for: dict[str, str] = {}
        self.noted_assumed: set[str] = set()  # resources whose assumed capacity was said

    # -- the loop ------------------------------------------------------------------------------

    def execute(self) -> RunSummary:
        started = time.time()
        self.emit(RunStarted(run_id=self.run_id, stages=tuple(self.selected), jobs=self.capacity))
        note = self.engine.executor.jobs_note
        if note is not None and not self.request.jobs:
            self.emit(Message(run_id=self.run_id, level="info", text=note))
        pending = self.pending
        try:
            while pending or self.running or self.waiting:
                if self.engine._cancel_event.is_set():
                    self._cancel(list(pending))
                    break
                self._decide_ready()
                self._submit_waiting()
                if not self.running:
                    if self.waiting or self.ready or not pending:
                        continue
                    # Nothing runs and nothing became ready: the rest is blocked.
                    for name in list(pending):
                        self._finish(name, StageStatus.BLOCKED, "upstream did not complete")
                    continue
                done, _ = concurrent.futures.wait(
                    list(self.running),
                    timeout=_POLL_SECONDS,
                    return_when=concurrent.futures.FIRST_COMPLETED,
                )
                self._pump_logs()
                for future in done:
                    self._collect(future)
        finally:
            self.planner.flush()
            if self.remote_runs is not None:
                self.remote_runs.close()
        if self.remote_runs is not None and self.remote_runs.problem is not None:
            self.emit(
                Message(
                    run_id=self.run_id,
                    level="warning",
                    text=f"earlier runs on the remote were not looked up: {self.remote_runs.problem}",
                )
            )
        duration = time.time() - started
        cancelled = self.engine._cancel_reason if self.engine._cancel_event.is_set() else None
        exit_code = _exit_code(self.statuses, cancelled)
        summary = RunSummary(
            self.run_id,
            dict(self.statuses),
            dict(self.reasons),
            duration,
            exit_code,
            cancelled,
            self.worker_peak_rss,
        )
        with contextlib.suppress(PivotError, OSError):
            history.record_run(self.project, summary, started, self.durations)
        self._leave_record(summary)
        self.emit(
            RunFinished(
                run_id=self.run_id,
                counts=summary.counts,
                duration=duration,
                exit_code=exit_code,
                cancelled=cancelled,
            )
        )
        return summary

    def _leave_record(self, summary: RunSummary) -> None:
        """After a run of the whole pipeline, record it up to date when it is (or forget)."""
        recorder = self.engine.recorder
        if recorder is None:
            return
        done = {StageStatus.SKIPPED, StageStatus.RAN, StageStatus.RESTORED}
        whole = len(self.selected) == len(self.graph.order)
        if whole and summary.cancelled is None and set(summary.statuses.values()) <= done:
            with contextlib.suppress(PivotError, OSError):
                recorder.record(self.pipeline, self.graph, self.warnings)
                return
        with contextlib.suppress(PivotError, OSError):
            recorder.forget()

    def _decide_ready(self) -> None:
        """Decide every stage whose upstream stages have all finished.

        Stages become ready in :meth:`_finish` of their last upstream stage, so each poll only
        looks at newly ready stages (linear in the number of stages overall).
        """
        while self.ready:
            name = self.ready.popleft()
            upstream = [up for up in self.graph.upstream[name] if up in self.pending_or_done]
            bad = [up for up in upstream if self.statuses.get(up) in _NOT_OK]
            if bad:
                self._finish(
                    name, StageStatus.BLOCKED, f"upstream {sorted(bad)[0]} did not complete"
                )
                continue
            if self.stopped:
                self._finish(
                    name,
                    StageStatus.BLOCKED,
                    "not started: an earlier stage failed (use -k to keep going)",
                )
                continue
            decision = self.planner.decide(name, force=self.request.force and self._forced(name))
            if decision.inputs is not None:
                self.warnings[name] = decision.inputs.warnings
            if decision.action is Action.ERROR:
                self._fail(name, decision.reason, decision.reason)
            elif decision.action is Action.SKIP:
                self._finish(name, StageStatus.SKIPPED, decision.reason)
            elif decision.action is Action.RESTORE:
                self._restore(name, decision)
            else:
                self.emit(
                    StageQueued(
                        run_id=self.run_id,
                        stage=name,
                        reason=decision.reason,
                        changes=change_records(decision),
                    )
                )
                self._note_assumed(name)
                self.waiting.append((name, decision))

    def _forced(self, name: str) -> bool:
        # `-f` forces the named stages (all when none are named), not their upstream.
        return not self.request.targets or name in self.request.targets

    def _needs(self, name: str) -> Mapping[str, float]:
        return self.pipeline[name].resources

    def _submit_waiting(self) -> None:
        """Start queued stages, in order, while worker slots are free and their resources fit
        (resources.Capacities.admit: what running stages hold is counted from ``running``,
        so a stage that finishes, fails, is cancelled or loses its worker frees them)."""
        slots = (1 if self.suspects else self.capacity) - len(self.running)
        if not self.waiting or slots <= 0:
            return
        admission = self.resources.admit(
            ((name, self._needs(name)) for name, _ in self.waiting),
            (self._needs(job.name) for job in self.running.values()),
            slots,
        )
        for name, shortages in admission.waiting.items():
            self._say_waiting(name, shortages)
        count = len(admission.start)
        if not count:
            return
        if [name for name, _ in self.waiting[:count]] == admission.start:
            # The usual case (nothing waits for a resource): the head of the queue starts.
            decisions = self.waiting[:count]
            del self.waiting[:count]
        else:
            starting = set(admission.start)
            decisions = [entry for entry in self.waiting if entry[0] in starting]
            self.waiting = [entry for entry in self.waiting if entry[0] not in starting]
        for name, decision in decisions:
            self.waiting_for.pop(name, None)
            self._start(name, decision)

    def _say_waiting(self, name: str, shortages: tuple[Shortage, ...]) -> None:
        reason = waiting_reason(shortages)
        if self.waiting_for.get(name) == reason:
            return
        self.waiting_for[name] = reason
        self.emit(
            StageWaiting(
                run_id=self.run_id,
                stage=name,
                reason=reason,
                waiting_for=tuple(shortage.to_dict() for shortage in shortages),
            )
        )

    def _note_assumed(self, name: str) -> None:
        """Say once per run that a resource the stage needs has no capacity set."""
        for resource in self._needs(name):
            if resource in self.resources.assumed and resource not in self.noted_assumed:
                self.noted_assumed.add(resource)
                text = self.resources.assumed_note(resource)
                self.emit(Message(run_id=self.run_id, level="warning", text=text))

    def _start(self, name: str, decision: Decision) -> None:
        assert decision.inputs is not None
        try:
            self._prepare_incremental(name)
        except (PivotError, OSError) as exc:
            self._fail(name, str(exc), str(exc))
            return
        log_path = self.log_dir / f"{name}.log"
        if log_path.exists():
            log_path.unlink()
        elif "/" in name:  # a composed stage's log: logs/<run>/<pipeline>/<stage>.log
            log_path.parent.mkdir(parents=True, exist_ok=True)
        task = StageTask(
            root=str(self.project.root),
            stage=name,
            log_path=str(log_path),
            code_token=self.engine._token,
            params=decision.inputs.params,
            expected_code=decision.inputs.code if self.engine.executor.verifies_code else None,
            inputs=self._input_records(name) if self.engine.executor.ships_data else (),
            cache_link=self.project.link_mode,
        )
        self.emit(StageStarted(run_id=self.run_id, stage=name))
        future = self.engine.executor.submit(task)
        self.running[future] = _Running(name, decision, time.time(), LogTail(log_path))

    def _input_records(self, name: str) -> tuple[OutRecord, ...]:
        """What the stage reads, hashed: its deps and its incremental outputs' last version."""
        spec = self.pipeline[name]
        paths = [path for dep in spec.deps for path in dep.paths]
        paths += [out.path for out in spec.outs if out.incremental]
        records = (self.planner.hasher.hash_path(path) for path in dict.fromkeys(paths))
        return tuple(record for record in records if record is not None)

    def _prepare_incremental(self, name: str) -> None:
        """Put the last committed version of each incremental output in place, as a writable
        copy; with no committed version the stage starts from empty."""
        spec = self.pipeline[name]
        incremental = [out for out in spec.outs if out.incremental]
        if not incremental:
            return
        lock = self.project.locks.read(name)
        recorded = lock.out_records() if lock is not None else {}
        for out in incremental:
            target = self.project.abspath(out.path)
            record = recorded.get(out.path)
            if record is None:
                remove_path(target)
                continue
            current = self.planner.hasher.hash_path(out.path)
            # A symlink is not a writable copy: the stage would write through it.
            if current is not None and current.hash == record.hash and not target.is_symlink():
                _unshare(target)  # a hardlink into the cache is not a writable copy
                continue
            if all(self.project.cache.has(h) for h in record.blob_hashes()):
                remove_path(target)
                restore_record(
                    self.project.cache, record, target, self.planner.hasher, writable=True
                )
            elif self.request.allow_uncached_incremental:
                remove_path(target)
            else:
                raise IncrementalStateError(uncached_incremental_message(out.path))

    def _restore_record(self, record: OutRecord) -> None:
        target = self.project.abspath(record.path)
        restore_record(self.project.cache, record, target, self.planner.hasher)

    def _pump_logs(self) -> None:
        for job in self.running.values():
            self._emit_log(job)
            pending = job.tail.pending()
            if pending is not None:
                text, stderr = pending
                self.emit(
                    StageLogPending(run_id=self.run_id, stage=job.name, line=text, stderr=stderr)
                )

    def _emit_log(self, job: _Running, *, final: bool = False) -> None:
        for text, stderr in job.tail.read_lines(final=final):
            self.emit(StageLog(run_id=self.run_id, stage=job.name, line=text, stderr=stderr))

    def _collect(self, future: Future[StageOutcome]) -> None:
        job = self.running.pop(future, None)
        if job is None:  # re-queued after a worker died
            return
        self._emit_log(job, final=True)
        try:
            outcome = future.result()
        except WorkerLost as exc:
            self._fail(job.name, f"worker process died while running it ({exc})", str(exc), job)
            return
        except concurrent.futures.BrokenExecutor as exc:
            self._worker_died(job, exc)
            return
        except Exception as exc:  # e.g. the task could not be sent to the worker
            self._fail(job.name, f"could not run: {type(exc).__name__}: {exc}", str(exc), job)
            return
        self.suspects.discard(job.name)
        self.worker_peak_rss = max(self.worker_peak_rss, outcome.peak_rss)
        if not outcome.ok:
            first = (outcome.error or "").strip().splitlines()
            self._fail(job.name, first[-1] if first else "failed", outcome.error, job)
            return
        try:
            self._commit(job, outcome)
        except (PivotError, OSError) as exc:
            self._fail(job.name, f"could not commit: {exc}", str(exc), job)
            return
        self._finish(job.name, StageStatus.RAN, job.decision.reason, time.time() - job.started)

    def _worker_died(self, job: _Running, exc: BaseException) -> None:
        """A worker process died. Only the stage that killed it may fail: a stage that was
        running alone is to blame; when several were in flight, all of them are re-run one at
        a time (the pool kills every worker when one dies) until the culprit is alone."""
        if not self.running:
            self.suspects.discard(job.name)
            self._fail(
                job.name, f"worker process died while running it ({_death(exc)})", str(exc), job
            )
            return
        in_flight = [job, *self.running.values()]
        self.running.clear()
        for other in reversed(in_flight):
            self.suspects.add(other.name)
            self.waiting.insert(0, (other.name, other.decision))
        self.engine.executor.restart()

    def _commit(self, job: _Running, outcome: StageOutcome) -> None:
        inputs = job.decision.inputs
        assert inputs is not None
        for record in outcome.outs:
            full = self.project.abspath(record.path)
            if record.files is None:
                self.planner.hasher.record(full, record.hash)
            else:
                for entry in record.files:
                    self.planner.hasher.record(full / entry.path, entry.hash)
        self._write_lock(job.name, inputs, outcome.outs)

    def _write_lock(
        self,
        name: str,
        inputs: StageInputs,
        outs: tuple[OutRecord, ...],
        origin: str | None = None,
    ) -> None:
        """Write a stage's lock (last: the outputs are in place and cached), and remember the
        run in the run cache (best effort: an entry is only a shortcut for later)."""
        with contextlib.suppress(OSError):
            self.planner.code.keep_sources(self.planner.code.fingerprint(self.pipeline[name]))
        lock = StageLock(
            stage=name,
            code=inputs.code,
            params=inputs.params,
            deps=tuple(
                DepRecord(path, digest)
                for path, digest in inputs.deps.items()
                if digest is not None
            ),
            outs=outs,
            origin=origin,
        )
        self.project.locks.write(lock)
        with contextlib.suppress(OSError, PivotError):
            self._keep_small_uncached(name, outs)
            self.project.run_cache.record(lock)

    def _keep_small_uncached(self, name: str, outs: tuple[OutRecord, ...]) -> None:
        """Cache small outputs kept out of the cache (metrics, plot data) so that the run
        cache can restore this run; a large uncached output stays uncached (restoring such a
        stage from an earlier run is then not possible, and it re-runs)."""
        uncached = {out.path for out in self.pipeline[name].outs if not out.cached}
        for record in outs:
            if record.path in uncached and record.files is None and record.size <= _SMALL_OUTPUT:
                self.project.cache.add_file(self.project.abspath(record.path), record.hash)

    def _restore(self, name: str, decision: Decision) -> None:
        started = time.time()
        try:
            for record in decision.restore:
                self._restore_record(record)
        except CacheError as exc:
            # The cache let us down: run the stage instead.
            self.emit(Message(run_id=self.run_id, level="warning", text=str(exc)))
            rerun = dataclasses.replace(
                decision, action=Action.RUN, reason=f"cache blob unusable: {exc}"
            )
            self.emit(StageQueued(run_id=self.run_id, stage=name, reason=rerun.reason))
            self._note_assumed(name)
            self.waiting.append((name, rerun))
            return
        except OSError as exc:  # e.g. the disk is full: this stage fails, the run goes on
            self._fail(name, f"could not restore its outputs: {exc}", str(exc))
            return
        if decision.earlier_run:
            assert decision.inputs is not None
            self._write_lock(name, decision.inputs, decision.restore, origin=RESTORED)
        self._finish(name, StageStatus.RESTORED, decision.reason, time.time() - started)

    def _cancel(self, pending: list[str]) -> None:
        reason = f"cancelled ({self.engine._cancel_reason})"
        running = list(self.running.values())
        self.engine.executor.kill()
        self.running.clear()
        for job in running:
            self._emit_log(job, final=True)
            self._remove_partial_outputs(job.name)
            self._finish(job.name, StageStatus.CANCELLED, reason, time.time() - job.started)
        for name, _ in self.waiting:
            self._finish(name, StageStatus.CANCELLED, reason)
        self.waiting.clear()
        for name in pending:
            if name in self.pending:  # not finished above
                self._finish(name, StageStatus.CANCELLED, reason)

    def _remove_partial_outputs(self, name: str) -> None:
        """Delete temp files a killed stage left beside its outputs."""
        for out in self.pipeline[name].outs:
            target = self.project.abspath(out.path)
            folder = target if out.directory else target.parent
            if not folder.is_dir():
                continue
            candidates = folder.rglob("*") if out.directory else folder.glob(f".{target.name}*")
            for path in candidates:
                if is_temp_path(path):
                    with contextlib.suppress(OSError):
                        path.unlink()

    # -- bookkeeping ---------------------------------------------------------------------------

    def _fail(self, name: str, reason: str, error: str | None, job: _Running | None = None) -> None:
        duration = time.time() - job.started if job else 0.0
        self._finish(name, StageStatus.FAILED, reason, duration, error)
        if not self.request.keep_going:
            self.stopped = True

    def _finish(
        self,
        name: str,
        status: StageStatus,
        reason: str,
        duration: float = 0.0,
        error: str | None = None,
    ) -> None:
        self.statuses[name] = status
        self.reasons[name] = reason
        self.durations[name] = duration
        self.pending.pop(name, None)
        for down in self.graph.downstream[name]:
            if down in self.upstream_left:
                self.upstream_left[down] -= 1
                if self.upstream_left[down] == 0:
                    self.ready.append(down)
        self.emit(
            StageFinished(
                run_id=self.run_id,
                stage=name,
                status=status,
                reason=reason,
                duration=duration,
                error=error,
            )
        )


@dataclasses.dataclass
class _Running:
    name: str
    decision: Decision
    started: float
    tail: LogTail


_NOT_OK = {StageStatus.FAILED, StageStatus.BLOCKED, StageStatus.CANCELLED}


def _exit_code(statuses: dict[str, StageStatus], cancelled: str | None) -> int:
    if cancelled == "SIGINT":
        return 130
    if cancelled == "SIGTERM":
        return 143
    if cancelled:
        return 130
    return (
        1 if any(s in (StageStatus.FAILED, StageStatus.BLOCKED) for s in statuses.values()) else 0
    )


def _death(exc: BaseException) -> str:
    text = str(exc)
    marker = "exit codes of the workers are"
    if marker in text:
        return "exit code " + text.split(marker, 1)[1].strip().strip("{}.").strip()
    return text.splitlines()[0] if text else type(exc).__name__


def summary_to_json(summary: RunSummary) -> str:
    data: dict[str, Any] = dataclasses.asdict(summary)
    return json.dumps(data, default=str)
