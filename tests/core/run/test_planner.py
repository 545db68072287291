"""The planner's decision table: for each stage, skip, restore or run, and the reason shown.

Each test is one row of the table. A project is written to ``tmp_path``, run once through the
real engine (stages execute in this process, see ``tests/core/conftest.py``), then one thing
is changed and the planner is asked again. ``status`` is the prediction `pivot status` and
`run --dry-run` show (a stage whose upstream will run is stale); ``decide`` is the decision the
engine takes once a stage's upstream stages have finished.
"""

from __future__ import annotations

import json
import os

import pytest

from pivot.core.run.events import StageStatus
from pivot.core.run.explain import explain
from pivot.core.run.planner import Action, Change
from pivot.core.store.hashing import hash_file
from tests.core.conftest import InProcessProject

TWO_STAGES = """
from typing import Annotated
import pivot
from pivot import loaders
from helpers import double

def make(raw: Annotated[str, pivot.Dep("raw.txt", loaders.Text())]) -> Annotated[dict, pivot.Out("data/a.json", loaders.JSON())]:
    return {"n": double(len(raw.strip()))}

def use(a: Annotated[dict, pivot.Dep("data/a.json", loaders.JSON())]) -> Annotated[str, pivot.Out("data/b.txt", loaders.Text())]:
    return str(a["n"] + 1)

pipeline = pivot.Pipeline("demo")
pipeline.register(make)
pipeline.register(use)
"""

HELPERS = """
def double(x):
    return 2 * x
"""


@pytest.fixture
def two(proj: InProcessProject) -> InProcessProject:
    """``make`` (raw.txt → data/a.json, through helpers.double) → ``use`` (→ data/b.txt)."""
    proj.write("pipeline.py", TWO_STAGES)
    proj.write("helpers.py", HELPERS)
    proj.write("raw.txt", "hello\n")
    return proj


@pytest.fixture
def ran(two: InProcessProject) -> InProcessProject:
    """The two-stage project after a successful run."""
    summary = two.run()
    assert summary.statuses == {"make": StageStatus.RAN, "use": StageStatus.RAN}
    assert two.read("data/b.txt") == "11"
    return two


def actions(proj: InProcessProject) -> dict[str, tuple[Action, str]]:
    return {name: (d.action, d.reason) for name, d in proj.status().items()}


def drop_from_cache(proj: InProcessProject, rel: str) -> None:
    """Remove the cache blob of the workspace file ``rel``."""
    digest = hash_file(proj.path(rel))
    proj.project.cache.quarantine(digest)
    assert not proj.project.cache.has(digest)


# -- never run, nothing changed ------------------------------------------------------------------


def test_a_stage_that_never_ran_will_run(two: InProcessProject) -> None:
    assert actions(two) == {
        "make": (Action.RUN, "never run"),
        "use": (Action.RUN, "never run"),
    }


def test_a_stage_whose_inputs_and_outputs_match_its_lock_is_skipped(ran: InProcessProject) -> None:
    assert actions(ran) == {
        "make": (Action.SKIP, "up to date"),
        "use": (Action.SKIP, "up to date"),
    }


def test_a_second_run_skips_every_stage_and_changes_nothing(ran: InProcessProject) -> None:
    lock = ran.read(".pivot/stages/make.lock")
    summary = ran.run()
    assert summary.statuses == {"make": StageStatus.SKIPPED, "use": StageStatus.SKIPPED}
    assert ran.read(".pivot/stages/make.lock") == lock


# -- code --------------------------------------------------------------------------------------


def test_editing_a_stage_body_runs_it_with_its_own_code_key_as_the_reason(
    ran: InProcessProject,
) -> None:
    ran.edit("pipeline.py", 'a["n"] + 1', 'a["n"] + 2')
    decision = ran.decide("use")
    assert (decision.action, decision.reason) == (Action.RUN, "code changed: self:use")
    assert [(c.kind, c.key) for c in decision.changes] == [("code", "self:use")]
    assert ran.decide("make").action is Action.SKIP


