"""Watch mode: keep the pipeline up to date while the user edits.

A :class:`WatchSession` runs the pipeline once, then watches the project with watchfiles.
Changes are debounced into batches; each relevant batch triggers a new cycle (a normal
:meth:`Engine.run`, so the planner decides what re-runs). Runs happen in a background thread
so changes keep arriving meanwhile:

- a change that touches a stage that is running right now (one of its deps, or any Python
  file) cancels the run, which then restarts with the change included;
- any other change waits and is handled by the next cycle, right after the current one;
- after a Python file (or ``pivot.yaml``) changes, the pipeline is re-imported and the warm
  workers are restarted, so no stage ever runs stale code; a ``params.yaml`` edit re-imports
  nothing (every plan reads it) and keeps the warm workers;
- a broken ``pipeline.py`` is reported and the session waits for the next save;
- while another command holds the project's run lock (a manual ``pivot run``, a checkout),
  the cycle waits for it instead of failing.

Ignored: ``.pivot/``, ``.git/``, Pivot's temp files, patterns in ``.pivotignore`` (gitignore
syntax), and outputs whose bytes are exactly what their stage's lock records (Pivot's own
writes).
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

from pivot.core.run.engine import Engine, RunRequest
from pivot.core.run.events import (
    Event,
    EventSink,
    FilesChanged,
    Message,
    RunSummary,
    StageFinished,
    StageStarted,
    WatchCycle,
)
from pivot.core.store.artifacts import ArtifactHasher
from pivot.core.store.atomic import TMP_MARK
from pivot.core.store.paths import NON_PROJECT_DIRS, PARAMS_FILE, is_within
from pivot.exceptions import PivotError

DEFAULT_DEBOUNCE_MS = 300
#: Folders watch mode never reacts to: never project code, or tools' caches.
_ALWAYS_IGNORED = NON_PROJECT_DIRS | {".mypy_cache", ".pytest_cache", ".ruff_cache"}


class IgnoreRules:
    """Which paths watch mode never reacts to."""

    def __init__(self, root: Path) -> None:
        import pathspec

        self.root = root
        lines: list[str] = []
        ignore_file = root / ".pivotignore"
        if ignore_file.is_file():
            lines = ignore_file.read_text(encoding="utf-8", errors="replace").splitlines()
        self.spec = pathspec.PathSpec.from_lines("gitwildmatch", lines)

    def ignored(self, rel: str) -> bool:
        parts = rel.split("/")
        if not _ALWAYS_IGNORED.isdisjoint(parts):
            return True
        if TMP_MARK in parts[-1] or parts[-1].endswith(("~", ".swp", ".swx")):
            return True
        return self.spec.match_file(rel)


class WatchSession:
    """Runs the pipeline whenever relevant files change, until :meth:`stop`."""

    def __init__(
        self,
        engine: Engine,
        request: RunRequest,
        emit: EventSink,
        *,
        debounce_ms: int = DEFAULT_DEBOUNCE_MS,
        on_cycle_end: Callable[[RunSummary | None], None] | None = None,
        cycle_guard: Callable[[], AbstractContextManager[object]] = contextlib.nullcontext,
        load_guard: Callable[[], AbstractContextManager[object]] = contextlib.nullcontext,
    ) -> None:
        self.engine = engine
        self.request = request
        self.emit_outer = emit
        self.debounce_ms = debounce_ms
        self.on_cycle_end = on_cycle_end
        #: Held around each cycle: an app shares the engine between cycles (explain, status).
        self.cycle_guard = cycle_guard
        #: Held around re-importing the pipeline: a server's queries must not use it meanwhile.
        self.load_guard = load_guard
        self.root = engine.project.root
        self.ignore = IgnoreRules(self.root)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._pending: set[str] = set()
        self._running_stages: set[str] = set()
        #: Outputs of stages started in the current cycle: Pivot's own writes, not user edits.
        self._own_writes: set[str] = set()
        self._run_thread: threading.Thread | None = None
        self._needs_reload = False
        self._broken = False
        #: Why pipeline.py could not be loaded in the latest cycle (None once it loads again).
        self.load_error: str | None = None
        self.cycles = 0
        self.last_summary: RunSummary | None = None

    # -- public --------------------------------------------------------------------------------

    def stop(self) -> None:
        self._stop.set()
        self.engine.cancel("SIGINT")

    def run(self) -> None:
        """Block: first cycle, then one cycle per relevant batch of changes, until stopped."""
        import watchfiles

        self._start_cycle(("(start)",))
        for changes in watchfiles.watch(
            self.root,
            watch_filter=None,
            debounce=self.debounce_ms,
            step=50,
            stop_event=self._stop,
            rust_timeout=200,
            yield_on_timeout=True,
            raise_interrupt=False,
        ):
            if self._stop.is_set():
                break
            relevant = self._relevant({path for _, path in changes})
            if relevant:
                self._on_changes(relevant)
            if self._pending and not self._busy():
                with self._lock:
                    trigger = tuple(sorted(self._pending))
                    self._pending.clear()
                trigger = tuple(p for p in trigger if self._still_relevant(p))
                if trigger:
                    self._start_cycle(trigger)
        self.engine.cancel("SIGINT")
        if self._run_thread is not None:
            self._run_thread.join()

    # -- change handling -------------------------------------------------------------------------

    def _relevant(self, paths: set[str]) -> set[str]:
        if any(Path(p).name == ".pivotignore" for p in paths):
            self.ignore = IgnoreRules(self.root)
        relevant = set()
        for full in paths:
            try:
                rel = Path(full).resolve().relative_to(self.root).as_posix()
            except ValueError:
                continue
            if not self.ignore.ignored(rel):
                relevant.add(rel)
        return relevant

    def _still_relevant(self, rel: str) -> bool:
        """False for an output whose bytes are what its lock records: Pivot wrote it."""
        if rel.endswith(".py"):
            return True
        pipeline = self.engine._pipeline
        graph = self.engine._graph
        if pipeline is None or graph is None:
            return True
        stage = graph.producer_of(rel)
        if stage is None:
            return True
        lock = self.engine.project.locks.read(stage)
        if lock is None:
            return True
        hasher = ArtifactHasher(self.root, self.engine.project.state)
        for record in lock.outs:
            if is_within(rel, record.path):
                current = hasher.hash_path(record.path)
                return current is None or current.hash != record.hash
        return True

    def _on_changes(self, relevant: set[str]) -> None:
        with self._lock:
            own = set(self._own_writes)
        relevant = {
            p
            for p in relevant
            # not an output, or a folder created to hold one, that the run itself wrote
            if not any(is_within(p, out) or is_within(out, p) for out in own)
            and (p.endswith(".py") or self._still_relevant(p))
        }
        if not relevant:
            return
        restart = False
        # Code and pivot.yaml are imported: they need a reload and fresh workers. Params files
        # are read by every plan, so a params edit keeps the warm workers.
        code_changed = any(p.endswith((".py", "pivot.yaml", "pivot.yml")) for p in relevant)
        params_changed = bool(relevant & self._params_files())
        with self._lock:
            self._pending |= relevant
            if code_changed:
                self._needs_reload = True
            running = set(self._running_stages)
        touched = (
            code_changed
            or params_changed
            or any(self._touches(stage, relevant) for stage in running)
        )
        if running and self._busy() and touched:
            restart = True
            self.engine.cancel("restart")
        self.emit_outer(
            FilesChanged(run_id="watch", paths=tuple(sorted(relevant)), restart=restart)
        )

    def _params_files(self) -> set[str]:
        """params.yaml and every params file a ParamsDep reads: read by each plan."""
        files = {PARAMS_FILE}
        pipeline = self.engine._pipeline
        if pipeline is not None:
            for spec in pipeline.stages.values():
                files.update(spec.tracked_params())
        return files

    def _touches(self, stage: str, paths: set[str]) -> bool:
        pipeline = self.engine._pipeline
        if pipeline is None or stage not in pipeline:
            return True
        deps = pipeline[stage].dep_paths
        return any(is_within(p, dep) or is_within(dep, p) for p in paths for dep in deps)

    # -- cycles --------------------------------------------------------------------------------

    def _busy(self) -> bool:
        return self._run_thread is not None and self._run_thread.is_alive()

    def _start_cycle(self, trigger: tuple[str, ...]) -> None:
        self.cycles += 1
        with self._lock:
            self._own_writes.clear()
        self.emit_outer(WatchCycle(run_id="watch", cycle=self.cycles, trigger=trigger))
        self._run_thread = threading.Thread(target=self._cycle, name="pivot-watch-run", daemon=True)
        self._run_thread.start()

    def _cycle(self) -> None:
        with self.cycle_guard():
            if not self._stop.is_set():
                self._run_cycle()

    def _run_cycle(self) -> None:
        summary: RunSummary | None = None
        try:
            with self._lock:
                reload, self._needs_reload = self._needs_reload or self._broken, False
            if reload:
                try:
                    with self.load_guard():
                        self.engine.load(fresh=True)
                except PivotError as exc:
                    self.load_error = str(exc)
                    raise
                self.engine.executor.restart()
                self.ignore = IgnoreRules(self.root)
                self._broken = False
                self.load_error = None
            # Queue behind a manual `pivot run` (or checkout, pull, commit) rather than drop
            # the changes that triggered this cycle; stop() ends the wait.
            summary = self.engine.run(dataclasses.replace(self.request, wait=True), self._emit)
            self.last_summary = summary
            if summary.cancelled == "restart":
                with self._lock:
                    self._pending.add("(restart)")
        except PivotError as exc:
            self._broken = True
            self.emit_outer(
                Message(run_id="watch", level="error", text=f"{exc} (waiting for the next save)")
            )
        finally:
            with self._lock:
                self._running_stages.clear()
            if self.on_cycle_end is not None:
                self.on_cycle_end(summary)

    def _emit(self, event: Event) -> None:
        if isinstance(event, StageStarted):
            pipeline = self.engine._pipeline
            outs = pipeline[event.stage].out_paths if pipeline and event.stage in pipeline else ()
            with self._lock:
                self._running_stages.add(event.stage)
                self._own_writes.update(outs)
        elif isinstance(event, StageFinished):
            with self._lock:
                self._running_stages.discard(event.stage)
        self.emit_outer(event)
