"""Quickstart: clean a CSV, then fit a tiny model on it.

Run it with `pivot --no-tui run` from this folder.
"""

from __future__ import annotations

from typing import Annotated, TypedDict

import polars as pl

import pivot
from pivot import loaders
from pivot.stage_def import StageParams

from helpers import normalize

pipeline = pivot.Pipeline("quickstart")


class PreprocessOutputs(TypedDict):
    clean: Annotated[pl.DataFrame, pivot.Out("data/clean.csv", loaders.CSV())]


def preprocess(
    raw: Annotated[pl.DataFrame, pivot.Dep("data/raw.csv", loaders.CSV())],
) -> PreprocessOutputs:
    """Drop incomplete rows and scale the feature column to [0, 1]."""
    clean = raw.drop_nulls()
    print(f"kept {clean.height} of {raw.height} rows")
    return PreprocessOutputs(clean=clean.with_columns(normalize(pl.col("x")).alias("x")))


class TrainParams(StageParams):
    epochs: int = 300
    learning_rate: float = 0.5


def train(
    clean: Annotated[pl.DataFrame, pivot.Dep("data/clean.csv", loaders.CSV())],
    params: TrainParams,
) -> Annotated[dict, pivot.Metric("metrics.json")]:
    """Fit y = w*x + b by gradient descent and report the error."""
    xs, ys = clean["x"].to_list(), clean["y"].to_list()
    w = b = 0.0
    for _ in range(params.epochs):
        grad_w = sum((w * x + b - y) * x for x, y in zip(xs, ys, strict=True)) / len(xs)
        grad_b = sum(w * x + b - y for x, y in zip(xs, ys, strict=True)) / len(xs)
        w -= params.learning_rate * grad_w
        b -= params.learning_rate * grad_b
    mse = sum((w * x + b - y) ** 2 for x, y in zip(xs, ys, strict=True)) / len(xs)
    print(f"w={w:.3f} b={b:.3f} mse={mse:.4f}")
    return {"w": round(w, 6), "b": round(b, 6), "mse": round(mse, 6)}


pipeline.register(preprocess)
pipeline.register(train)
