"""Stage resources through the CLI: real runs with worker processes, capacities from config
and `--resources`, the waiting event, errors before the run starts."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from typing import Any

import pytest

from tests.helpers import TempProject, pivot_env

#: Two independent stages that each need one gpu and write when they started and ended. With
#: a `rendezvous` file each waits (up to 60 s) until the other has started too, so overlap is
#: proven by what they wrote, not by how long anything took.
GPU_PAIR = """
import pathlib, time
from typing import Annotated
import pivot
from pivot import loaders

def _work(name: str, other: str) -> dict:
    start = time.time()
    pathlib.Path(f"started-{name}").write_text("")
    saw_other = pathlib.Path(f"started-{other}").exists()
    if pathlib.Path("rendezvous").exists():
        deadline = time.time() + 60
        while not saw_other and time.time() < deadline:
            time.sleep(0.02)
            saw_other = pathlib.Path(f"started-{other}").exists()
    else:
        time.sleep(0.2)
    return {"start": start, "end": time.time(), "saw_other": saw_other}

def a() -> Annotated[dict, pivot.Out("a.json", loaders.JSON())]:
    return _work("a", "b")

def b() -> Annotated[dict, pivot.Out("b.json", loaders.JSON())]:
    return _work("b", "a")

p = pivot.Pipeline("p")
p.register(a, resources={"gpu": 1})
p.register(b, resources={"gpu": 1})
"""


def _intervals(project: TempProject) -> dict[str, dict[str, Any]]:
    return {name: json.loads(project.read(f"{name}.json")) for name in ("a", "b")}


def _assert_no_overlap(project: TempProject) -> None:
    a, b = _intervals(project).values()
    assert a["end"] <= b["start"] or b["end"] <= a["start"], (a, b)
    assert not a["saw_other"] or not b["saw_other"]


def test_capacity_one_never_overlaps_even_with_two_workers(project: TempProject) -> None:
    project.write("pipeline.py", GPU_PAIR)
    project.pivot("config", "set", "resources.gpu", "1")
    assert project.statuses("-j", "2") == {"a": "ran", "b": "ran"}
    _assert_no_overlap(project)


def test_capacity_two_lets_them_overlap(project: TempProject) -> None:
    project.write("pipeline.py", GPU_PAIR)
    project.write("rendezvous", "")
    project.pivot("config", "set", "resources.gpu", "2")
    assert project.statuses("-j", "2") == {"a": "ran", "b": "ran"}
    a, b = _intervals(project).values()
    assert a["saw_other"] and b["saw_other"]  # each saw the other running: they overlapped
    assert max(a["start"], b["start"]) < min(a["end"], b["end"])


def test_resources_flag_overrides_config(project: TempProject) -> None:
    project.write("pipeline.py", GPU_PAIR)
    project.write("rendezvous", "")
    project.pivot("config", "set", "resources.gpu", "1")
    assert project.statuses("-j", "2", "--resources", "gpu=2") == {"a": "ran", "b": "ran"}
    assert all(i["saw_other"] for i in _intervals(project).values())
    (project.root / "rendezvous").unlink()
    for name in ("a", "b"):
        (project.root / f"started-{name}").unlink()
    # And the other way round: config allows 2, the flag (repeated, last wins) allows 1.
    project.pivot("config", "set", "resources.gpu", "2")
    events = project.run_events("-f", "-j", "2", "--resources", "gpu=2", "--resources", "gpu=1")
    assert [e["stage"] for e in events if e["event"] == "stage_waiting"] == ["b"]
    _assert_no_overlap(project)


def test_the_waiting_stage_is_an_event_in_the_json_stream(project: TempProject) -> None:
    project.write("pipeline.py", GPU_PAIR)
    project.pivot("config", "set", "resources.gpu", "1")
    events = project.run_events("-j", "2")
    waiting = [e for e in events if e["event"] == "stage_waiting"]
    assert len(waiting) == 1
    assert waiting[0]["stage"] == "b"
    assert waiting[0]["reason"] == "waiting for gpu (needs 1, 0 of 1 free)"
    assert waiting[0]["waiting_for"] == [
        {"resource": "gpu", "needs": 1, "free": 0, "capacity": 1, "held_for": None}
    ]
    kinds = [(e["event"], e.get("stage")) for e in events]
    assert (
        kinds.index(("stage_queued", "b"))
        < kinds.index(("stage_waiting", "b"))
        < kinds.index(("stage_finished", "a"))
        < kinds.index(("stage_started", "b"))
    )


def test_plain_output_says_what_a_stage_waits_for(project: TempProject) -> None:
    project.write("pipeline.py", GPU_PAIR)
    out = project.pivot("--no-tui", "run", "-j", "2", "--resources", "gpu=1").stdout
    assert "⧗ waiting   b" in out
    assert "waiting for gpu (needs 1, 0 of 1 free)" in out


def test_a_stage_needing_more_than_the_capacity_is_one_line_before_the_run(
    project: TempProject,
) -> None:
    project.write(
        "pipeline.py", GPU_PAIR.replace('resources={"gpu": 1})\n', 'resources={"gpu": 2})\n', 1)
    )
    project.pivot("config", "set", "resources.gpu", "1")
    proc = project.pivot("--no-tui", "run", check=2)
    assert proc.stderr.strip().splitlines() == [
        "error: stage 'a' needs gpu=2 but the capacity is 1 (from config), so it could never "
        "start; ask for less, or raise it with `pivot run --resources gpu=2` or "
        "`pivot config set resources.gpu 2`"
    ]
    assert not (project.root / "started-a").exists()
    assert not (project.root / "started-b").exists()
    # A dry run says the same; a capacity from the flag is named as such.
    proc = project.pivot("--no-tui", "run", "-n", "--resources", "gpu=0.5", check=2)
    assert "(from --resources)" in proc.stderr and "capacity is 0.5" in proc.stderr
    # With the capacity raised, it runs.
    assert project.statuses("--resources", "gpu=2") == {"a": "ran", "b": "ran"}


def test_an_up_to_date_pipeline_still_refuses_an_impossible_capacity(
    project: TempProject,
) -> None:
    """The no-op answer (run.fast_path) and the full evaluation agree."""
    project.write("pipeline.py", GPU_PAIR)
    project.pivot("--no-tui", "run", "--resources", "gpu=1")
    assert project.statuses("--resources", "gpu=1") == {"a": "skipped", "b": "skipped"}
    proc = project.pivot("--no-tui", "run", "--resources", "gpu=0", check=2)
    assert "stage 'a' needs gpu=1 but the capacity is 0" in proc.stderr


def test_no_capacity_set_runs_one_at_a_time_and_says_so_once(project: TempProject) -> None:
    project.write("pipeline.py", GPU_PAIR)
    events = project.run_events("-j", "2")
    warnings = [e["text"] for e in events if e["event"] == "message"]
    assert warnings == [
        "no capacity is set for resource 'gpu': stages needing it share 1 (the most one stage "
        "asks for); set it with `pivot config set resources.gpu N` or "
        "`pivot run --resources gpu=N`"
    ]
    _assert_no_overlap(project)


FAIL_FIRST = """
import pathlib
from typing import Annotated
import pivot
from pivot import loaders

