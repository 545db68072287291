"""The data behind the Explain tab: why a stage will run (or ran), with code diffs.

:func:`load_explanation` is the only place the TUI gets explain data from. It adapts
``pivot.core.run.explain.explain`` (the same data as ``pivot explain``) to the small
:class:`Explanation` the tab draws, and falls back to the planner's
:class:`~pivot.core.run.planner.Decision` (plus the code source store for diffs) when that module
is unavailable. No Textual here.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from pivot.core.run.planner import Action, Decision

if TYPE_CHECKING:
    from pivot.core.run.engine import Engine


@dataclasses.dataclass(frozen=True)
class CodeItem:
    key: str
    old: str | None
    new: str | None
    location: str
    #: Unified diff of the key's source; "" when not computed (during a run).
    diff: str


@dataclasses.dataclass(frozen=True)
class Explanation:
    stage: str
    action: Action
    reason: str
    code: tuple[CodeItem, ...] = ()
    params: tuple[tuple[str, Any, Any], ...] = ()
    deps: tuple[tuple[str, Any, Any], ...] = ()
    outs: tuple[tuple[str, Any, Any], ...] = ()
    warnings: tuple[str, ...] = ()


def load_explanation(engine: Engine, name: str) -> Explanation:
    """Explain ``name`` now. Blocking (fingerprints, hashes files): call from a worker thread."""
    try:
        from pivot.core.run import explain as core
    except ImportError:  # pragma: no cover - explain is part of core
        return from_decision(_decide(engine, name), engine)
    for item in core.explain(engine, [name]):
        if item.stage == name:
            return _from_core(item, {verdict: action for action, verdict in core.VERDICTS.items()})
    raise LookupError(name)  # pragma: no cover - explain always includes the target


def _from_core(item: Any, actions: dict[str, Action]) -> Explanation:
    return Explanation(
        stage=item.stage,
        action=actions.get(item.verdict, Action.RUN),
        reason=item.reason,
        code=tuple(CodeItem(c.key, c.old, c.new, c.location, c.diff) for c in item.code),
        params=tuple((c.key, c.old, c.new) for c in item.params),
        deps=tuple((c.key, c.old, c.new) for c in item.deps),
        outs=tuple((c.key, c.old, c.new) for c in item.outs),
        warnings=tuple(item.warnings),
    )


def _decide(engine: Engine, name: str) -> Decision:
    for decision in engine.plan([name]):
        if decision.stage == name:
            return decision
    raise LookupError(name)  # pragma: no cover - plan always includes the target


def from_decision(decision: Decision, engine: Engine | None = None) -> Explanation:
    """Build the explanation from a decision's changes; with ``engine``, code keys get a
    source diff (without, e.g. while a run holds the engine, they are listed by hash)."""
    code: list[CodeItem] = []
    groups: dict[str, list[tuple[str, Any, Any]]] = {"params": [], "dep": [], "out": []}
    store = _store(engine) if engine is not None else None
    for change in decision.changes:
        if change.kind == "code":
            diff = ""
            if store is not None:
                from pivot.core.pipeline.fingerprint import code_diff

                try:
                    diff = code_diff(change.key, change.old, change.new, store)
                except Exception as exc:  # a broken store entry must not break the tab
                    diff = f"{change.key}: source not available ({exc})\n"
            code.append(CodeItem(change.key, change.old, change.new, "", diff))
        elif change.kind in groups:
            groups[change.kind].append((change.key, change.old, change.new))
    warnings = decision.inputs.warnings if decision.inputs is not None else ()
    return Explanation(
        decision.stage,
        decision.action,
        decision.reason,
        tuple(code),
        tuple(groups["params"]),
        tuple(groups["dep"]),
        tuple(groups["out"]),
        tuple(warnings),
    )


def _store(engine: Engine) -> Any:
    try:
        from pivot.core.pipeline.fingerprint import SourceStore
    except ImportError:  # pragma: no cover - fingerprint is part of core
        return None
    return SourceStore(engine.project.code_store_dir)