def test_editing_a_helper_runs_the_stage_that_calls_it(ran: InProcessProject) -> None:
    ran.edit("helpers.py", "2 * x", "3 * x")
    decision = ran.decide("make")
    assert (decision.action, decision.reason) == (Action.RUN, "code changed: func:helpers.double")
    assert [(c.kind, c.key) for c in decision.changes] == [("code", "func:helpers.double")]
    assert ran.decide("use").action is Action.SKIP  # it does not call the helper


def test_a_comment_in_the_stage_is_not_a_code_change(ran: InProcessProject) -> None:
    ran.edit("pipeline.py", 'return str(a["n"] + 1)', 'return str(a["n"] + 1)  # plus one')
    assert ran.decide("use").action is Action.SKIP


# -- params ------------------------------------------------------------------------------------

PARAMS = """
from typing import Annotated
import pivot
from pivot import loaders

class TrainParams(pivot.StageParams):
    lr: float = 0.1
    seed: int | None = None

def train(p: TrainParams) -> Annotated[dict, pivot.Out("model.json", loaders.JSON())]:
    return {"lr": p.lr, "seed": p.seed}

def other() -> Annotated[dict, pivot.Out("other.json", loaders.JSON())]:
    return {}

pipeline = pivot.Pipeline("params")
pipeline.register(train)
pipeline.register(other)
"""


@pytest.fixture
def params(proj: InProcessProject) -> InProcessProject:
    """``train`` with a params model (lr=0.1, seed=None), and an unrelated ``other``; run."""
    proj.write("pipeline.py", PARAMS)
    proj.run()
    return proj


def test_a_params_yaml_override_runs_the_stage_with_the_param_as_reason(
    params: InProcessProject,
) -> None:
    params.write("params.yaml", "train:\n  lr: 0.2\n")
    decision = params.decide("train")
    assert (decision.action, decision.reason) == (Action.RUN, "params changed: lr")
    assert decision.changes == (Change("params", "lr", 0.1, 0.2),)
    assert decision.inputs is not None and decision.inputs.params == {"lr": 0.2, "seed": None}


def test_a_params_yaml_value_equal_to_the_default_is_no_change(params: InProcessProject) -> None:
    params.write("params.yaml", "train:\n  lr: 0.1\n")
    assert params.decide("train").action is Action.SKIP


def test_a_changed_params_model_default_runs_the_stage_as_a_code_change_of_the_model(
    params: InProcessProject,
) -> None:
    """The model's class body is code (docs/change-detection.md), and code comes first in the
    reason; the new value is still listed among the changes."""
    params.edit("pipeline.py", "lr: float = 0.1", "lr: float = 0.3")
    decision = params.decide("train")
    assert (decision.action, decision.reason) == (
        Action.RUN,
        "code changed: class:pipeline.TrainParams",
    )
    assert Change("params", "lr", 0.1, 0.3) in decision.changes


def test_a_run_records_the_effective_params_so_the_next_status_skips(
    params: InProcessProject,
) -> None:
    params.write("params.yaml", "train:\n  lr: 0.5\n")
    params.run()
    assert json.loads(params.read("model.json")) == {"lr": 0.5, "seed": None}
    assert params.decide("train").action is Action.SKIP


def test_invalid_params_are_an_error_of_that_stage_alone(params: InProcessProject) -> None:
    params.write("params.yaml", "train:\n  lr: fast\n")
    decisions = params.status()
    assert decisions["train"].action is Action.ERROR
    assert decisions["train"].reason.startswith("stage 'train': invalid params: lr:")
    assert decisions["other"].action is Action.SKIP


def test_a_param_changed_from_null_to_a_value_is_reported_as_changed(
    params: InProcessProject,
) -> None:
    params.write("params.yaml", "train:\n  seed: 7\n")
    decision = params.decide("train")
    assert decision.changes == (Change("params", "seed", None, 7),)
    [explanation] = explain(params.engine(), ["train"])
    assert [(p.key, p.change) for p in explanation.params] == [("seed", "changed")]


# -- deps --------------------------------------------------------------------------------------