def broken() -> Annotated[str, pivot.Out("broken.txt", loaders.Text())]:
    raise RuntimeError("boom")

def after() -> Annotated[str, pivot.Out("after.txt", loaders.Text())]:
    return "ok"

p = pivot.Pipeline("p")
p.register(broken, resources={"gpu": 1})
p.register(after, resources={"gpu": 1})
"""


def test_a_failing_stage_releases_its_resources(project: TempProject) -> None:
    project.write("pipeline.py", FAIL_FIRST)
    events = project.run_events("-k", "-j", "2", "--resources", "gpu=1", check=1)
    order = [(e["event"], e["stage"]) for e in events if e["event"].startswith("stage_")]
    assert order.index(("stage_finished", "broken")) < order.index(("stage_started", "after"))
    finished = {e["stage"]: e["status"] for e in events if e["event"] == "stage_finished"}
    assert finished == {"broken": "failed", "after": "ran"}
    assert project.read("after.txt") == "ok"


def test_bad_resources_flag_is_one_line(project: TempProject) -> None:
    project.write("pipeline.py", GPU_PAIR)
    for value, expected in [
        ("gpu", "error: bad --resources item 'gpu'; write NAME=AMOUNT, such as gpu=1"),
        (
            "gpu=-1",
            "error: bad --resources amount for gpu: '-1'; use a number 0 or more, such as gpu=1",
        ),
        ("9x=1", "error: bad --resources item '9x=1'; write NAME=AMOUNT, such as gpu=1"),
    ]:
        proc = project.pivot("--no-tui", "run", "--resources", value, check=2)
        assert proc.stderr.strip().splitlines() == [expected]


def test_bad_resources_in_a_stage_are_one_line(project: TempProject) -> None:
    for resources, expected in [
        ('{"gpu": -1}', "resource 'gpu' needs a number 0 or more, got -1"),
        ('{"gpu": True}', "resource 'gpu' needs a number 0 or more, got True"),
        ('{"my-gpu": 1}', "bad resource name 'my-gpu'"),
        ('["gpu"]', "resources must be a mapping of name to amount"),
    ]:
        project.write("pipeline.py", GPU_PAIR.replace('{"gpu": 1}', resources, 1))
        proc = project.pivot("list", check=2)
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and "stage 'a'" in lines[0] and expected in lines[0], lines


def test_config_keys_for_capacities(project: TempProject) -> None:
    project.pivot("config", "set", "resources.gpu", "1")
    project.pivot("config", "set", "resources.mem_gb", "15.5")
    assert "resources:\n  gpu: 1\n  mem_gb: 15.5\n" in project.read(".pivot/config.yaml")
    for key, value, expected in [
        ("resources.gpu", "-1", "expected a finite number 0 or more, got '-1'"),
        ("resources.gpu", "true", "expected a number such as 1 or 0.5, got 'true'"),
        ("resources.my-gpu", "1", "resource name 'my-gpu' may only hold letters"),
        ("resources.gpu.count", "1", "unknown config key 'resources.gpu.count'"),
    ]:
        proc = project.pivot("config", "set", key, value, check=2)
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and expected in lines[0], lines


def test_list_and_status_show_declared_resources(project: TempProject) -> None:
    project.write("pipeline.py", GPU_PAIR.replace('{"gpu": 1}', '{"gpu": 1, "mem_gb": 8}', 1))
    listed = project.pivot("list").stdout
    assert "a\n  outs  a.json\n  needs gpu=1, mem_gb=8\n" in listed
    rows = json.loads(project.pivot("list", "--json").stdout)["stages"]
    assert {row["name"]: row["resources"] for row in rows} == {
        "a": {"gpu": 1, "mem_gb": 8},
        "b": {"gpu": 1},
    }
    assert "never run  [needs gpu=1, mem_gb=8]" in project.pivot("status").stdout
    assert project.status_json()["b"]["resources"] == {"gpu": 1}
    project.pivot("--no-tui", "run")
    # Answered from the no-op record too.
    assert project.status_json()["a"]["resources"] == {"gpu": 1, "mem_gb": 8}
    assert "up to date  [needs gpu=1]" in project.pivot("status").stdout


def test_resources_are_not_an_input_changing_them_reruns_nothing(project: TempProject) -> None:
    project.write("pipeline.py", GPU_PAIR)
    project.pivot("--no-tui", "run")
    project.write("pipeline.py", GPU_PAIR.replace('{"gpu": 1}', '{"gpu": 0.5}'))
    assert project.statuses() == {"a": "skipped", "b": "skipped"}


MATRIX = """
from typing import Annotated
import pivot
from pivot import loaders

