"""What a ``with Pipeline(...)`` block records: each call of an ``@stage`` function."""

from __future__ import annotations

import dataclasses
import re
from typing import TYPE_CHECKING, Any

from pivot import registry
from pivot.compose._handles import Handle, StageOutputs
from pivot.compose._signature import SignaturePlan

if TYPE_CHECKING:
    from pivot.compose._decorator import ComposedStage

#: Where a composed stage's outputs go unless placed: ``data/<pipeline>/<stage>.<ext>``.
DEFAULT_ROOT = "data"

PIPELINE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-.]*$")
_LABEL_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]")


def safe_label(text: str) -> str:
    """``text`` usable as a stage-name variant (``clean@<label>``)."""
    return _LABEL_UNSAFE.sub("_", text).strip(".") or "_"


@dataclasses.dataclass
class Call:
    """One call of an ``@stage`` function inside a block."""

    stage: ComposedStage
    plan: SignaturePlan
    arguments: dict[str, Any]
    name: str | None
    where: str
    handles: dict[str | None, Handle]
    short: str = ""

    def result(self) -> Handle | StageOutputs | None:
        if self.plan.return_kind == "none":
            return None
        if self.plan.return_kind == "single":
            return self.handles[None]
        return StageOutputs(
            self.stage.base_name, {str(k): h for k, h in self.handles.items() if k is not None}
        )


@dataclasses.dataclass
class Block:
    pipeline: registry.Pipeline
    calls: list[Call] = dataclasses.field(default_factory=list)
