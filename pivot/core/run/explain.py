"""The full why of a stage: which code keys changed (with source diffs), params old → new,
deps old → new, and fingerprint warnings. Feeds `pivot explain`, `status --explain`,
`run --explain` and the TUI's Explain tab."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from pivot.core.pipeline.fingerprint import code_diff
from pivot.core.run import history
from pivot.core.run.engine import Engine
from pivot.core.run.planner import EARLIER_RUN, Action, Decision
from pivot.exceptions import PivotError

VERDICTS = {
    Action.RUN: "WILL RUN",
    Action.SKIP: "SKIP",
    Action.RESTORE: "RESTORE",
    Action.ERROR: "ERROR",
}


@dataclasses.dataclass(frozen=True)
class CodeChange:
    key: str
    old: str | None  # hash in the lock; None when the key is new
    new: str | None  # hash now; None when the key is no longer reached
    location: str  # file:line of the current (or old) source, "" when unknown
    diff: str
    change: str = "changed"  # "added" | "removed" | "changed"


@dataclasses.dataclass(frozen=True)
class ValueChange:
    key: str
    old: Any  # None when absent (``change`` tells absent from a recorded null)
    new: Any
    change: str = "changed"  # "added" | "removed" | "changed"


@dataclasses.dataclass(frozen=True)
class StageExplanation:
    stage: str
    verdict: str
    reason: str
    code: tuple[CodeChange, ...]
    params: tuple[ValueChange, ...]
    deps: tuple[ValueChange, ...]
    outs: tuple[ValueChange, ...]
    warnings: tuple[str, ...]
    #: What the stage holds while it runs (``{"gpu": 1}``; docs/resources.md).
    resources: Mapping[str, float] = dataclasses.field(default_factory=dict)

    @property
    def will_run(self) -> bool:
        return self.verdict == "WILL RUN"

    def to_dict(self) -> dict[str, Any]:
        def values(items: tuple[ValueChange, ...]) -> list[dict[str, Any]]:
            return [{"key": c.key, "change": c.change, "old": c.old, "new": c.new} for c in items]

        return {
            "stage": self.stage,
            "verdict": self.verdict,
            "reason": self.reason,
            "code": [
                {
                    "key": c.key,
                    "change": c.change,
                    "old": c.old,
                    "new": c.new,
                    "location": c.location,
                    "diff": c.diff,
                }
                for c in self.code
            ],
            "params": values(self.params),
            "deps": [
                {"path": c.key, "change": c.change, "old": c.old, "new": c.new} for c in self.deps
            ],
            "outs": [
                {"path": c.key, "change": c.change, "old": c.old, "new": c.new} for c in self.outs
            ],
            "warnings": list(self.warnings),
            "resources": dict(self.resources),
        }


def explain(
    engine: Engine, targets: Iterable[str] = (), *, force: bool = False
) -> list[StageExplanation]:
    """Explanations for the named stages (and their upstream), or all, in run order."""
    selected = engine.select(targets)
    pipeline, graph = engine.load()
    from pivot.core.pipeline.graph import check_sources_exist

    check_sources_exist(pipeline, graph, selected)
    planner = engine.planner()
    try:
        decisions = planner.predict(selected, force=force)
        explanations = [_explain(engine, planner, decision) for decision in decisions]
    finally:
        planner.flush()
    return _with_restores(engine, explanations)


def _with_restores(engine: Engine, explanations: list[StageExplanation]) -> list[StageExplanation]:
    """An up-to-date stage whose lock says its outputs came from an earlier run says so, with
    the run that restored them when run history still has it."""
    skipped = {e.stage for e in explanations if e.verdict == VERDICTS[Action.SKIP]}
    restored: set[str] = set()
    for name in skipped:
        lock = engine.project.locks.read(name)
        if lock is not None and lock.origin == EARLIER_RUN:
            restored.add(name)
    if not restored:
        return explanations
    try:
        last = history.last_results(engine.project, restored)
    except (PivotError, OSError):
        last = {}
    by_run = {
        name: f" by run {entry['run_id']}"
        for name, entry in last.items()
        if entry["reason"].startswith(EARLIER_RUN)
    }
    return [
        dataclasses.replace(e, reason=f"{e.reason}; {EARLIER_RUN}{by_run.get(e.stage, '')}")
        if e.stage in restored
        else e
        for e in explanations
    ]


def _explain(engine: Engine, planner: Any, decision: Decision) -> StageExplanation:
    code: list[CodeChange] = []
    params: list[ValueChange] = []
    deps: list[ValueChange] = []
    outs: list[ValueChange] = []
    fingerprint = None
    if decision.action is not Action.ERROR:
        fingerprint = planner.code.fingerprint(planner.pipeline[decision.stage])
    for change in decision.changes:
        if change.kind == "code":
            current = fingerprint.sources.get(change.key) if fingerprint else None
            old_record = planner.code.sources.get(change.old) if change.old else None
            where = current or old_record
            location = f"{where.file}:{where.line}" if where and where.file else ""
            diff = code_diff(
                change.key, change.old, change.new, planner.code.sources, current=current
            )
            code.append(
                CodeChange(change.key, change.old, change.new, location, diff, change.change)
            )
        elif change.kind == "params":
            params.append(ValueChange(change.key, change.old, change.new, change.change))
        elif change.kind == "dep":
            deps.append(ValueChange(change.key, change.old, change.new, change.change))
        else:
            outs.append(ValueChange(change.key, change.old, change.new, change.change))
    warnings = decision.inputs.warnings if decision.inputs else ()
    return StageExplanation(
        stage=decision.stage,
        verdict=VERDICTS[decision.action],
        reason=decision.reason,
        code=tuple(code),
        params=tuple(params),
        deps=tuple(deps),
        outs=tuple(outs),
        warnings=tuple(warnings),
        resources=dict(planner.pipeline[decision.stage].resources),
    )
