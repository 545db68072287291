"""`@stage` in-process: outside a block it is the plain function; inside, calls compile to the
same StageSpec records the annotation style builds."""

from __future__ import annotations

from typing import Annotated, TypedDict

import pandas as pd
import polars as pl

import pivot
from pivot import loaders
from pivot.compose import ComposedStage, Handle, StageOutputs
from pivot.registry import Pipeline, build_stage_spec


class Limits(pivot.StageParams):
    low: int = 0
    high: int = 100


@pivot.stage
def clip(values: pl.DataFrame, params: Limits) -> pl.DataFrame:
    return values.filter(pl.col("v").is_between(params.low, params.high))


class Summary(TypedDict):
    table: pd.DataFrame
    stats: Annotated[dict, pivot.Metric]


@pivot.stage(name="summary")
def summarize(values: pd.DataFrame) -> Summary:
    return Summary(table=values, stats={"n": len(values)})


def test_outside_a_block_a_stage_is_the_plain_function() -> None:
    frame = pl.DataFrame({"v": [-5, 5, 500]})
    assert isinstance(clip, ComposedStage)
    assert clip(frame, Limits(high=10))["v"].to_list() == [5]
    assert clip.__name__ == "clip"
    assert clip.__wrapped__.__module__ == __name__


def test_calls_compile_to_stage_specs_like_the_annotation_style() -> None:
    with Pipeline("unit") as pipeline:
        raw = pipeline.input("data/raw.csv")
        clipped = clip(raw, params=Limits(low=1))
        summary = summarize(clipped)
    assert isinstance(clipped, Handle)
    assert isinstance(summary, StageOutputs)
    assert clipped.path == "data/unit/clip.parquet"
    assert summary["stats"].path == "data/unit/summary/stats.json"
    specs = {spec.name: spec for spec in pipeline.stages}
    assert list(specs) == ["unit/clip", "unit/summary"]

    clip_spec = specs["unit/clip"]
    assert clip_spec.func is clip.__wrapped__
    assert clip_spec.params_arg == "params"
    assert clip_spec.params_model is Limits
    assert dict(clip_spec.params_overrides) == {"low": 1}
    [dep] = clip_spec.deps
    assert (dep.arg, dep.paths, dep.loader) == (
        "values",
        ("data/raw.csv",),
        loaders.CSV(frame="polars"),
    )

    # the consumer reads what polars wrote with pandas, because it is annotated pandas
    summary_spec = specs["unit/summary"]
    [dep] = summary_spec.deps
    assert dep.paths == ("data/unit/clip.parquet",)
    assert dep.loader == loaders.Parquet(frame="pandas")
    assert summary_spec.return_kind == "dict"
    assert [(o.key, o.path, o.kind) for o in summary_spec.outs] == [
        ("table", "data/unit/summary/table.parquet", "out"),
        ("stats", "data/unit/summary/stats.json", "metric"),
    ]

    # the same stage written in the annotation style has the same shape
    def clip_annotated(
        values: Annotated[pl.DataFrame, pivot.Dep("data/raw.csv", loaders.CSV())],
        params: Limits,
    ) -> Annotated[pl.DataFrame, pivot.Out("data/unit/clip.parquet", loaders.Parquet())]:
        return values

    annotated = build_stage_spec(clip_annotated, name="unit/clip")
    assert annotated.deps == clip_spec.deps
    assert annotated.outs == clip_spec.outs
    assert annotated.return_kind == clip_spec.return_kind
