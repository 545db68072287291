"""Parameters as pydantic models.

A stage parameter annotated with a :class:`StageParams` subclass receives the effective values:
the model's defaults, overridden by ``params.yaml`` at the project root
(``{stage_name: {field: value}}``).
"""

from __future__ import annotations

import pydantic


class StageParams(pydantic.BaseModel):
    """Base class for a stage's parameters. Unknown fields in params.yaml are an error."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)
