"""Pivot against DVC on a heavy-import pipeline: pandas + scikit-learn imported at module top.

An 8-stage churn-model project (clean -> split -> featurize -> baseline, train -> predict ->
evaluate, importance) on a synthetic 30,000-row CSV (fixed seed), generated twice with the same
code (``ml/steps.py``) and data: a Pivot ``pipeline.py`` in Pivot's annotation style, and a DVC
twin (``dvc.yaml`` + ``stages/<name>.py``). Both import pandas and scikit-learn at module top,
as real projects do. Measured (wall clock of each command as a subprocess, median of
``--repeat``; every run's number of re-run stages is checked):

1. **cold**: full run of a fresh project (``pivot --no-tui run --json`` / ``dvc repro``);
2. **noop** and **status**: nothing changed (``run``/``repro``, ``status``);
3. **params**: edit ``train.n_estimators`` in params.yaml, re-run (train + downstream);
4. **watch** (Pivot only): ``pivot --no-tui run --watch --json`` as a subprocess; the time from
   writing params.yaml to the cycle's ``run_finished`` event, next to the re-run stages' own
   ``duration``;
5. **rss**: peak RSS per process (Pivot's main process and loky workers, DVC's main process and
   each stage process) during a cold run, from ``/proc/<pid>/status`` ``VmHWM`` sampled every
   20 ms, and the largest process of the tree from ``getrusage(RUSAGE_CHILDREN)``.

scikit-learn and pandas are installed with Pivot (editable) into ``benchmarks/.work/heavy-venv``;
DVC comes from ``run_bench.find_dvc(install=True)`` (``benchmarks/.work/dvc-venv``) and runs its
stage scripts with the heavy venv's ``python``, so both tools run the same interpreter and
libraries. When scikit-learn cannot be installed, a stand-in project (numpy/pandas only, plus
``import polars, pyarrow`` at the top) is used instead, and the output says so.

Before each measurement block the runner waits (polling every 20 s, up to ``--quiet-wait``
seconds) until no ``pytest`` runs and the 1-minute load average is below 1.0.

Usage::

    uv run python benchmarks/heavy_pipeline.py [--repeat 3] [--rows 30000] [--watch-edits 5]
        [--no-dvc] [--standin] [--quiet-wait 1200] [--write-doc] [--json FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import dataclasses
import json
import math
import os
import queue
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any, TextIO

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run_bench
import synth

REPO = run_bench.REPO
WORK = run_bench.WORK
DOC = run_bench.DOC
HEAVY_VENV = WORK / "heavy-venv"
SECTION_START = "<!-- heavy:start -->"
SECTION_END = "<!-- heavy:end -->"
SECTION_TITLE = "## A heavy-import pipeline (pandas + scikit-learn)"

#: Targets of issue 19 for this pipeline.
NOOP_TARGET = 0.2
WATCH_OVERHEAD_TARGET = 0.3

# -- the project -----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class StageDef:
    """One stage: what it reads and writes (the same for Pivot and DVC)."""

    name: str
    deps: tuple[str, ...]
    outs: tuple[str, ...] = ()
    metrics: tuple[str, ...] = ()


STAGES = (
    StageDef("clean", ("data/raw.csv",), ("data/clean.csv",)),
    StageDef("split", ("data/clean.csv",), ("data/train.csv", "data/test.csv")),
    StageDef(
        "featurize",
        ("data/train.csv", "data/test.csv"),
        ("models/featurizer.pkl", "data/features_train.csv", "data/features_test.csv"),
    ),
    StageDef(
        "baseline",
        ("data/features_train.csv", "data/features_test.csv"),
        metrics=("metrics/baseline.json",),
    ),
    StageDef("train", ("data/features_train.csv",), ("models/model.pkl",)),
    StageDef("predict", ("models/model.pkl", "data/features_test.csv"), ("data/predictions.csv",)),
    StageDef("evaluate", ("data/predictions.csv",), metrics=("metrics/eval.json",)),
    StageDef(
        "importance", ("models/model.pkl", "data/features_train.csv"), ("reports/importance.csv",)
    ),
)

#: params.yaml: one section per stage that takes params (the Pivot models' defaults match).
PARAMS: dict[str, dict[str, float | int]] = {
    "clean": {"clip_quantile": 0.99},
    "split": {"test_size": 0.2, "seed": 7},
    "featurize": {"min_frequency": 50},
    "baseline": {"c": 1.0, "max_iter": 300},
    "train": {"n_estimators": 60, "max_depth": 12, "min_samples_leaf": 2, "seed": 0},
    "importance": {"top_k": 15},
}
EDITED_STAGE = "train"
EDITED_PARAM = "n_estimators"
SHARED_CODE = "ml/steps.py"


def downstream(stage: str) -> list[str]:
    """``stage`` and every stage that reads, directly or not, what it writes (run order)."""
    affected = {stage}
    for spec in STAGES:
        produced = {out for s in STAGES if s.name in affected for out in s.outs + s.metrics}
        if produced.intersection(spec.deps):
            affected.add(spec.name)
    return [s.name for s in STAGES if s.name in affected]


def upstream(stage: str) -> list[str]:
    """The stages whose outputs ``stage`` reads."""
    deps = set(next(s for s in STAGES if s.name == stage).deps)
    return [s.name for s in STAGES if deps.intersection(s.outs + s.metrics)]


def critical_path(durations: dict[str, float]) -> float:
    """The longest chain of dependent stages among ``durations`` (stage -> seconds)."""
    finish: dict[str, float] = {}
    for spec in STAGES:  # in run order
        if spec.name in durations:
            before = [finish[u] for u in upstream(spec.name) if u in finish]
            finish[spec.name] = durations[spec.name] + max(before, default=0.0)
    return max(finish.values(), default=0.0)


def params_yaml(overrides: dict[str, dict[str, float | int]] | None = None) -> str:
    """The text of params.yaml (PARAMS, with ``overrides`` applied per section)."""
    lines: list[str] = []
    for section, values in PARAMS.items():
        merged = {**values, **(overrides or {}).get(section, {})}
        lines.append(f"{section}:")
        lines.extend(f"  {key}: {value}" for key, value in merged.items())
    return "\n".join(lines) + "\n"


_STEPS_SKLEARN = '''\
"""Churn model: the computations of every stage, shared by Pivot's and DVC's projects."""

from __future__ import annotations

import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import OneHotEncoder, StandardScaler

NUMERIC = ["age", "tenure_months", "monthly_charges", "total_charges", "support_calls"]
CATEGORICAL = ["contract", "payment_method", "region", "internet"]
TARGET = "churned"


def clean(raw: pd.DataFrame, clip_quantile: float) -> pd.DataFrame:
    """Drop duplicate customers, fill gaps, clip charge outliers, normalise labels."""
    df = raw.drop_duplicates("customer_id").dropna(subset=[TARGET]).copy()
    df["age"] = df["age"].fillna(df["age"].median())
    estimate = df["tenure_months"] * df["monthly_charges"]
    df["total_charges"] = df["total_charges"].fillna(estimate)
    limit = df["monthly_charges"].quantile(clip_quantile)
    df["monthly_charges"] = df["monthly_charges"].clip(upper=limit)
    for column in CATEGORICAL:
        df[column] = df[column].fillna("unknown").str.strip().str.lower()
    df[TARGET] = df[TARGET].astype(int)
    return df.reset_index(drop=True)


def split(df: pd.DataFrame, test_size: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Stratified train/test split."""
    train, test = train_test_split(
        df, test_size=test_size, random_state=seed, stratify=df[TARGET]
    )
    return train.reset_index(drop=True), test.reset_index(drop=True)


def fit_featurizer(train: pd.DataFrame, min_frequency: int) -> ColumnTransformer:
    """Scale the numbers, one-hot encode the categories (rare ones pooled)."""
    encoder = OneHotEncoder(
        min_frequency=min_frequency, handle_unknown="infrequent_if_exist", sparse_output=False
    )
    featurizer = ColumnTransformer(
        [("num", StandardScaler(), NUMERIC), ("cat", encoder, CATEGORICAL)]
    )
    return featurizer.fit(train[NUMERIC + CATEGORICAL])


def featurize(featurizer: ColumnTransformer, df: pd.DataFrame) -> pd.DataFrame:
    """The feature matrix of ``df``, with the target as last column."""
    matrix = featurizer.transform(df[NUMERIC + CATEGORICAL])
    features = pd.DataFrame(matrix, columns=featurizer.get_feature_names_out()).round(6)
    features[TARGET] = df[TARGET].to_numpy()
    return features


