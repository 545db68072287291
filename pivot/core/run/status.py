"""A stage's row in `pivot status --json` (and the control socket's `status`), from its
predicted decision."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pivot.core.run.planner import Action, Decision

if TYPE_CHECKING:
    from pivot.core.run.explain import StageExplanation

#: What `status` calls each planner action.
STATUS_OF_ACTION = {
    Action.SKIP: "cached",
    Action.RESTORE: "cached",
    Action.RUN: "stale",
    Action.ERROR: "error",
}


def status_row(
    decision: Decision,
    explanation: StageExplanation | None = None,
    resources: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    row = decision.to_dict()
    row["status"] = STATUS_OF_ACTION[decision.action]
    row["warnings"] = list(decision.inputs.warnings) if decision.inputs is not None else []
    row["resources"] = dict(resources or {})
    if explanation is not None:
        row["explain"] = explanation.to_dict()
    return row