def test_a_dep_whose_bytes_changed_runs_the_stage(ran: InProcessProject) -> None:
    old = hash_file(ran.path("raw.txt"))
    ran.write("raw.txt", "hello, world\n")
    decision = ran.decide("make")
    assert (decision.action, decision.reason) == (Action.RUN, "deps changed: raw.txt")
    assert decision.changes == (Change("dep", "raw.txt", old, hash_file(ran.path("raw.txt"))),)


def test_a_dep_touched_without_changing_its_bytes_is_no_change(ran: InProcessProject) -> None:
    before = ran.path("raw.txt").stat().st_mtime_ns
    ran.write("raw.txt", "hello\n")  # the same bytes, written again
    os.utime(ran.path("raw.txt"), ns=(before + 10**9, before + 10**9))
    assert ran.decide("make").action is Action.SKIP


def test_a_deleted_dep_runs_the_stage_and_reports_it_removed(ran: InProcessProject) -> None:
    ran.path("raw.txt").unlink()
    decision = ran.decide("make")
    assert (decision.action, decision.reason) == (Action.RUN, "deps changed: raw.txt")
    assert decision.changes[0].describe() == "dep raw.txt removed"


# -- several changes at once -------------------------------------------------------------------


def test_the_reason_names_code_first_while_the_changes_list_everything(
    ran: InProcessProject,
) -> None:
    ran.edit("helpers.py", "2 * x", "3 * x")
    ran.write("raw.txt", "hello, world\n")
    decision = ran.decide("make")
    assert decision.reason == "code changed: func:helpers.double"
    assert [(c.kind, c.key) for c in decision.changes] == [
        ("code", "func:helpers.double"),
        ("dep", "raw.txt"),
    ]


def test_the_reason_names_three_keys_and_counts_the_rest(proj: InProcessProject) -> None:
    proj.write(
        "pipeline.py",
        """
        from typing import Annotated
        import pivot
        from pivot import loaders

        class Knobs(pivot.StageParams):
            a: int = 0
            b: int = 0
            c: int = 0
            d: int = 0
            e: int = 0

        def tune(k: Knobs) -> Annotated[dict, pivot.Out("k.json", loaders.JSON())]:
            return k.model_dump()

        pivot.Pipeline("k").register(tune)
        """,
    )
    proj.run()
    proj.write("params.yaml", "tune: {e: 1, d: 1, c: 1, b: 1, a: 1}\n")
    assert proj.decide("tune").reason == "params changed: a, b, c (+2 more)"


# -- outputs -----------------------------------------------------------------------------------


def test_a_deleted_output_whose_blob_is_cached_is_restored_not_run(ran: InProcessProject) -> None:
    ran.path("data/a.json").unlink()
    decision = ran.decide("make")
    assert (decision.action, decision.reason) == (
        Action.RESTORE,
        "restore data/a.json from cache",
    )
    assert [r.path for r in decision.restore] == ["data/a.json"]


def test_a_restore_brings_back_the_committed_bytes_and_downstream_is_skipped(
    ran: InProcessProject,
) -> None:
    committed = ran.read("data/a.json")
    ran.path("data/a.json").unlink()
    summary = ran.run()
    assert summary.statuses == {"make": StageStatus.RESTORED, "use": StageStatus.SKIPPED}
    assert ran.read("data/a.json") == committed


def test_status_predicts_a_stage_downstream_of_a_restore_as_up_to_date(
    ran: InProcessProject,
) -> None:
    ran.path("data/a.json").unlink()
    assert actions(ran) == {
        "make": (Action.RESTORE, "restore data/a.json from cache"),
        "use": (Action.SKIP, "up to date"),
    }


def test_a_deleted_output_whose_blob_is_gone_runs_the_stage(ran: InProcessProject) -> None:
    drop_from_cache(ran, "data/a.json")
    ran.path("data/a.json").unlink()
    decision = ran.decide("make")
    assert (decision.action, decision.reason) == (
        Action.RUN,
        "output data/a.json is missing and not in the cache",
    )


