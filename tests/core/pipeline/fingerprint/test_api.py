"""The public surface of pivot.core.pipeline.fingerprint, and its results on a large pipeline."""

from __future__ import annotations

import dataclasses
import inspect

import pivot.core.pipeline.fingerprint as fingerprint
from pivot.core.pipeline.fingerprint import (
    CodeFingerprint,
    SourceRecord,
    fingerprint_cache_entry,
    fingerprint_stage,
    load_cached_fingerprint,
)
from pivot.exceptions import PivotError
from tests.core.pipeline.fingerprint.conftest import FpProject


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


def test_large_pipeline_fingerprints_and_cached_loads_are_correct(fp_project: FpProject) -> None:
    # no time bounds: the test suite asserts no timings (speed belongs in benchmarks)
    _write_large_pipeline(fp_project)
    module = fp_project.load()
    stages = [getattr(module, f"stage{i}") for i in range(STAGES)]
    fingerprints = [fingerprint_stage(stage, project_root=fp_project.root) for stage in stages]
    for index, fp in enumerate(fingerprints):
        helpers = f"lib.helpers{index % 4}"
        assert not fp.warnings
        assert set(fp.manifest) == {  # self, 2 steps, base, SCALE, pkg
            f"self:stage{index}",
            f"func:{helpers}.step{index % 20}",
            f"func:{helpers}.step{(index + 7) % 20}",
            f"func:{helpers}.base",
            f"const:{helpers}.SCALE",
            "pkg:polars",
        }
    loaded = [load_cached_fingerprint(fingerprint_cache_entry(fp)) for fp in fingerprints]
    assert [entry.fingerprint if entry else None for entry in loaded] == fingerprints


def test_paths_in_dep_and_out_markers_are_not_forward_references(fp_project: FpProject) -> None:
    """A path like "out/first.json" must not pull the function `first` into the manifest."""
    fp_project.write(
        "pipeline.py",
        """
from typing import Annotated
import pivot

def first() -> Annotated[dict, pivot.Out("out/first.json", pivot.loaders.JSON())]:
    return {}

def second(x: Annotated[dict, pivot.Dep("out/first.json", pivot.loaders.JSON())]) -> Annotated[dict, pivot.Out("out/second.json", pivot.loaders.JSON())]:
    return x
""",
    )
    module = fp_project.load()
    manifest = fingerprint_stage(module.second, project_root=fp_project.root).manifest
    assert not any("first" in key for key in manifest), manifest
