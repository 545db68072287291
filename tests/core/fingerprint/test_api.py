"""The public surface of pivot.core.fingerprint, and what it costs on a large pipeline."""

from __future__ import annotations

import dataclasses
import inspect
import time

import pivot.core.fingerprint as fingerprint
from pivot.core.fingerprint import (
    CodeFingerprint,
    SourceRecord,
    fingerprint_cache_entry,
    fingerprint_stage,
    load_cached_fingerprint,
)
from pivot.exceptions import PivotError
from tests.core.fingerprint.conftest import FpProject


def test_all_lists_exactly_the_public_names() -> None:
    public = {name for name in vars(fingerprint) if not name.startswith("_")}
    modules = {name for name in public if inspect.ismodule(getattr(fingerprint, name))}
    imported_helpers = {
        "annotations",
        "os",
        "Callable",
        "Sequence",
        "Path",
        "Walker",
        "unwrap",
        "project_files",
    }
    assert set(fingerprint.__all__) == public - modules - imported_helpers
    for name in fingerprint.__all__:
        assert getattr(fingerprint, name) is not None


def test_value_objects_are_frozen_and_errors_are_pivot_errors() -> None:
    assert dataclasses.is_dataclass(SourceRecord) and SourceRecord.__dataclass_params__.frozen  # type: ignore[attr-defined]
    assert dataclasses.is_dataclass(CodeFingerprint) and CodeFingerprint.__dataclass_params__.frozen  # type: ignore[attr-defined]
    assert issubclass(fingerprint.FingerprintError, PivotError)
    params = inspect.signature(fingerprint_stage).parameters
    assert params["project_root"].kind is inspect.Parameter.KEYWORD_ONLY
    assert params["extra_objects"].kind is inspect.Parameter.KEYWORD_ONLY


STAGES = 176


def _write_large_pipeline(fp_project: FpProject) -> None:
    for index in range(4):
        fp_project.write(
            f"lib/helpers{index}.py",
            "\n".join(
                [
                    f"SCALE = {index + 1}",
                    "",
                    "",
                    f"def base(x):\n    return x * SCALE + {index}",
                    "",
                ]
                + [f"def step{j}(x):\n    return base(x) + {j}\n\n" for j in range(20)]
            ),
        )
    fp_project.write("lib/__init__.py", "")
    lines = ["import polars as pl", "from lib import helpers0, helpers1, helpers2, helpers3", ""]
    for stage in range(STAGES):
        module = f"helpers{stage % 4}"
        lines.append(
            f"def stage{stage}(x: pl.DataFrame) -> int:\n"
            f"    return {module}.step{stage % 20}(x) + {module}.step{(stage + 7) % 20}(x) + {stage}\n"
        )
    fp_project.write("pipeline.py", "\n".join(lines))


def test_large_pipeline_is_fingerprinted_in_milliseconds_per_stage(fp_project: FpProject) -> None:
    _write_large_pipeline(fp_project)
    module = fp_project.load()
    stages = [getattr(module, f"stage{i}") for i in range(STAGES)]
    fingerprint_stage(stages[0], project_root=fp_project.root)  # one-time: distribution metadata
    start = time.perf_counter()
    fingerprints = [fingerprint_stage(stage, project_root=fp_project.root) for stage in stages]
    uncached = time.perf_counter() - start
    assert all(
        len(fp.manifest) == 6 and not fp.warnings for fp in fingerprints
    )  # self, 2 steps, base, SCALE, pkg
    blobs = [fingerprint_cache_entry(fp) for fp in fingerprints]
    start = time.perf_counter()
    loaded = [load_cached_fingerprint(blob) for blob in blobs]
    cached = time.perf_counter() - start
    assert loaded == fingerprints
    # generous bounds for a loaded CI machine; typical: ~0.1 s uncached, ~10 ms cached
    assert uncached < 2.0, uncached
    assert cached < 0.5, cached
