"""Decide, per stage, whether to skip it, restore its outputs from the cache, or run it, and why."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Container, Iterable, Sequence
from typing import Any, Protocol

from pivot.core.pipeline.code import CodeIndex
from pivot.core.pipeline.discovery import PipelineDefinition
from pivot.core.pipeline.graph import StageGraph
from pivot.core.pipeline.params import ParamsFiles, stage_values
from pivot.core.project import Project
from pivot.core.run.fast_path import UP_TO_DATE
from pivot.core.store.artifacts import ArtifactHasher
from pivot.core.store.lock import RESTORED, OutRecord, StageLock
from pivot.core.store.run_cache import run_key
from pivot.exceptions import StageDefinitionError

#: How a decision (and the run's record of it) says the outputs came from the run cache.
EARLIER_RUN = RESTORED


class EarlierRuns(Protocol):
    """Earlier runs kept elsewhere (a remote), asked when the local run cache has no answer."""

    def entry(self, key: str) -> tuple[OutRecord, ...] | None: ...

    def fetch(self, stage: str, records: Sequence[OutRecord]) -> bool: ...


class Action(enum.StrEnum):
    RUN = "run"
    SKIP = "skip"
    RESTORE = "restore"
    ERROR = "error"


@dataclasses.dataclass(frozen=True)
class Change:
    """One difference between the lock and the workspace."""

    kind: str  # "code" | "params" | "dep" | "out"
    key: str  # manifest key, param name, or path
    old: Any  # None when absent (``change`` tells absent from a recorded null)
    new: Any
    change: str = "changed"  # "added" | "removed" | "changed"

    def describe(self) -> str:
        return f"{self.kind} {self.key} {self.change}"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "key": self.key, "old": self.old, "new": self.new}


@dataclasses.dataclass(frozen=True)
class StageInputs:
    """What a stage would consume if it ran now."""

    code: dict[str, str]
    params: dict[str, Any]
    deps: dict[str, str | None]  # path -> hash, None when missing
    warnings: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class Decision:
    stage: str
    action: Action
    reason: str
    changes: tuple[Change, ...] = ()
    restore: tuple[OutRecord, ...] = ()
    inputs: StageInputs | None = None
    #: The outputs to restore are those of an earlier run on the same inputs (the run cache),
    #: not those of the lock: restoring them also writes the lock.
    earlier_run: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "action": str(self.action),
            "reason": self.reason,
            "changes": [c.to_dict() for c in self.changes],
        }


def _dict_changes(kind: str, old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    changes: list[Change] = []
    for key in sorted(old.keys() | new.keys()):
        if key not in old:
            changes.append(Change(kind, key, None, new[key], "added"))
        elif key not in new:
            changes.append(Change(kind, key, old[key], None, "removed"))
        elif old[key] != new[key]:
            changes.append(Change(kind, key, old[key], new[key]))
    return changes


def _summarize(changes: list[Change], noun: str) -> str:
    keys = ", ".join(c.key for c in changes[:3])
    more = f" (+{len(changes) - 3} more)" if len(changes) > 3 else ""
    return f"{noun} changed: {keys}{more}"


class Planner:
    """Computes stage inputs and run/skip decisions against lock files."""

    def __init__(self, project: Project, pipeline: PipelineDefinition, graph: StageGraph) -> None:
        self.project = project
        self.pipeline = pipeline
        self.graph = graph
        self.hasher = ArtifactHasher(project.root, project.state)
        self.code = CodeIndex(project)
        #: params.yaml and the files ParamsDep name, read once per plan.
        self.params_files = ParamsFiles.workspace(project.root)
        #: Asked for earlier runs the local run cache lacks (a real run sets it; planning for
        #: `status` never waits on the network).
        self.elsewhere: EarlierRuns | None = None

    def inputs(self, name: str) -> StageInputs:
        spec = self.pipeline[name]
        fingerprint = self.code.fingerprint(spec)
        params = stage_values(spec, self.params_files)
        deps: dict[str, str | None] = {}
        for path in spec.dep_paths:
            record = self.hasher.hash_path(path)
            deps[path] = record.hash if record is not None else None
        return StageInputs(dict(fingerprint.manifest), params, deps, fingerprint.warnings)

    def read_lock(self, name: str) -> StageLock | None:
        return self.project.locks.read(name)

    def decide(
        self, name: str, *, force: bool = False, restored: dict[str, str] | None = None
    ) -> Decision:
        """Decide ``name`` against the workspace; ``restored`` holds the hashes of outputs an
        upstream restore will put back (for predictions, made before anything is restored)."""
        lock = self.read_lock(name)  # a corrupt lock stops everything (LockFileError, exit 2)
        try:
            inputs = self.inputs(name)
        except StageDefinitionError as exc:  # e.g. invalid params for this stage only
            return Decision(name, Action.ERROR, str(exc))
        if restored:
            deps = {path: restored.get(path, digest) for path, digest in inputs.deps.items()}
            inputs = dataclasses.replace(inputs, deps=deps)
        decision = self.compare(name, lock, inputs, force=force)
        # Only when the inputs differ from the lock (or there is none): outputs edited or lost
        # since the last run keep their own rules (a hand-edited output re-runs its stage).
        inputs_changed = lock is None or any(c.kind != "out" for c in decision.changes)
        if decision.action is Action.RUN and not force and inputs_changed:
            earlier = self.earlier_run(name, inputs)
            if earlier is not None:
                return dataclasses.replace(
                    decision,
                    action=Action.RESTORE,
                    reason=f"{EARLIER_RUN} ({decision.reason})",
                    restore=earlier,
                    earlier_run=True,
                )
        return decision

    def earlier_run(self, name: str, inputs: StageInputs) -> tuple[OutRecord, ...] | None:
        """The outputs of an earlier run of ``name`` on exactly ``inputs``, if the run cache
        has one whose blobs are all in the local cache. Stages with incremental outputs never
        qualify: their result is not a function of their inputs alone."""
        spec = self.pipeline[name]
        if any(out.incremental for out in spec.outs):
            return None
        deps = {path: digest for path, digest in inputs.deps.items() if digest is not None}
        if len(deps) != len(inputs.deps):
            return None
        key = run_key(name, inputs.code, inputs.params, deps, spec.out_paths)
        records = self.project.run_cache.lookup(key)
        if records is None and self.elsewhere is not None:
            records = self.elsewhere.entry(key)
        if records is None or {r.path for r in records} != set(spec.out_paths):
            return None
        cache = self.project.cache
        if all(cache.has(digest) for r in records for digest in r.blob_hashes()):
            return records
        if self.elsewhere is not None and self.elsewhere.fetch(name, records):
            return records
        return None

    def compare(
        self, name: str, lock: StageLock | None, inputs: StageInputs, *, force: bool = False
    ) -> Decision:
        spec = self.pipeline[name]
        if lock is None:
            return Decision(name, Action.RUN, "never run", inputs=inputs)
        code = _dict_changes("code", lock.code, inputs.code)
        params = _dict_changes("params", flatten_params(lock.params), flatten_params(inputs.params))
        present = {path: digest for path, digest in inputs.deps.items() if digest is not None}
        deps = _dict_changes("dep", lock.dep_hashes(), present)
        changes = code + params + deps
        if force:
            return Decision(name, Action.RUN, "forced", tuple(changes), inputs=inputs)
        if code:
            return Decision(
                name, Action.RUN, _summarize(code, "code"), tuple(changes), inputs=inputs
            )
        if params:
            return Decision(
                name, Action.RUN, _summarize(params, "params"), tuple(changes), inputs=inputs
            )
        if deps:
            return Decision(
                name, Action.RUN, _summarize(deps, "deps"), tuple(changes), inputs=inputs
            )

        recorded = lock.out_records()
        restore: list[OutRecord] = []
        for out in spec.outs:
            record = recorded.get(out.path)
            if record is None:
                return Decision(name, Action.RUN, f"new output {out.path}", inputs=inputs)
            current = self.hasher.hash_path(out.path)
            if current is None:
                if out.cached and all(self.project.cache.has(h) for h in record.blob_hashes()):
                    restore.append(record)
                    continue
                return Decision(
                    name,
                    Action.RUN,
                    f"output {out.path} is missing and not in the cache",
                    inputs=inputs,
                )
            if current.hash != record.hash:
                if (
                    out.incremental
                    and out.cached
                    and all(self.project.cache.has(h) for h in record.blob_hashes())
                ):
                    # Inputs unchanged: the committed version is right. Re-running would add
                    # to it a second time (e.g. after a run killed mid-append was undone).
                    restore.append(record)
                    continue
                change = Change("out", out.path, record.hash, current.hash)
                return Decision(
                    name, Action.RUN, f"output {out.path} was modified", (change,), inputs=inputs
                )
        if restore:
            paths = ", ".join(r.path for r in restore)
            return Decision(
                name,
                Action.RESTORE,
                f"restore {paths} from cache",
                restore=tuple(restore),
                inputs=inputs,
            )
        return Decision(name, Action.SKIP, UP_TO_DATE, inputs=inputs)

    def predict(
        self, names: Iterable[str], *, force: bool | Container[str] = False
    ) -> list[Decision]:
        """Decisions for ``names`` in run order, assuming upstream stages that will run change
        their outputs (what `status` and `--dry-run` show). ``force`` is all stages or none,
        or the stages to force (`run -f train` forces train, not its upstream)."""
        decisions: dict[str, Decision] = {}
        restored: dict[str, str] = {}
        for name in self.graph.ordered(names):
            forced = force if isinstance(force, bool) else name in force
            decision = self.decide(name, force=forced, restored=restored)
            if decision.action is Action.RESTORE:
                restored.update((record.path, record.hash) for record in decision.restore)
            if decision.action in (Action.SKIP, Action.RESTORE):
                upstream = sorted(
                    up
                    for up in self.graph.upstream[name]
                    if up in decisions and decisions[up].action in (Action.RUN, Action.ERROR)
                )
                if upstream:
                    decision = dataclasses.replace(
                        decision, action=Action.RUN, reason=f"upstream {upstream[0]} will run"
                    )
            decisions[name] = decision
        return list(decisions.values())

    def flush(self) -> None:
        self.hasher.flush()
        self.code.flush()


def flatten_params(params: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested params as ``{"optimizer.lr": 0.1}`` (lists stay whole values)."""
    flat: dict[str, Any] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten_params(value, name + "."))
        else:
            flat[name] = value
    return flat