def test_a_hand_edited_output_runs_its_stage(ran: InProcessProject) -> None:
    """A plain output is only restored when missing: an edited one is rebuilt by the stage."""
    committed = hash_file(ran.path("data/b.txt"))
    ran.write("data/b.txt", "42")
    decision = ran.decide("use")
    assert (decision.action, decision.reason) == (Action.RUN, "output data/b.txt was modified")
    assert decision.changes == (
        Change("out", "data/b.txt", committed, hash_file(ran.path("data/b.txt"))),
    )


def test_a_deleted_metric_is_run_because_metrics_are_not_cached(proj: InProcessProject) -> None:
    proj.write(
        "pipeline.py",
        """
        from typing import Annotated
        import pivot

        def score() -> Annotated[dict, pivot.Metric("metrics.json")]:
            return {"acc": 0.9}

        pivot.Pipeline("m").register(score)
        """,
    )
    proj.run()
    proj.path("metrics.json").unlink()
    assert proj.decide("score").reason == "output metrics.json is missing and not in the cache"


FOLDER = """
from typing import Annotated
import pivot
from pivot import loaders

def shards() -> Annotated[dict, pivot.DirectoryOut("shards", loaders.Text())]:
    return {"a.txt": "a", "sub/b.txt": "b"}

pivot.Pipeline("f").register(shards)
"""


def test_a_deleted_folder_output_is_restored_file_by_file(proj: InProcessProject) -> None:
    proj.write("pipeline.py", FOLDER)
    proj.run()
    for rel in ("shards/a.txt", "shards/sub/b.txt"):
        proj.path(rel).unlink()
    proj.path("shards/sub").rmdir()
    proj.path("shards").rmdir()
    assert proj.decide("shards").action is Action.RESTORE
    assert proj.run().statuses == {"shards": StageStatus.RESTORED}
    assert (proj.read("shards/a.txt"), proj.read("shards/sub/b.txt")) == ("a", "b")


def test_a_folder_output_missing_one_file_is_modified_and_runs(proj: InProcessProject) -> None:
    proj.write("pipeline.py", FOLDER)
    proj.run()
    proj.path("shards/sub/b.txt").unlink()
    decision = proj.decide("shards")
    assert (decision.action, decision.reason) == (Action.RUN, "output shards was modified")


# -- incremental outputs -----------------------------------------------------------------------

INCREMENTAL = """
from typing import Annotated
import pivot
from pivot import loaders

def grow(
    rows: Annotated[list, pivot.IncrementalOut("db.json", loaders.JSON())],
    new: Annotated[str, pivot.Dep("new.txt", loaders.Text())],
) -> Annotated[list, pivot.IncrementalOut("db.json", loaders.JSON())]:
    return [*rows, new.strip()]

pivot.Pipeline("inc").register(grow)
"""


@pytest.fixture
def grown(proj: InProcessProject) -> InProcessProject:
    """``grow`` appends new.txt to db.json; run once with "a"."""
    proj.write("pipeline.py", INCREMENTAL)
    proj.write("new.txt", "a\n")
    proj.run()
    assert json.loads(proj.read("db.json")) == ["a"]
    return proj


def test_an_incremental_stage_builds_on_its_previous_version(grown: InProcessProject) -> None:
    grown.write("new.txt", "b\n")
    assert grown.decide("grow").reason == "deps changed: new.txt"
    grown.run()
    assert json.loads(grown.read("db.json")) == ["a", "b"]


def test_an_incremental_output_modified_with_inputs_unchanged_is_restored_not_run(
    grown: InProcessProject,
) -> None:
    """Re-running would append the same entry a second time (e.g. after a run killed
    mid-append was undone)."""
    grown.write("db.json", '["a", "a"]')
    decision = grown.decide("grow")
    assert (decision.action, decision.reason) == (Action.RESTORE, "restore db.json from cache")
    grown.run()
    assert json.loads(grown.read("db.json")) == ["a"]