def train(model: str = "x") -> Annotated[str, pivot.Out("model-{model}.txt", loaders.Text())]:
    return model

pivot.Pipeline("p").register(train, matrix={"model": ["small", "big"]}, resources={"gpu": 1})
"""


def test_matrix_variants_each_ask_for_the_resources(project: TempProject) -> None:
    project.write("pipeline.py", MATRIX)
    rows = json.loads(project.pivot("list", "--json").stdout)["stages"]
    assert {row["name"]: row["resources"] for row in rows} == {
        "train@small": {"gpu": 1},
        "train@big": {"gpu": 1},
    }


def test_pivot_yaml_stages_may_declare_resources(project: TempProject) -> None:
    project.write(
        "stages.py",
        """
        from typing import Annotated
        import pivot
        from pivot import loaders

        def train(model: str = "x") -> Annotated[str, pivot.Out("m-{model}.txt", loaders.Text())]:
            return model
        """,
    )
    project.write(
        "pivot.yaml",
        """
        stages:
          train:
            function: stages:train
            matrix: {model: [a, b]}
            resources: {gpu: 1}
        """,
    )
    rows = json.loads(project.pivot("list", "--json").stdout)["stages"]
    assert {row["name"]: row["resources"] for row in rows} == {
        "train@a": {"gpu": 1},
        "train@b": {"gpu": 1},
    }


def test_dask_runs_are_admitted_by_the_same_accounting(project: TempProject) -> None:
    pytest.importorskip("distributed")
    project.write("pipeline.py", GPU_PAIR)
    events = project.run_events("--executor", "dask", "--resources", "gpu=1")
    assert [e["stage"] for e in events if e["event"] == "stage_waiting"] == ["b"]
    assert {e["stage"]: e["status"] for e in events if e["event"] == "stage_finished"} == {
        "a": "ran",
        "b": "ran",
    }
    _assert_no_overlap(project)


CRASH_FIRST = """
import os
from typing import Annotated
import pivot
from pivot import loaders