def _xy(features: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    return features.drop(columns=[TARGET]), features[TARGET]


def train_model(
    features: pd.DataFrame, n_estimators: int, max_depth: int, min_samples_leaf: int, seed: int
) -> RandomForestClassifier:
    """A random forest on the training features."""
    x, y = _xy(features)
    model = RandomForestClassifier(
        n_estimators=n_estimators,
        max_depth=max_depth,
        min_samples_leaf=min_samples_leaf,
        random_state=seed,
        n_jobs=1,
    )
    return model.fit(x, y)


def predict(model: RandomForestClassifier, features: pd.DataFrame) -> pd.DataFrame:
    """Churn probability and decision per test customer."""
    x, y = _xy(features)
    prob = model.predict_proba(x)[:, 1]
    return pd.DataFrame({"y_true": y, "y_prob": prob.round(6), "y_pred": (prob >= 0.5).astype(int)})


def scores(y_true: pd.Series, y_prob: pd.Series, y_pred: pd.Series) -> dict[str, float]:
    """Classification metrics, rounded."""
    values = {
        "accuracy": accuracy_score(y_true, y_pred),
        "precision": precision_score(y_true, y_pred, zero_division=0),
        "recall": recall_score(y_true, y_pred, zero_division=0),
        "f1": f1_score(y_true, y_pred, zero_division=0),
        "roc_auc": roc_auc_score(y_true, y_prob),
    }
    return {name: round(float(value), 6) for name, value in values.items()}


def evaluate(predictions: pd.DataFrame) -> dict[str, float]:
    """Metrics of the model's test predictions."""
    return scores(predictions["y_true"], predictions["y_prob"], predictions["y_pred"])


def baseline(train: pd.DataFrame, test: pd.DataFrame, c: float, max_iter: int) -> dict[str, float]:
    """Metrics of a logistic regression, the bar the forest has to clear."""
    x, y = _xy(train)
    model = LogisticRegression(C=c, max_iter=max_iter).fit(x, y)
    x_test, y_test = _xy(test)
    prob = model.predict_proba(x_test)[:, 1]
    return scores(y_test, prob, (prob >= 0.5).astype(int))


def importance(model: RandomForestClassifier, features: pd.DataFrame, top_k: int) -> pd.DataFrame:
    """The ``top_k`` features by impurity importance."""
    x, _ = _xy(features)
    ranked = pd.DataFrame({"feature": x.columns, "importance": model.feature_importances_})
    ranked["importance"] = ranked["importance"].round(6)
    return ranked.sort_values("importance", ascending=False).head(top_k).reset_index(drop=True)
'''

_STEPS_STANDIN = '''\
"""Churn model, stand-in without scikit-learn (numpy + pandas only).

scikit-learn could not be installed here; polars and pyarrow are imported at the top instead,
to keep a large import in every process that loads this module.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import polars  # noqa: F401  (import cost only)
import pyarrow  # noqa: F401  (import cost only)

NUMERIC = ["age", "tenure_months", "monthly_charges", "total_charges", "support_calls"]
CATEGORICAL = ["contract", "payment_method", "region", "internet"]
TARGET = "churned"


def clean(raw: pd.DataFrame, clip_quantile: float) -> pd.DataFrame:
    """Drop duplicate customers, fill gaps, clip charge outliers, normalise labels."""
    df = raw.drop_duplicates("customer_id").dropna(subset=[TARGET]).copy()
    df["age"] = df["age"].fillna(df["age"].median())
    estimate = df["tenure_months"] * df["monthly_charges"]
    df["total_charges"] = df["total_charges"].fillna(estimate)
    limit = df["monthly_charges"].quantile(clip_quantile)
    df["monthly_charges"] = df["monthly_charges"].clip(upper=limit)
    for column in CATEGORICAL:
        df[column] = df[column].fillna("unknown").str.strip().str.lower()
    df[TARGET] = df[TARGET].astype(int)
    return df.reset_index(drop=True)


def split(df: pd.DataFrame, test_size: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Shuffled train/test split."""
    order = np.random.default_rng(seed).permutation(len(df))
    cut = int(len(df) * (1 - test_size))
    return df.iloc[order[:cut]].reset_index(drop=True), df.iloc[order[cut:]].reset_index(drop=True)


def fit_featurizer(train: pd.DataFrame, min_frequency: int) -> dict[str, Any]:
    """Means and scales of the numbers, the frequent levels of the categories."""
    levels = {
        column: sorted(k for k, n in train[column].value_counts().items() if n >= min_frequency)
        for column in CATEGORICAL
    }
    stats = train[NUMERIC].agg(["mean", "std"])
    return {"mean": stats.loc["mean"].to_dict(), "std": stats.loc["std"].to_dict(), "levels": levels}


def featurize(featurizer: dict[str, Any], df: pd.DataFrame) -> pd.DataFrame:
    """The feature matrix of ``df``, with the target as last column."""
    columns = {f"num__{c}": (df[c] - featurizer["mean"][c]) / featurizer["std"][c] for c in NUMERIC}
    for column, levels in featurizer["levels"].items():
        for level in levels:
            columns[f"cat__{column}_{level}"] = (df[column] == level).astype(float)
    features = pd.DataFrame(columns).round(6)
    features[TARGET] = df[TARGET].to_numpy()
    return features


def _xy(features: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    return features.drop(columns=[TARGET]).to_numpy(), features[TARGET].to_numpy()


def _logistic(x: np.ndarray, y: np.ndarray, steps: int, l2: float) -> np.ndarray:
    x1 = np.hstack([x, np.ones((len(x), 1))])
    w = np.zeros(x1.shape[1])
    for _ in range(steps):
        p = 1 / (1 + np.exp(-x1 @ w))
        w -= 0.5 * (x1.T @ (p - y) / len(y) + l2 * w)
    return w


def train_model(
    features: pd.DataFrame, n_estimators: int, max_depth: int, min_samples_leaf: int, seed: int
) -> dict[str, Any]:
    """Bagged logistic regressions (n_estimators bootstraps, max_depth * 10 steps each)."""
    x, y = _xy(features)
    rng = np.random.default_rng(seed)
    weights = []
    for _ in range(n_estimators):
        rows = rng.integers(0, len(x), len(x))
        weights.append(_logistic(x[rows], y[rows], max_depth * 10, min_samples_leaf / 100))
    names = list(features.columns.drop(TARGET))
    return {"weights": np.array(weights), "columns": names}


def _probability(model: dict[str, Any], x: np.ndarray) -> np.ndarray:
    x1 = np.hstack([x, np.ones((len(x), 1))])
    return (1 / (1 + np.exp(-x1 @ model["weights"].T))).mean(axis=1)


def predict(model: dict[str, Any], features: pd.DataFrame) -> pd.DataFrame:
    """Churn probability and decision per test customer."""
    x, y = _xy(features)
    prob = _probability(model, x)
    return pd.DataFrame({"y_true": y, "y_prob": prob.round(6), "y_pred": (prob >= 0.5).astype(int)})


def scores(y_true: Any, y_prob: Any, y_pred: Any) -> dict[str, float]:
    """Classification metrics, rounded (AUC by ranks)."""
    t, p, d = np.asarray(y_true), np.asarray(y_prob), np.asarray(y_pred)
    tp, fp, fn = ((d == 1) & (t == 1)).sum(), ((d == 1) & (t == 0)).sum(), ((d == 0) & (t == 1)).sum()
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    ranks = pd.Series(p).rank().to_numpy()
    positives = t.sum()
    auc = (ranks[t == 1].sum() - positives * (positives + 1) / 2) / (positives * (len(t) - positives))
    values = {
        "accuracy": (t == d).mean(),
        "precision": precision,
        "recall": recall,
        "f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
        "roc_auc": auc,
    }
    return {name: round(float(value), 6) for name, value in values.items()}


def evaluate(predictions: pd.DataFrame) -> dict[str, float]:
    """Metrics of the model's test predictions."""
    return scores(predictions["y_true"], predictions["y_prob"], predictions["y_pred"])


def baseline(train: pd.DataFrame, test: pd.DataFrame, c: float, max_iter: int) -> dict[str, float]:
    """Metrics of one logistic regression, the bar the ensemble has to clear."""
    x, y = _xy(train)
    model = {"weights": _logistic(x, y, max_iter, 1 / (c * len(y)))[None, :]}
    x_test, y_test = _xy(test)
    prob = _probability(model, x_test)
    return scores(y_test, prob, (prob >= 0.5).astype(int))


def importance(model: dict[str, Any], features: pd.DataFrame, top_k: int) -> pd.DataFrame:
    """The ``top_k`` features by mean absolute weight."""
    weight = np.abs(model["weights"][:, :-1]).mean(axis=0)
    ranked = pd.DataFrame({"feature": model["columns"], "importance": weight.round(6)})
    return ranked.sort_values("importance", ascending=False).head(top_k).reset_index(drop=True)
'''


@dataclasses.dataclass(frozen=True)
class Flavour:
    """The libraries a generated project uses."""

    name: str  # "sklearn" or "standin"
    steps_source: str
    imports: str  # heavy imports at the top of pipeline.py and of every DVC stage script
    featurizer_type: str
    model_type: str
    description: str


SKLEARN = Flavour(
    "sklearn",
    _STEPS_SKLEARN,
    "from sklearn.compose import ColumnTransformer\n"
    "from sklearn.ensemble import RandomForestClassifier",
    "ColumnTransformer",
    "RandomForestClassifier",
    "pandas + scikit-learn",
)
STANDIN = Flavour(
    "standin",
    _STEPS_STANDIN,
    "import polars  # noqa: F401  (stand-in for scikit-learn's import cost)\n"
    "import pyarrow  # noqa: F401",
    "dict[str, Any]",
    "dict[str, Any]",
    "stand-in: pandas + numpy, with polars and pyarrow imported at the top (no scikit-learn)",
)


_PIPELINE = '''\
"""Customer churn with Pivot: the heavy libraries are imported at the top, as usual.

clean -> split -> featurize -> baseline, train -> predict -> evaluate, importance
"""

from __future__ import annotations

from typing import Annotated, Any, TypedDict

import pandas as pd
__IMPORTS__

import pivot
from pivot import loaders
from pivot.stage_def import StageParams

from ml import steps

pipeline = pivot.Pipeline("churn")


class CleanParams(StageParams):
    clip_quantile: float = 0.99


def clean(
    raw: Annotated[pd.DataFrame, pivot.Dep("data/raw.csv", loaders.CSV())],
    params: CleanParams,
) -> Annotated[pd.DataFrame, pivot.Out("data/clean.csv", loaders.CSV())]:
    """Drop duplicates, fill gaps, clip outliers."""
    return steps.clean(raw, params.clip_quantile)


class SplitParams(StageParams):
    test_size: float = 0.2
    seed: int = 7


class SplitOutputs(TypedDict):
    train: Annotated[pd.DataFrame, pivot.Out("data/train.csv", loaders.CSV())]
    test: Annotated[pd.DataFrame, pivot.Out("data/test.csv", loaders.CSV())]


def split(
    clean: Annotated[pd.DataFrame, pivot.Dep("data/clean.csv", loaders.CSV())],
    params: SplitParams,
) -> SplitOutputs:
    """Stratified train/test split."""
    train, test = steps.split(clean, params.test_size, params.seed)
    return SplitOutputs(train=train, test=test)


class FeaturizeParams(StageParams):
    min_frequency: int = 50


class FeaturizeOutputs(TypedDict):
    featurizer: Annotated[__FEATURIZER__, pivot.Out("models/featurizer.pkl", loaders.Pickle())]
    train: Annotated[pd.DataFrame, pivot.Out("data/features_train.csv", loaders.CSV())]
    test: Annotated[pd.DataFrame, pivot.Out("data/features_test.csv", loaders.CSV())]


def featurize(
    train: Annotated[pd.DataFrame, pivot.Dep("data/train.csv", loaders.CSV())],
    test: Annotated[pd.DataFrame, pivot.Dep("data/test.csv", loaders.CSV())],
    params: FeaturizeParams,
) -> FeaturizeOutputs:
    """Fit the featurizer on the training rows; transform both sets."""
    featurizer = steps.fit_featurizer(train, params.min_frequency)
    return FeaturizeOutputs(
        featurizer=featurizer,
        train=steps.featurize(featurizer, train),
        test=steps.featurize(featurizer, test),
    )


class BaselineParams(StageParams):
    c: float = 1.0
    max_iter: int = 300


def baseline(
    train: Annotated[pd.DataFrame, pivot.Dep("data/features_train.csv", loaders.CSV())],
    test: Annotated[pd.DataFrame, pivot.Dep("data/features_test.csv", loaders.CSV())],
    params: BaselineParams,
) -> Annotated[dict[str, float], pivot.Metric("metrics/baseline.json")]:
    """Logistic-regression baseline."""
    return steps.baseline(train, test, params.c, params.max_iter)


class TrainParams(StageParams):
    n_estimators: int = 60
    max_depth: int = 12
    min_samples_leaf: int = 2
    seed: int = 0


def train(
    features: Annotated[pd.DataFrame, pivot.Dep("data/features_train.csv", loaders.CSV())],
    params: TrainParams,
) -> Annotated[__MODEL__, pivot.Out("models/model.pkl", loaders.Pickle())]:
    """Fit the model."""
    return steps.train_model(
        features, params.n_estimators, params.max_depth, params.min_samples_leaf, params.seed
    )


def predict(
    model: Annotated[__MODEL__, pivot.Dep("models/model.pkl", loaders.Pickle())],
    features: Annotated[pd.DataFrame, pivot.Dep("data/features_test.csv", loaders.CSV())],
) -> Annotated[pd.DataFrame, pivot.Out("data/predictions.csv", loaders.CSV())]:
    """Score the test set."""
    return steps.predict(model, features)


def evaluate(
    predictions: Annotated[pd.DataFrame, pivot.Dep("data/predictions.csv", loaders.CSV())],
) -> Annotated[dict[str, float], pivot.Metric("metrics/eval.json")]:
    """Test metrics of the model."""
    return steps.evaluate(predictions)


class ImportanceParams(StageParams):
    top_k: int = 15


def importance(
    model: Annotated[__MODEL__, pivot.Dep("models/model.pkl", loaders.Pickle())],
    features: Annotated[pd.DataFrame, pivot.Dep("data/features_train.csv", loaders.CSV())],
    params: ImportanceParams,
) -> Annotated[pd.DataFrame, pivot.Out("reports/importance.csv", loaders.CSV())]:
    """The most important features."""
    return steps.importance(model, features, params.top_k)


pipeline.register(clean)
pipeline.register(split)
pipeline.register(featurize)
pipeline.register(baseline)
pipeline.register(train)
pipeline.register(predict)
pipeline.register(evaluate)
pipeline.register(importance)
'''

_DVC_HEADER = '''\
"""DVC stage `__NAME__` of the churn project (its computation: ml/steps.py)."""

from __future__ import annotations

import json
import pickle
import sys
from pathlib import Path

import pandas as pd
import yaml
__IMPORTS__

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from ml import steps  # noqa: E402

PARAMS = yaml.safe_load(Path("params.yaml").read_text()).get("__NAME__", {})


def save(value: object, path: str) -> None:
    """Write a frame as CSV, a dict as JSON, anything else as a pickle."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    if isinstance(value, pd.DataFrame):
        value.to_csv(path, index=False)
    elif path.endswith(".json"):
        Path(path).write_text(json.dumps(value, indent=2) + "\\n")
    else:
        Path(path).write_bytes(pickle.dumps(value, protocol=5))


def load_pickle(path: str) -> object:
    return pickle.loads(Path(path).read_bytes())


'''

#: The body of each DVC stage script: the same calls as the Pivot stage, with its own I/O.
_DVC_BODIES = {
    "clean": 'save(steps.clean(pd.read_csv("data/raw.csv"), PARAMS["clip_quantile"]), '
    '"data/clean.csv")',
    "split": 'train, test = steps.split(pd.read_csv("data/clean.csv"), PARAMS["test_size"], '
    'PARAMS["seed"])\nsave(train, "data/train.csv")\nsave(test, "data/test.csv")',
    "featurize": 'train, test = pd.read_csv("data/train.csv"), pd.read_csv("data/test.csv")\n'
    'featurizer = steps.fit_featurizer(train, PARAMS["min_frequency"])\n'
    'save(featurizer, "models/featurizer.pkl")\n'
    'save(steps.featurize(featurizer, train), "data/features_train.csv")\n'
    'save(steps.featurize(featurizer, test), "data/features_test.csv")',
    "baseline": 'train = pd.read_csv("data/features_train.csv")\n'
    'test = pd.read_csv("data/features_test.csv")\n'
    'save(steps.baseline(train, test, PARAMS["c"], PARAMS["max_iter"]), "metrics/baseline.json")',
    "train": 'features = pd.read_csv("data/features_train.csv")\n'
    'model = steps.train_model(features, PARAMS["n_estimators"], PARAMS["max_depth"], '
    'PARAMS["min_samples_leaf"], PARAMS["seed"])\nsave(model, "models/model.pkl")',
    "predict": 'model = load_pickle("models/model.pkl")\n'
    'save(steps.predict(model, pd.read_csv("data/features_test.csv")), "data/predictions.csv")',
    "evaluate": 'save(steps.evaluate(pd.read_csv("data/predictions.csv")), "metrics/eval.json")',
    "importance": 'model = load_pickle("models/model.pkl")\n'
    'features = pd.read_csv("data/features_train.csv")\n'
    'save(steps.importance(model, features, PARAMS["top_k"]), "reports/importance.csv")',
}


def pipeline_source(flavour: Flavour) -> str:
    """Pivot's pipeline.py."""
    return (
        _PIPELINE.replace("__IMPORTS__", flavour.imports)
        .replace("__FEATURIZER__", flavour.featurizer_type)
        .replace("__MODEL__", flavour.model_type)
    )


def dvc_script(stage: str, flavour: Flavour) -> str:
    """``stages/<stage>.py`` of the DVC twin."""
    header = _DVC_HEADER.replace("__NAME__", stage).replace("__IMPORTS__", flavour.imports)
    return header + _DVC_BODIES[stage] + "\n"


def dvc_yaml() -> str:
    """The DVC twin's dvc.yaml: same deps, params, outs and metrics as the Pivot stages."""
    lines = ["stages:"]
    for spec in STAGES:
        lines += [f"  {spec.name}:", f"    cmd: python stages/{spec.name}.py", "    deps:"]
        lines += [f"      - {d}" for d in (f"stages/{spec.name}.py", SHARED_CODE, *spec.deps)]
        if spec.name in PARAMS:
            lines += ["    params:", *(f"      - {spec.name}.{k}" for k in PARAMS[spec.name])]
        if spec.outs:
            lines += ["    outs:", *(f"      - {o}" for o in spec.outs)]
        if spec.metrics:
            lines += [
                "    metrics:",
                *(f"      - {m}:\n          cache: false" for m in spec.metrics),
            ]
    return "\n".join(lines) + "\n"


# -- synthetic data --------------------------------------------------------------------------

_CONTRACTS = (("month-to-month", 0.55, 1.0), ("one year", 0.25, -0.4), ("two year", 0.2, -1.3))
_PAYMENTS = ("credit card", "bank transfer", "electronic check", "mailed check")
_REGIONS = ("north", "south", "east", "west", "central")
_INTERNET = (("dsl", 0.4, 0.0), ("fiber optic", 0.45, 0.5), ("none", 0.15, -0.6))
RAW_COLUMNS = (
    "customer_id",
    "age",
    "tenure_months",
    "contract",
    "payment_method",
    "region",
    "internet",
    "monthly_charges",
    "total_charges",
    "support_calls",
    "churned",
)


def _weighted(rng: random.Random, options: Sequence[tuple[str, float, float]]) -> tuple[str, float]:
    """Pick (label, effect) from (label, weight, effect) options."""
    label, _, effect = rng.choices(options, weights=[w for _, w, _ in options])[0]
    return label, effect


def _messy(rng: random.Random, value: str) -> str:
    """Now and then a label as people type it: capitalised, padded, or missing."""
    roll = rng.random()
    if roll < 0.01:
        return ""
    if roll < 0.03:
        return f" {value.title()} "
    return value


def raw_row(rng: random.Random, customer: int) -> list[object]:
    """One customer of the churn data set (with gaps, outliers and messy labels)."""
    age = rng.randint(18, 80)
    tenure = rng.randint(0, 72)
    contract, contract_effect = _weighted(rng, _CONTRACTS)
    internet, internet_effect = _weighted(rng, _INTERNET)
    payment = rng.choice(_PAYMENTS)
    monthly = max(15.0, rng.gauss(55 + 30 * (internet == "fiber optic"), 15))
    if rng.random() < 0.003:
        monthly *= 10  # a data-entry outlier
    total = monthly * tenure * rng.uniform(0.95, 1.05)
    calls = min(int(rng.expovariate(0.6)), 15)
    logit = (
        -1.2
        + contract_effect
        + internet_effect
        + 0.02 * (min(monthly, 150) - 65)
        - 0.035 * tenure
        + 0.3 * calls
        + 0.4 * (payment == "electronic check")
        - 0.01 * (age - 45)
        + rng.gauss(0, 0.7)
    )
    churned = int(rng.random() < 1 / (1 + math.exp(-logit)))
    return [
        customer,
        "" if rng.random() < 0.02 else age,
        tenure,
        _messy(rng, contract),
        _messy(rng, payment),
        _messy(rng, rng.choice(_REGIONS)),
        _messy(rng, internet),
        round(monthly, 2),
        "" if rng.random() < 0.01 else round(total, 2),
        calls,
        churned,
    ]


def write_raw_csv(path: Path, rows: int, seed: int = 19) -> None:
    """The raw churn CSV: ``rows`` customers, ~0.5% of them listed twice."""
    rng = random.Random(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(RAW_COLUMNS)
        previous: list[object] = []
        for customer in range(rows):
            row = raw_row(rng, 100_000 + customer)
            writer.writerow(previous if previous and rng.random() < 0.005 else row)
            previous = row


# -- generating projects ---------------------------------------------------------------------


@dataclasses.dataclass
class Setup:
    """The interpreter, the tools and the kind of project of this benchmark."""

    python: Path
    flavour: Flavour
    pivot: TracedPivot
    dvc: run_bench.DvcTool | None
    raw_csv: Path
    notes: list[str] = dataclasses.field(default_factory=list)


def write_project(root: Path, tool: str, setup: Setup) -> None:
    """Files of a fresh project for ``tool`` ("pivot" or "dvc")."""
    if root.exists():
        shutil.rmtree(root)
    (root / "data").mkdir(parents=True)
    shutil.copyfile(setup.raw_csv, root / "data" / "raw.csv")
    (root / "params.yaml").write_text(params_yaml())
    (root / "ml").mkdir()
    (root / "ml" / "__init__.py").write_text("")
    (root / SHARED_CODE).write_text(setup.flavour.steps_source)
    if tool == "pivot":
        (root / "pipeline.py").write_text(pipeline_source(setup.flavour))
        return
    (root / "dvc.yaml").write_text(dvc_yaml())
    (root / "stages").mkdir()
    for spec in STAGES:
        (root / "stages" / f"{spec.name}.py").write_text(dvc_script(spec.name, setup.flavour))


def generate(root: Path, tool: str, setup: Setup) -> Path:
    """A fresh git repository with the project, initialised for ``tool``."""
    write_project(root, tool, setup)
    run_bench.run_timed(["git", "init", "-q"], root, synth.GIT_ENV)
    if tool == "pivot":
        run_bench.run_timed([*setup.pivot.command, "init"], root)
    else:
        assert setup.dvc is not None
        run_bench.run_timed([setup.dvc.dvc, "init", "-q"], root, setup.dvc.env)
    synth.git_commit(root, "churn pipeline (heavy imports)")
    return root


def edit_params(root: Path, value: int) -> None:
    """Set ``train.n_estimators`` in params.yaml to ``value`` (a rewrite, as an editor saves)."""
    (root / "params.yaml").write_text(params_yaml({EDITED_STAGE: {EDITED_PARAM: value}}))


# -- Pivot runs, traced ----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Timeline:
    """Where one Pivot run's wall clock went, from its JSON events (seconds)."""

    wall: float
    startup: float  # launch -> run_started: interpreter, imports, pipeline.py, planning
    run: float  # run_finished.duration
    critical: float  # the longest chain of the stages that ran (their own `duration`)
    shutdown: float  # run_finished -> exit: worker pool shutdown, interpreter exit


def timeline(events: list[dict[str, Any]], launched: float, wall: float) -> Timeline:
    """The :class:`Timeline` of a run launched at ``launched`` (Unix time)."""
    times = {e["event"]: e["time"] for e in events if e["event"] in ("run_started", "run_finished")}
    finished = next((e for e in events if e["event"] == "run_finished"), {})
    durations = {
        e["stage"]: float(e["duration"])
        for e in events
        if e["event"] == "stage_finished" and e["status"] == "ran"
    }
    return Timeline(
        wall,
        times.get("run_started", launched) - launched,
        float(finished.get("duration", 0.0)),
        critical_path(durations),
        launched + wall - times.get("run_finished", launched + wall),
    )


class TracedPivot(run_bench.PivotTool):
    """``run_bench.PivotTool`` whose runs also keep their :class:`Timeline`."""

    def __init__(self, command: Sequence[str]) -> None:
        super().__init__(command)
        self.timelines: list[Timeline] = []

    def run(self, root: Path) -> run_bench.Sample:
        launched = time.time()
        wall, cpu, proc = run_bench.run_timed([*self.command, "--no-tui", "run", "--json"], root)
        events = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
        self.timelines.append(timeline(events, launched, wall))
        return run_bench.Sample(wall, cpu, count_ran("pivot", proc.stdout))


def import_cost(python: Path, root: Path, repeat: int = 3) -> tuple[float, float]:
    """(interpreter start, importing ml/steps.py on top of it): medians, in a fresh process."""
    bare = [run_bench.run_timed([str(python), "-c", "pass"], root)[0] for _ in range(repeat)]
    cmd = [str(python), "-c", "import ml.steps"]
    heavy = [run_bench.run_timed(cmd, root)[0] for _ in range(repeat)]
    return statistics.median(bare), statistics.median(heavy) - statistics.median(bare)


# -- the environment -------------------------------------------------------------------------


def _uv() -> str | None:
    found = shutil.which("uv")
    local = Path.home() / ".local" / "bin" / "uv"
    return found or (str(local) if local.exists() else None)


def _imports_ok(python: Path, modules: str) -> bool:
    code = f"import {modules}"
    proc = subprocess.run([str(python), "-c", code], capture_output=True, text=True)
    return proc.returncode == 0


def _install(python: Path, packages: Sequence[str], log: TextIO) -> bool:
    """Install Pivot (editable) and ``packages`` into the venv of ``python``."""
    uv = _uv()
    if uv is not None:
        cmd = [uv, "pip", "install", "--compile-bytecode", "--python", str(python)]
    else:
        cmd = [str(python), "-m", "pip", "install", "-q"]
    proc = subprocess.run([*cmd, "-e", str(REPO), *packages], stdout=log, stderr=subprocess.STDOUT)
    return proc.returncode == 0


def ensure_heavy_venv(force_standin: bool) -> tuple[Path, Flavour, list[str]]:
    """The heavy venv's interpreter and what it can run (scikit-learn, or the stand-in)."""
    python = HEAVY_VENV / "bin" / "python"
    notes: list[str] = []
    ready = python.exists() and _imports_ok(python, "pivot, pandas, pyarrow")
    if ready and not force_standin and _imports_ok(python, "sklearn"):
        return python, SKLEARN, notes
    if not python.exists():
        WORK.mkdir(parents=True, exist_ok=True)
        uv = _uv()
        base = getattr(sys, "_base_executable", sys.executable)
        cmd = [uv, "venv", "-q", "--python", base] if uv else [base, "-m", "venv"]
        subprocess.run([*cmd, str(HEAVY_VENV)], check=True)
    log_path = WORK / "heavy-install.log"
    with log_path.open("w") as log:
        if not force_standin and _install(python, ["scikit-learn", "pandas", "pyarrow"], log):
            return python, SKLEARN, notes
        if not ready and not _install(python, ["pandas", "pyarrow"], log):
            raise SystemExit(f"cannot install Pivot and pandas into {HEAVY_VENV}; see {log_path}")
    reason = "--standin" if force_standin else f"scikit-learn could not be installed ({log_path})"
    notes.append(f"**Stand-in project** ({reason}): {STANDIN.description}.")
    return python, STANDIN, notes


def library_versions(python: Path) -> str:
    """Versions of the heavy libraries in the heavy venv."""
    code = (
        "import importlib.metadata as m\n"
        "for name in ('pandas', 'numpy', 'scikit-learn', 'pyarrow', 'polars'):\n"
        "    try: print(f'{name} {m.version(name)}')\n"
        "    except m.PackageNotFoundError: pass\n"
    )
    proc = subprocess.run([str(python), "-c", code], capture_output=True, text=True)
    return ", ".join(proc.stdout.split("\n")[:-1]) or "?"


def make_setup(args: argparse.Namespace, workdir: Path) -> Setup:
    """Install what is missing and build the tools."""
    python, flavour, notes = ensure_heavy_venv(args.standin)
    pivot = TracedPivot([str(python.parent / "pivot")])
    dvc: run_bench.DvcTool | None = None
    if not args.no_dvc:
        path = run_bench.find_dvc(install=True)
        assert path is not None
        dvc = run_bench.DvcTool(path)
        # DVC's `python stages/<name>.py` runs the heavy venv's interpreter, as Pivot does.
        dvc.env["PATH"] = f"{python.parent}{os.pathsep}{dvc.env['PATH']}"
    raw = workdir / f"raw-{args.rows}.csv"
    write_raw_csv(raw, args.rows)
    return Setup(python, flavour, pivot, dvc, raw, notes)


# -- waiting for a quiet machine -------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Quiet:
    """The machine's state when a measurement block started."""

    block: str
    load: float
    waited: float
    timed_out: bool


def _pytest_running() -> bool:
    return subprocess.run(["pgrep", "-f", "pytest"], capture_output=True).returncode == 0


def wait_for_quiet(block: str, max_wait: float, poll: float = 20.0, limit: float = 1.0) -> Quiet:
    """Wait until no pytest runs and the 1-min load is below ``limit`` (at most ``max_wait`` s)."""
    started = time.monotonic()
    while True:
        load = os.getloadavg()[0]
        waited = time.monotonic() - started
        if not _pytest_running() and load < limit:
            return Quiet(block, load, waited, False)
        if waited >= max_wait:
            return Quiet(block, load, waited, True)
        print(f"  waiting for a quiet machine ({block}): load {load:.2f}", file=sys.stderr)
        time.sleep(poll)


# -- watch mode ------------------------------------------------------------------------------


class EventStream:
    """JSON-line events of a running process, read by a thread, each with its arrival time."""

    def __init__(self, stdout: IO[str]) -> None:
        self._queue: queue.Queue[tuple[float, dict[str, Any]] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._pump, args=(stdout,), daemon=True)
        self._thread.start()

    def _pump(self, stdout: IO[str]) -> None:
        for line in stdout:
            if line.startswith("{"):
                with contextlib.suppress(json.JSONDecodeError):
                    self._queue.put((time.time(), json.loads(line)))
        self._queue.put(None)

    def until(self, event: str, timeout: float) -> list[tuple[float, dict[str, Any]]]:
        """Events up to and including the next ``event``."""
        seen: list[tuple[float, dict[str, Any]]] = []
        deadline = time.monotonic() + timeout
        while True:
            item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            if item is None:
                raise RuntimeError(f"the watcher exited before {event!r}")
            seen.append(item)
            if item[1].get("event") == event:
                return seen

    def drain(self, quiet: float) -> list[dict[str, Any]]:
        """Events arriving until none came for ``quiet`` seconds."""
        extra: list[dict[str, Any]] = []
        with contextlib.suppress(queue.Empty):
            while (item := self._queue.get(timeout=quiet)) is not None:
                extra.append(item[1])
        return extra


@dataclasses.dataclass(frozen=True)
class WatchEdit:
    """One params edit seen by the watcher (seconds since the write)."""

    value: int
    finished: float  # run_finished's own timestamp
    received: float  # when its line reached us
    detected: float | None  # files_changed
    stage_work: float  # sum of the re-run stages' durations
    critical: float  # the longest chain of them (stages on two workers overlap)
    run_duration: float  # run_finished.duration
    ran: int
    stages: dict[str, float]
    extra_events: list[str]

    @property
    def overhead(self) -> float:
        """Time not spent in the stages' own work on the critical path."""
        return self.finished - self.critical

    @property
    def overhead_sum(self) -> float:
        """Time beyond the sum of the stages' durations (negative when they overlap)."""
        return self.finished - self.stage_work


@dataclasses.dataclass
class WatchResult:
    edits: list[WatchEdit]
    expected: int
    stop_seconds: float | None
    exit_code: int | None
    leftovers: list[str]
    first_cycle: float

    def median(self, field: str) -> float:
        return statistics.median(getattr(e, field) for e in self.edits)

    @property
    def ok(self) -> bool:
        return all(e.ran == self.expected and not e.extra_events for e in self.edits)


def _summarise_edit(
    value: int, written: float, events: list[tuple[float, dict[str, Any]]]
) -> WatchEdit:
    """Timings of one edit's cycle from its events."""
    arrived, finished = events[-1]
    detected = next((e["time"] - written for _, e in events if e["event"] == "files_changed"), None)
    stages = {
        e["stage"]: float(e["duration"])
        for _, e in events
        if e["event"] == "stage_finished" and e["status"] == "ran"
    }
    return WatchEdit(
        value,
        finished["time"] - written,
        arrived - written,
        detected,
        sum(stages.values()),
        critical_path(stages),
        float(finished.get("duration", 0.0)),
        len(stages),
        stages,
        [],
    )


def measure_watch(
    command: Sequence[str], root: Path, values: Sequence[int], log: Path, timeout: float = 600
) -> WatchResult:
    """Edit params.yaml under ``pivot run --watch``; time each cycle; stop with SIGINT."""
    expected = len(downstream(EDITED_STAGE))
    with log.open("w") as stderr:
        proc = subprocess.Popen(
            [*command, "--no-tui", "run", "--watch", "--json"],
            cwd=root,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
        try:
            assert proc.stdout is not None
            stream = EventStream(proc.stdout)
            started = time.perf_counter()
            stream.until("run_finished", timeout)
            first_cycle = time.perf_counter() - started
            stream.drain(1.0)
            edits = [_one_watch_edit(stream, root, value, timeout) for value in values]
            tree = {pid: cmdline(pid) for pid in descendants(proc.pid)}
            stop_seconds, exit_code = _stop(proc)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    time.sleep(1.0)  # let the workers' own shutdown finish
    leftovers = [f"{pid} {command}" for pid, command in tree.items() if _alive(pid)]
    return WatchResult(edits, expected, stop_seconds, exit_code, leftovers, first_cycle)


def _one_watch_edit(stream: EventStream, root: Path, value: int, timeout: float) -> WatchEdit:
    time.sleep(0.5)  # the watcher is idle
    written = time.time()
    edit_params(root, value)
    edit = _summarise_edit(value, written, stream.until("run_finished", timeout))
    extra = [e["event"] for e in stream.drain(1.5)]
    return dataclasses.replace(edit, extra_events=extra)


def _stop(proc: subprocess.Popen[str]) -> tuple[float | None, int | None]:
    """SIGINT, as Ctrl-C does; (seconds to exit, exit code), or (None, None) if it hung."""
    started = time.perf_counter()
    proc.send_signal(signal.SIGINT)
    try:
        code = proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)
        return None, None
    return time.perf_counter() - started, code


# -- peak RSS --------------------------------------------------------------------------------


def _ppids() -> dict[int, int]:
    """pid -> parent pid of every process."""
    parents: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                stat = Path(f"/proc/{entry.name}/stat").read_text()
                parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    return parents


def descendants(root: int) -> list[int]:
    """Every process below ``root``."""
    children: dict[int, list[int]] = {}
    for pid, parent in _ppids().items():
        children.setdefault(parent, []).append(pid)
    found: list[int] = []
    stack = list(children.get(root, []))
    while stack:
        pid = stack.pop()
        found.append(pid)
        stack.extend(children.get(pid, []))
    return found


def _alive(pid: int) -> bool:
    """``pid`` runs (a zombie waiting to be reaped does not count)."""
    with contextlib.suppress(OSError, IndexError):
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    return False


def cmdline(pid: int) -> str:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    return ""


def _hwm_kib(pid: int) -> int | None:
    with contextlib.suppress(OSError, ValueError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return None


class TreeSampler:
    """Peak RSS (VmHWM) of every process below a pid, sampled by a thread.

    Keyed by (pid, command line): a forked child shows its parent's pages until it execs, and
    exec starts a new peak, so the two phases of one pid are kept apart.
    """

    def __init__(self, root: int, interval: float = 0.02) -> None:
        self.root = root
        self.interval = interval
        self.peaks: dict[tuple[int, str], int] = {}
        self.parents: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> TreeSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def sample(self) -> None:
        parents = _ppids()
        for pid in descendants(self.root):
            self.parents[pid] = parents.get(pid, 0)
            hwm, command = _hwm_kib(pid), cmdline(pid)
            if hwm is not None and command:
                key = (pid, command)
                self.peaks[key] = max(hwm, self.peaks.get(key, 0))


_WRAPPER = (
    "import resource, subprocess, sys\n"
    "code = subprocess.call(sys.argv[2:])\n"
    "usage = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
    "open(sys.argv[1], 'w').write(str(usage.ru_maxrss))\n"
    "sys.exit(code)\n"
)


@dataclasses.dataclass
class RssResult:
    """Peak RSS of one cold run's processes, in KiB."""

    tool: str
    wall: float
    tree_max: int  # largest process of the tree: getrusage(RUSAGE_CHILDREN).ru_maxrss
    processes: list[tuple[str, int]]  # (label, peak) of each recognised process
    ran: int


def _label(tool: str, command: str, is_main: bool) -> str | None:
    """What a process of a run is, or None for short-lived helpers (shells, forks, git)."""
    program = Path(command.split(" ", 1)[0]).name
    if tool == "pivot":
        if "resource_tracker" in command:
            return "resource tracker (" + ("loky)" if "loky" in command else "multiprocessing)")
        if "loky" in command:
            return "worker"
        return "pivot (main)" if is_main else None
    match = re.search(r"stages/(\w+)\.py", command)
    if match and program.startswith("python"):
        return f"stage {match.group(1)}"
    return "dvc repro (main)" if is_main else None


def measure_rss(tool: str, cmd: Sequence[str], root: Path, env: dict[str, str]) -> RssResult:
    """Run ``cmd`` in ``root`` under the sampler and the getrusage wrapper."""
    out_file = root.parent / f"{root.name}.maxrss"
    wrapped = [sys.executable, "-c", _WRAPPER, str(out_file), *cmd]
    started = time.perf_counter()
    proc = subprocess.Popen(
        wrapped, cwd=root, env={**os.environ, **env}, stdout=subprocess.PIPE, text=True
    )
    with TreeSampler(proc.pid) as sampler:
        stdout, _ = proc.communicate()
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise run_bench.CommandFailed(f"{' '.join(cmd)} exited {proc.returncode} in {root}")
    processes = _labelled(tool, sampler)
    return RssResult(tool, wall, int(out_file.read_text()), processes, count_ran(tool, stdout))


def _labelled(tool: str, sampler: TreeSampler) -> list[tuple[str, int]]:
    rows: list[tuple[str, int]] = []
    workers = 0
    for (pid, command), peak in sorted(sampler.peaks.items()):
        label = _label(tool, command, sampler.parents.get(pid) == sampler.root)
        if label == "worker":
            workers += 1
            label = f"worker {workers}"
        if label is not None:
            rows.append((label, peak))
    return sorted(rows, key=lambda row: _label_order(row[0]))


def _label_order(label: str) -> tuple[int, int]:
    """Main process first, then workers or stages (in run order), then helpers."""
    names = [s.name for s in STAGES]
    if label.endswith("(main)"):
        return (0, 0)
    if label.startswith("worker "):
        return (1, int(label.split()[1]))
    if label.startswith("stage ") and label[6:] in names:
        return (1, names.index(label[6:]))
    return (2, 0)


def count_ran(tool: str, stdout: str) -> int:
    """Stages that ran, from Pivot's JSON lines or DVC's ``Running stage`` lines."""
    if tool == "dvc":
        return stdout.count("Running stage '")
    ran = 0
    for line in stdout.splitlines():
        if line.startswith("{"):
            event = json.loads(line)
            ran += event.get("event") == "stage_finished" and event.get("status") == "ran"
    return ran


# -- the benchmark ---------------------------------------------------------------------------


@dataclasses.dataclass
class Results:
    """Everything measured."""

    bench: run_bench.Bench
    quiet: list[Quiet] = dataclasses.field(default_factory=list)
    watch: WatchResult | None = None
    rss: list[RssResult] = dataclasses.field(default_factory=list)
    #: step -> Pivot's timelines of that step's runs.
    timelines: dict[str, list[Timeline]] = dataclasses.field(default_factory=dict)
    #: (interpreter start, import of ml/steps.py) in seconds.
    imports: tuple[float, float] | None = None


class HeavyBench:
    """Runs the measurement blocks on projects under ``workdir``."""

    def __init__(self, setup: Setup, workdir: Path, repeat: int, quiet_wait: float) -> None:
        self.setup = setup
        self.workdir = workdir
        self.repeat = repeat
        self.quiet_wait = quiet_wait
        plan = run_bench.Plan(len(STAGES), 0, repeat, workdir)
        self.results = Results(run_bench.Bench(plan))
        self.edit_value = PARAMS[EDITED_STAGE][EDITED_PARAM]

    @property
    def bench(self) -> run_bench.Bench:
        return self.results.bench

    def tools(self) -> list[run_bench.Tool]:
        return [t for t in (self.setup.pivot, self.setup.dvc) if t is not None]

    def block(self, name: str) -> None:
        """Start a measurement block: wait for a quiet machine, note its load."""
        quiet = wait_for_quiet(name, self.quiet_wait)
        self.results.quiet.append(quiet)
        self.bench.log(f"{name} (load {quiet.load:.2f}, waited {quiet.waited:.0f} s)")

    def next_value(self) -> int:
        """A value of train.n_estimators not used before in this run (no run-cache hits)."""
        self.edit_value = int(self.edit_value) + 1
        return self.edit_value

    def warm_up(self) -> None:
        """One untimed cold run, no-op and status per tool: bytecode and page cache warm."""
        for tool in self.tools():
            root = generate(self.workdir / f"{tool.name}-warmup", tool.name, self.setup)
            tool.run(root)
            tool.run(root)
            tool.status(root)

    @contextlib.contextmanager
    def traced(self, tool: run_bench.Tool, step: str) -> Iterator[None]:
        """Keep the timelines of Pivot's runs inside the block under ``step``."""
        start = len(self.setup.pivot.timelines)
        yield
        if tool is self.setup.pivot:
            self.results.timelines[step] = self.setup.pivot.timelines[start:]

    def imports(self) -> None:
        """What importing the heavy libraries costs one fresh interpreter."""
        self.block("import cost")
        root = generate(self.workdir / "imports", "pivot", self.setup)
        self.results.imports = import_cost(self.setup.python, root)
        start, heavy = self.results.imports
        self.bench.log(f"  interpreter {start:.3f} s; import ml.steps +{heavy:.3f} s")

    def cold(self, tool: run_bench.Tool) -> Path:
        """Full runs of fresh projects; returns the last project."""
        self.block(f"cold {tool.name}")
        samples: list[run_bench.Sample] = []
        root = self.workdir
        with self.traced(tool, "cold"):
            for i in range(self.repeat):
                root = generate(self.workdir / f"{tool.name}-cold{i}", tool.name, self.setup)
                samples.append(tool.run(root))
        self.bench.record(tool, "cold", len(STAGES), len(STAGES), samples)
        return root

    def noop_and_status(self, tool: run_bench.Tool, root: Path) -> None:
        """The first re-run after the cold run, then no-op and status medians."""
        self.block(f"no-op {tool.name}")
        self.bench.record(tool, "noop_first", len(STAGES), 0, [tool.run(root)])
        self.bench.repeated(tool, "noop", len(STAGES), 0, self.repeat, lambda _: tool.run(root))
        self.bench.repeated(
            tool, "status", len(STAGES), 0, self.repeat, lambda _: tool.status(root)
        )

    def params_edit(self, tool: run_bench.Tool, root: Path) -> None:
        """Edit train.n_estimators (a new value each time), re-run."""
        self.block(f"params edit {tool.name}")
        expected = len(downstream(EDITED_STAGE))

        def edit(_: int) -> run_bench.Sample:
            time.sleep(run_bench.EDIT_SETTLE)
            edit_params(root, self.next_value())
            return tool.run(root)

        with self.traced(tool, "params"):
            self.bench.repeated(tool, "params", len(STAGES), expected, self.repeat, edit)

    def watch(self, root: Path, edits: int) -> None:
        """Params edits under watch mode (Pivot only)."""
        self.block("watch pivot")
        # Alternately below and above the last value, each one new (no run-cache hits).
        base = int(self.edit_value)
        values = [base + (10 + i) * (1 if i % 2 else -1) for i in range(edits)]
        log = self.workdir / "watch.stderr.log"
        result = measure_watch(self.setup.pivot.command, root, values, log)
        self.results.watch = result
        for e in result.edits:
            self.bench.log(
                f"  watch n_estimators={e.value}: {e.finished:.3f} s to run_finished, stage work "
                f"{e.stage_work:.3f} s, critical path {e.critical:.3f} s, overhead "
                f"{e.overhead:.3f} s, {e.ran} ran {e.extra_events}"
            )

    def rss(self, tool: run_bench.Tool) -> None:
        """Peak RSS per process of a cold run of a fresh project."""
        self.block(f"peak RSS {tool.name}")
        root = generate(self.workdir / f"{tool.name}-rss", tool.name, self.setup)
        if tool is self.setup.dvc:
            assert self.setup.dvc is not None
            cmd, env = [self.setup.dvc.dvc, "repro"], self.setup.dvc.env
        else:
            cmd, env = [*self.setup.pivot.command, "--no-tui", "run", "--json"], {}
        result = measure_rss(tool.name, cmd, root, env)
        self.results.rss.append(result)
        peaks = ", ".join(f"{label} {kib / 1024:.0f} MiB" for label, kib in result.processes)
        self.bench.log(f"  {tool.name}: largest {result.tree_max / 1024:.0f} MiB; {peaks}")


def run_all(heavy: HeavyBench, watch_edits: int) -> None:
    """Every block, Pivot first."""
    pivot, dvc = heavy.setup.pivot, heavy.setup.dvc
    heavy.warm_up()
    heavy.imports()
    roots = {tool.name: heavy.cold(tool) for tool in heavy.tools()}
    for tool in heavy.tools():
        heavy.noop_and_status(tool, roots[tool.name])
    for tool in heavy.tools():
        heavy.params_edit(tool, roots[tool.name])
    heavy.watch(roots[pivot.name], watch_edits)
    heavy.rss(pivot)
    if dvc is not None:
        heavy.rss(dvc)


# -- report ----------------------------------------------------------------------------------

_fmt = run_bench._fmt_seconds


def _mib(kib: int) -> str:
    return f"{kib / 1024:.0f} MiB"


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


STEP_ROWS = (
    ("cold", "cold full run (fresh project)", "-"),
    ("noop_first", "first re-run after the cold run (nothing changed)", "-"),
    ("noop", "no-op re-run", f"≤ {NOOP_TARGET} s"),
    ("status", "status", "-"),
    ("params", "", "-"),
)


def _params_label() -> str:
    n = len(downstream(EDITED_STAGE))
    return f"params edit ({EDITED_STAGE}.{EDITED_PARAM}) → {n} stages re-run"


def _verdict(m: run_bench.Measurement | None, limit: float | None) -> str:
    if m is None:
        return "-"
    problems = [] if m.ok else [f"re-ran {sorted({r for r in m.ran if r is not None})}"]
    if limit is not None and m.median > limit:
        problems.append(f"{m.median / limit:.1f}x the target")
    if limit is None and not problems:
        return "-"
    return "✓" if not problems else "✗ " + "; ".join(problems)


def results_table(results: Results, tools: Sequence[str]) -> str:
    """Wall clock (CPU) per step and tool, the watch row, verdicts."""
    bench = results.bench
    header = ["step", *(run_bench.TOOL_LABELS[t] for t in tools), "Pivot target", "Pivot ✓?"]
    lines = [_row(header), "|" + "---|" * len(header)]
    for step, label, target in STEP_ROWS:
        cells = []
        for tool in tools:
            m = bench.get(tool, step)
            cpu = m.cpu_median if m else None
            cells.append(f"{m.cell()}; CPU {_fmt(cpu)}" if m and cpu is not None else "-")
        limit = NOOP_TARGET if step == "noop" else None
        verdict = _verdict(bench.get("pivot", step), limit)
        lines.append(_row([label or _params_label(), *cells, target, verdict]))
    if results.watch is not None:
        lines.append(_watch_row(results.watch, len(tools)))
    return "\n".join(lines)


def _watch_row(watch: WatchResult, n_tools: int) -> str:
    finished, work = watch.median("finished"), watch.median("stage_work")
    critical, overhead = watch.median("critical"), watch.median("overhead")
    cell = (
        f"{_fmt(finished)} ({watch.expected} ran; stage work {_fmt(work)}, critical path "
        f"{_fmt(critical)}; overhead {_fmt(overhead)})"
    )
    problems = [] if watch.ok else ["unexpected stages or extra cycles"]
    if overhead > WATCH_OVERHEAD_TARGET:
        problems.append(f"overhead {_fmt(overhead)}")
    verdict = "✓" if not problems else "✗ " + "; ".join(problems)
    label = f"watch: params edit → `run_finished` (median of {len(watch.edits)} edits)"
    dashes = ["-"] * (n_tools - 1)
    return _row([label, cell, *dashes, f"≤ stage work + {WATCH_OVERHEAD_TARGET} s", verdict])


def watch_table(watch: WatchResult) -> str:
    """Each watch edit: detection, cycle end, stage work, overhead."""
    lines = [
        "| n_estimators | files_changed | run_finished | line received | stage work (sum) "
        "| critical path | overhead | ran | stage durations |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for e in watch.edits:
        detected = _fmt(e.detected) if e.detected is not None else "-"
        flag = f" ⚠ then {', '.join(e.extra_events)}" if e.extra_events else ""
        lines.append(
            _row(
                [
                    str(e.value),
                    detected,
                    _fmt(e.finished),
                    _fmt(e.received),
                    _fmt(e.stage_work),
                    _fmt(e.critical),
                    _fmt(e.overhead),
                    f"{e.ran}{flag}",
                    ", ".join(f"{name} {_fmt(d)}" for name, d in e.stages.items()),
                ]
            )
        )
    return "\n".join(lines)


def rss_table(results: Results) -> str:
    """Peak RSS per process, one column per tool."""
    by_tool = {r.tool: r for r in results.rss}
    columns = [t for t in ("pivot", "dvc") if t in by_tool]
    labels = {t: [f"{label}: {_mib(kib)}" for label, kib in by_tool[t].processes] for t in columns}
    height = max(len(v) for v in labels.values())
    header = ["", *(run_bench.TOOL_LABELS[t] for t in columns)]
    lines = [_row(header), "|" + "---|" * len(header)]
    for i in range(height):
        cells = [labels[t][i] if i < len(labels[t]) else "" for t in columns]
        lines.append(_row(["process peak (VmHWM)" if i == 0 else "", *cells]))
    lines.append(
        _row(["largest process (getrusage)", *(_mib(by_tool[t].tree_max) for t in columns)])
    )
    lines.append(_row(["cold run under the sampler", *(_fmt(by_tool[t].wall) for t in columns)]))
    return "\n".join(lines)


def _worker_peaks(results: Results, tool: str, prefix: str) -> list[int]:
    for r in results.rss:
        if r.tool == tool:
            return [kib for label, kib in r.processes if label.startswith(prefix)]
    return []


_TIMELINE_FIELDS = [field.name for field in dataclasses.fields(Timeline)]


def _median_timeline(timelines: list[Timeline], field: str) -> float:
    return statistics.median(getattr(t, field) for t in timelines)


def breakdown_table(results: Results) -> str:
    """Where Pivot's cold and params-edit runs spend their wall clock (medians)."""
    lines = [
        "| Pivot run | wall | launch → `run_started` | `run_finished.duration` | of which "
        "stages' own work (critical path) | `run_finished` → exit |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    labels = {"cold": "cold full run", "params": _params_label()}
    for step, timelines in results.timelines.items():
        if timelines:
            cells = [_fmt(_median_timeline(timelines, f)) for f in _TIMELINE_FIELDS]
            lines.append(_row([labels.get(step, step), *cells]))
    return "\n".join(lines)


def summary(results: Results) -> str:
    """One paragraph on what the numbers show (built from them)."""
    parts = [
        _cold_sentence(results),
        _noop_sentence(results),
        _params_sentence(results),
        _watch_sentence(results),
        _memory_sentence(results),
    ]
    return " ".join(p for p in parts if p)


def _cold_sentence(results: Results) -> str:
    cold_p, cold_d = results.bench.get("pivot", "cold"), results.bench.get("dvc", "cold")
    if not (cold_p and cold_d):
        return ""
    imports = ""
    if results.imports is not None:
        imports = f" ({_fmt(results.imports[1])} per process here)"
    return (
        f"A cold run of the 8 stages takes {_fmt(cold_p.median)} with Pivot and "
        f"{_fmt(cold_d.median)} with DVC ({cold_d.median / cold_p.median:.1f}x). DVC starts one "
        f"interpreter per stage and each one imports pandas and scikit-learn again{imports}; "
        "Pivot imports them in its main process (to read `pipeline.py`) and once in each of its "
        "two workers, where the import is counted in the `duration` of the worker's first "
        "stage."
    )


def _noop_sentence(results: Results) -> str:
    noop, first = results.bench.get("pivot", "noop"), results.bench.get("pivot", "noop_first")
    if not (noop and first):
        return ""
    noop_d, status = results.bench.get("dvc", "noop"), results.bench.get("pivot", "status")
    verdict = "meets" if noop.median <= NOOP_TARGET else "misses"
    vs = f" (DVC: {_fmt(noop_d.median)})" if noop_d else ""
    status_text = f", status in {_fmt(status.median)}" if status else ""
    return (
        f"With nothing changed Pivot answers from file stats without importing `pipeline.py`: "
        f"{_fmt(noop.median)} for the no-op run{vs}{status_text}, so it {verdict} the "
        f"{NOOP_TARGET} s target (the first re-run after the cold run: {_fmt(first.median)})."
    )


def _params_sentence(results: Results) -> str:
    params_p, params_d = results.bench.get("pivot", "params"), results.bench.get("dvc", "params")
    timelines = results.timelines.get("params", [])
    if not (params_p and params_d and timelines):
        return ""
    startup = _median_timeline(timelines, "startup")
    work = _median_timeline(timelines, "critical")
    return (
        f"A params edit re-runs the same {params_p.expected} stages in both tools: "
        f"{_fmt(params_p.median)} with Pivot against {_fmt(params_d.median)} with DVC. Pivot's "
        f"run is a new process, so it pays the heavy import again: {_fmt(startup)} pass before "
        f"the run starts (interpreter, `pipeline.py`, planning), and the stages' "
        f"{_fmt(work)} on the critical path include a fresh worker importing the pipeline."
    )


def _watch_sentence(results: Results) -> str:
    w = results.watch
    if w is None:
        return ""
    verdict = "within" if w.median("overhead") <= WATCH_OVERHEAD_TARGET else "not within"
    return (
        f"Watch mode keeps the main process and the workers warm, which is where this "
        f"pipeline's time goes otherwise: the same edit is done {_fmt(w.median('finished'))} "
        f"after the save, of which the stages' own work is {_fmt(w.median('critical'))} on the "
        f"critical path ({_fmt(w.median('stage_work'))} summed over both workers): "
        f"{_fmt(w.median('overhead'))} of overhead, {verdict} the {WATCH_OVERHEAD_TARGET} s "
        "acceptance. The first edit after the watcher starts is slower: it also starts the "
        "workers, and their import of the pipeline is counted in the stages' durations."
    )


def _memory_sentence(results: Results) -> str:
    workers = _worker_peaks(results, "pivot", "worker")
    stages = _worker_peaks(results, "dvc", "stage")
    main, dvc_main = _worker_peaks(results, "pivot", "pivot"), _worker_peaks(results, "dvc", "dvc")
    if not (workers and stages and main and dvc_main):
        return ""
    pivot_total, dvc_total = main[0] + sum(workers), dvc_main[0] + max(stages)
    return (
        f"Memory: each Pivot worker peaks at {_mib(min(workers))} to {_mib(max(workers))} and "
        f"the main process at {_mib(main[0])}, all alive for the whole run; each DVC stage "
        f"process peaks at {_mib(min(stages))} to {_mib(max(stages))}, one at a time, beside "
        f"a {_mib(dvc_main[0])} `dvc` process. Every process holds its own copy of the imported "
        f"libraries, so at its peak Pivot keeps about {pivot_total / dvc_total:.1f}x DVC's "
        f"resident memory ({_mib(pivot_total)} against {_mib(dvc_total)}, summing RSS, which "
        "counts shared library pages in each process)."
    )


def report(results: Results, setup: Setup, args: argparse.Namespace, load: tuple[str, str]) -> str:
    """The generated markdown section (without its title)."""
    names = [t.name for t in (setup.pivot, setup.dvc) if t is not None]
    info = run_bench.machine_info([t for t in (setup.pivot, setup.dvc) if t is not None])
    waits = "; ".join(
        f"{q.block} {q.load:.2f}" + (" (gave up waiting)" if q.timed_out else "")
        for q in results.quiet
    )
    lines = [
        *info,
        f"- Libraries (heavy venv): {library_versions(setup.python)}; project: "
        f"{setup.flavour.description}",
        *(f"- {note}" for note in setup.notes + results.bench.notes),
        f"- Load average (1 min) before / after: {load[0]} / {load[1]}; at the start of each "
        f"block: {waits}",
        f"- Data: {args.rows:,} rows of synthetic churn data (seed 19); medians of "
        f"{args.repeat}; `(k ran)` = stages that re-ran (⚠ when not as expected).",
        "",
        results_table(results, names),
    ]
    if results.watch is not None:
        w = results.watch
        stop = f"{w.stop_seconds:.2f} s, exit code {w.exit_code}" if w.stop_seconds else "hung"
        left = f"; still alive afterwards: {w.leftovers}" if w.leftovers else ""
        lines += [
            "",
            f"Watch mode, each edit (seconds after the write; first cycle {_fmt(w.first_cycle)}; "
            f"SIGINT stopped the watcher in {stop}{left}):",
            "",
            watch_table(w),
        ]
    if results.timelines:
        lines += [
            "",
            "Where Pivot's runs spend their time (medians):",
            "",
            breakdown_table(results),
        ]
    if results.imports is not None:
        start, heavy = results.imports
        lines += [
            "",
            f"For scale: a bare interpreter of the heavy venv starts in {_fmt(start)}; importing "
            f"`ml/steps.py` (pandas and the scikit-learn modules it uses) adds {_fmt(heavy)} "
            "(medians of 3, fresh processes).",
        ]
    if results.rss:
        lines += ["", "Peak RSS during a cold run (fresh project):", "", rss_table(results)]
    lines += ["", summary(results)]
    return "\n".join(lines)


_METHOD = """\
`benchmarks/heavy_pipeline.py` generates an 8-stage churn-model project (clean → split →
featurize → baseline, train → predict → evaluate, importance) on a synthetic CSV, twice with
the same computation (`ml/steps.py`), params (`params.yaml`, one section per stage) and data:
a Pivot `pipeline.py` in the annotation style (pandas frames through `loaders.CSV()`, models
through `loaders.Pickle()`, `StageParams` models, `Metric` outputs) and a DVC twin (`dvc.yaml`,
`cmd: python stages/<name>.py`, with `deps`, `params`, `outs` and `metrics`). Both import
pandas and scikit-learn at module top. Both run the same interpreter and libraries (a venv
under `benchmarks/.work/heavy-venv` holding Pivot, pandas and scikit-learn; DVC runs from its
own venv and calls that `python`).

```bash
uv run python benchmarks/heavy_pipeline.py --write-doc     # ~10 min on a quiet 2-core machine
```

- Every number is the wall clock of the command as a subprocess (`pivot --no-tui run --json`,
  `pivot --no-tui status`, `dvc repro`, `dvc status`), median of `--repeat`; CPU is user + sys
  of the command and its children. Stage counts come from `stage_finished` events (Pivot) and
  `Running stage` lines (DVC). One untimed cold run, no-op and status per tool come first.
- **cold**: a fresh project (git repo, `pivot init` / `dvc init`) per repetition. **no-op**:
  the first re-run after the cold run is listed on its own, then the median of the next ones.
  **params edit**: `train.n_estimators` gets a value not used before in the project (so neither
  tool's run cache answers), then `run` / `repro`.
- **watch**: `pivot --no-tui run --watch --json` runs as a subprocess on the params-edit
  project; after its first cycle, each edit rewrites params.yaml and the time is taken from
  just before the write to the `time` of the cycle's `run_finished` event (and to when its line
  arrived). *Stage work* is the sum of the re-run stages' `duration`; *overhead* is the rest
  (change detection with its debounce, planning, handing work to the warm workers, committing).
  After each cycle the stream is watched 1.5 s for cycles nobody asked for. SIGINT ends it.
- **Pivot's time split**, from the `time` of each run's JSON events: launch → `run_started`
  (interpreter, imports, `pipeline.py`, planning), `run_finished.duration`, the longest chain
  of the re-run stages' own `duration` (critical path; evaluate follows predict, importance
  runs beside them on the other worker) and `run_finished` → exit.
- **peak RSS**: a cold run of a fresh project per tool, under a thread that reads `VmHWM` (the
  process's own peak resident set) from `/proc/<pid>/status` of every descendant every 20 ms
  (a process that peaks in its last 20 ms is under-reported). Pivot's rows are its main
  process (which imports `pipeline.py`, so pandas and scikit-learn too) and each loky worker;
  DVC's are `dvc repro` and each `python stages/<name>.py`. RSS counts shared library pages in
  every process, so rows do not add up to the machine's use. *largest process* is
  `getrusage(RUSAGE_CHILDREN).ru_maxrss` of a wrapper around the command: exact, but only the
  maximum.
- Before each block the runner waits (every 20 s, up to 20 min) until no `pytest` runs and the
  1-minute load average is below 1.0, and records the load it started at."""


def write_doc(body: str) -> None:
    """Replace (or append) the generated section at the end of docs/benchmarks.md."""
    block = f"{SECTION_START}\n{SECTION_TITLE}\n\n{_METHOD}\n\n### Results\n\n{body.rstrip()}\n{SECTION_END}"
    text = DOC.read_text()
    if SECTION_START in text and SECTION_END in text:
        before, rest = text.split(SECTION_START, 1)
        text = before + block + rest.split(SECTION_END, 1)[1]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    DOC.write_text(text)


def to_json(results: Results) -> dict[str, Any]:
    """The raw measurements."""
    return {
        "results": [m.to_dict() for m in results.bench.results],
        "quiet": [dataclasses.asdict(q) for q in results.quiet],
        "timelines": {
            step: [dataclasses.asdict(t) for t in timelines]
            for step, timelines in results.timelines.items()
        },
        "imports": results.imports,
        "watch": dataclasses.asdict(results.watch) if results.watch else None,
        "rss": [dataclasses.asdict(r) for r in results.rss],
    }


# -- main ------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="Repetitions per step (median).")
    parser.add_argument("--rows", type=int, default=30_000, help="Rows of the raw CSV.")
    parser.add_argument("--watch-edits", type=int, default=5, help="Params edits in watch mode.")
    parser.add_argument("--no-dvc", action="store_true", help="Pivot only.")
    parser.add_argument("--standin", action="store_true", help="Use the stand-in project.")
    parser.add_argument(
        "--quiet-wait", type=float, default=1200, help="Longest wait for a quiet machine (s)."
    )
    parser.add_argument(
        "--workdir", type=Path, default=WORK / "heavy", help="Where projects are generated."
    )
    parser.add_argument("--json", type=Path, help="Also write the raw measurements here.")
    parser.add_argument("--write-doc", action="store_true", help=f"Update {DOC.relative_to(REPO)}.")
    return parser.parse_args(argv)


@contextlib.contextmanager
def _timer(label: str) -> Iterator[None]:
    started = time.perf_counter()
    yield
    print(f"{label}: {time.perf_counter() - started:.0f} s", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    workdir: Path = args.workdir.resolve()
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    removed = run_bench.clean_environment()
    setup = make_setup(args, workdir)
    heavy = HeavyBench(setup, workdir, args.repeat, args.quiet_wait)
    if removed:
        heavy.bench.notes.append(f"Unset for the benchmark: {', '.join(removed)}.")
    load_before = run_bench._load_average()
    with _timer("benchmark"):
        run_all(heavy, args.watch_edits)
    body = report(heavy.results, setup, args, (load_before, run_bench._load_average()))
    print(body)
    if args.json:
        args.json.write_text(json.dumps(to_json(heavy.results), indent=2))
    if args.write_doc:
        write_doc(body)
        print(f"\nupdated {DOC.relative_to(REPO)}", file=sys.stderr)
    ok = all(m.ok for m in heavy.bench.results) and (
        heavy.results.watch is None or heavy.results.watch.ok
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
