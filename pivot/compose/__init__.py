"""Composed pipelines: ``@stage`` functions wired by calling them in a ``with Pipeline`` block.

::

    @stage
    def clean(records: pl.DataFrame, params: CleanParams) -> pl.DataFrame: ...

    with Pipeline("demo") as pipeline:
        records = pipeline.input("data/raw/records.csv")
        cleaned = clean(records, params=CleanParams(min_value=50))

Each call inside the block returns a handle to the stage's output; passing it to another call
makes a dep. When the block closes, every call is compiled to the same ``StageSpec`` the
annotation style builds, named ``<pipeline>/<stage>``, with outputs at
``data/<pipeline>/<stage>.<ext>`` unless placed. See ``docs/compose.md``.
"""

from __future__ import annotations

from pivot.compose._decorator import ComposedStage, stage
from pivot.compose._handles import Handle, StageOutputs

__all__ = ["ComposedStage", "Handle", "StageOutputs", "stage"]