def crash() -> Annotated[str, pivot.Out("crash.txt", loaders.Text())]:
    os._exit(3)

def after() -> Annotated[str, pivot.Out("after.txt", loaders.Text())]:
    return "ok"

p = pivot.Pipeline("p")
p.register(crash, resources={"gpu": 1})
p.register(after, resources={"gpu": 1})
"""


def test_a_stage_whose_worker_dies_releases_its_resources(project: TempProject) -> None:
    project.write("pipeline.py", CRASH_FIRST)
    events = project.run_events("-k", "-j", "2", "--resources", "gpu=1", check=1)
    finished = {e["stage"]: e for e in events if e["event"] == "stage_finished"}
    assert finished["crash"]["status"] == "failed"
    assert "worker process died" in finished["crash"]["reason"]
    assert finished["after"]["status"] == "ran"


def test_cancelling_a_run_cancels_the_stage_waiting_for_a_resource(
    project: TempProject,
) -> None:
    project.write(
        "pipeline.py",
        GPU_PAIR.replace("time.sleep(0.2)", "time.sleep(60)"),
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "pivot", "--no-tui", "run", "--json", "-j", "2"],
        cwd=project.root,
        env=pivot_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[dict[str, Any]] = []
    assert proc.stdout is not None
    for line in proc.stdout:  # until b is said to wait (a holds the gpu, sleeping)
        lines.append(json.loads(line))
        if lines[-1]["event"] == "stage_waiting":
            break
    deadline = time.monotonic() + 60
    while not (project.root / "started-a").exists():
        assert time.monotonic() < deadline, "stage a never started"
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    lines += [json.loads(line) for line in out.splitlines()]
    assert proc.returncode == 130
    finished = {e["stage"]: e["status"] for e in lines if e["event"] == "stage_finished"}
    assert finished == {"a": "cancelled", "b": "cancelled"}
    assert not any(e["event"] == "stage_started" and e["stage"] == "b" for e in lines)
    assert not (project.root / "started-b").exists()


def test_explain_shows_declared_resources(project: TempProject) -> None:
    project.write("pipeline.py", GPU_PAIR)
    assert "a  WILL RUN  never run\n  needs  gpu=1\n" in project.pivot("explain", "a").stdout
    stages = json.loads(project.pivot("explain", "--json").stdout)["stages"]
    assert [s["resources"] for s in stages] == [{"gpu": 1}, {"gpu": 1}]