def test_an_incremental_output_modified_and_not_in_the_cache_runs(
    grown: InProcessProject,
) -> None:
    drop_from_cache(grown, "db.json")
    grown.write("db.json", '["a", "a"]')
    decision = grown.decide("grow")
    assert (decision.action, decision.reason) == (Action.RUN, "output db.json was modified")


def test_a_deleted_incremental_output_is_restored(grown: InProcessProject) -> None:
    grown.path("db.json").unlink()
    assert grown.decide("grow").action is Action.RESTORE


# -- upstream ----------------------------------------------------------------------------------


def test_a_stage_whose_upstream_will_run_is_predicted_stale(ran: InProcessProject) -> None:
    ran.write("raw.txt", "hello, world\n")
    assert actions(ran) == {
        "make": (Action.RUN, "deps changed: raw.txt"),
        "use": (Action.RUN, "upstream make will run"),
    }
    # Decided on its own, before the upstream stage re-ran, ``use`` is still up to date.
    assert ran.decide("use").action is Action.SKIP


def test_a_stage_whose_upstream_reran_to_identical_bytes_is_skipped(
    ran: InProcessProject,
) -> None:
    """Decided late: after ``make`` re-ran, ``use`` compares what ``make`` actually wrote."""
    ran.write("raw.txt", "HELLO\n")  # another dep, the same length: make writes the same bytes
    assert ran.status()["use"].action is Action.RUN
    summary = ran.run()
    assert summary.statuses == {"make": StageStatus.RAN, "use": StageStatus.SKIPPED}
    assert summary.reasons["use"] == "up to date"


def test_a_target_selects_its_upstream_but_not_its_downstream(ran: InProcessProject) -> None:
    ran.write("raw.txt", "hello, world\n")
    assert list(ran.status("make")) == ["make"]
    assert list(ran.status("use")) == ["make", "use"]


# -- force -------------------------------------------------------------------------------------


def test_force_runs_an_up_to_date_stage_with_reason_forced(ran: InProcessProject) -> None:
    decisions = ran.status(force=True)
    assert {n: (d.action, d.reason) for n, d in decisions.items()} == {
        "make": (Action.RUN, "forced"),
        "use": (Action.RUN, "forced"),
    }


def test_force_still_lists_what_changed(ran: InProcessProject) -> None:
    ran.write("raw.txt", "hello, world\n")
    decision = ran.decide("make", force=True)
    assert decision.reason == "forced"
    assert [(c.kind, c.key) for c in decision.changes] == [("dep", "raw.txt")]


def test_forcing_a_target_runs_it_and_not_its_upstream(ran: InProcessProject) -> None:
    summary = ran.run("use", force=True)
    assert summary.statuses == {"make": StageStatus.SKIPPED, "use": StageStatus.RAN}
    assert summary.reasons["use"] == "forced"


# -- locks -------------------------------------------------------------------------------------


def test_a_deleted_lock_makes_the_stage_never_run(ran: InProcessProject) -> None:
    ran.path(".pivot/stages/make.lock").unlink()
    # The run cache still has the run that lock recorded: its outputs come back from it.
    assert ran.decide("make").reason == "restored from an earlier run (never run)"
    for entry in ran.path(".pivot/cache/runs").rglob("*"):
        if entry.is_file():
            entry.unlink()
    assert ran.decide("make").reason == "never run"


def test_a_corrupt_lock_makes_the_stage_never_run_with_a_warning(ran: InProcessProject) -> None:
    ran.write(".pivot/stages/make.lock", "schema: 1\nstage: [\n")
    # the run cache has the run the lock recorded: its outputs come back from it
    assert ran.decide("make").reason == "restored from an earlier run (never run)"
    assert "make.lock is not valid YAML" in ran.project.locks.problems["make"]


def test_a_decision_serializes_to_the_row_status_json_shows(params: InProcessProject) -> None:
    params.write("params.yaml", "train:\n  lr: 0.2\n")
    assert params.decide("train").to_dict() == {
        "stage": "train",
        "action": "run",
        "reason": "params changed: lr",
        "changes": [{"kind": "params", "key": "lr", "old": 0.1, "new": 0.2}],
    }
