"""The quickstart written in the composed style: plain `@stage` functions, wired by calling
them inside a `with Pipeline(...)` block. No paths: outputs go to data/compose/.

Run it with `pivot --no-tui run` from this folder.
"""

from __future__ import annotations

from typing import Annotated

import polars as pl

import pivot
from pivot import Pipeline, StageParams, stage

from helpers import normalize


@stage
def preprocess(raw: pl.DataFrame) -> pl.DataFrame:
    """Drop incomplete rows and scale the feature column to [0, 1]."""
    clean = raw.drop_nulls()
    print(f"kept {clean.height} of {raw.height} rows")
    return clean.with_columns(normalize(pl.col("x")).alias("x"))


class TrainParams(StageParams):
    epochs: int = 300
    learning_rate: float = 0.5


@stage
def train(clean: pl.DataFrame, params: TrainParams) -> Annotated[dict, pivot.Metric]:
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


with Pipeline("compose") as pipeline:
    raw = pipeline.input("data/raw.csv")
    clean = preprocess(raw)
    train(clean, params=TrainParams(epochs=300))
