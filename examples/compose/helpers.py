"""Helpers shared by the stages: editing one re-runs the stages that use it."""

import polars as pl


def normalize(column: pl.Expr) -> pl.Expr:
    return (column - column.min()) / (column.max() - column.min())
