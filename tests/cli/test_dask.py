"""Stages on a real Dask LocalCluster (2 worker processes): same results as the local pool."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from pivot.core.run.worker import StageTask, execute_stage
from tests.helpers import TempProject, make_project, pivot_env

pytest.importorskip("distributed")

TWENTY = """
import os, time
from typing import Annotated
import pivot
from pivot import loaders

p = pivot.Pipeline("twenty")

def _make(i, deps):
    def stage(**inputs: dict) -> dict:
        time.sleep(float(os.environ.get("STAGE_SLEEP", "0")))
        return {"i": i, "sum": i + sum(v["sum"] for v in inputs.values())}
    stage.__name__ = f"s{i:02d}"
    stage.__annotations__ = {
        **{f"d{j}": Annotated[dict, pivot.Dep(f"out/s{j:02d}.json", loaders.JSON())] for j in deps},
        "return": Annotated[dict, pivot.Out(f"out/s{i:02d}.json", loaders.JSON())],
    }
    return stage

for i in range(20):
    deps = [] if i < 4 else [i - 4, (i - 3) % 4 + (i // 4 - 1) * 4]
    p.register(_make(i, sorted(set(deps))))
"""


def _dask_env() -> dict[str, str]:
    env = pivot_env()
    env["DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES"] = "0"
    return env


def _run(project: TempProject, *args: str, check: int = 0) -> list[dict[str, object]]:
    proc = subprocess.run(
        [sys.executable, "-m", "pivot", "--no-tui", "run", "--json", *args],
        cwd=project.root,
        env=_dask_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == check, proc.stdout[-3000:] + proc.stderr[-3000:]
    return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]


def test_twenty_stages_on_dask_match_the_local_pool(tmp_path: Path) -> None:
    local = make_project(tmp_path / "local")
    dask = make_project(tmp_path / "dask")
    for project in (local, dask):
        project.write("pipeline.py", TWENTY)
    local_events = _run(local)
    dask_events = _run(dask, "--executor", "dask")
    assert dask_events[0]["jobs"] == 2
    for events in (local_events, dask_events):
        assert sorted(e["status"] for e in events if e["event"] == "stage_finished") == ["ran"] * 20
    for i in range(20):
        name = f"s{i:02d}"
        assert local.lock(name) == dask.lock(name)
        assert local.read(f"out/{name}.json") == dask.read(f"out/{name}.json")
    again = _run(dask, "--executor", "dask")
    assert {e["status"] for e in again if e["event"] == "stage_finished"} == {"skipped"}


def test_executor_from_config(project: TempProject) -> None:
    project.write("pipeline.py", TWENTY)
    project.write(".pivot/config.yaml", "executor:\n  kind: dask\n")
    events = _run(project, "s00")
    assert events[0]["jobs"] == 2  # two Dask workers, not the local CPU count
    assert [e["status"] for e in events if e["event"] == "stage_finished"] == ["ran"]


KILLER = """
import os
from typing import Annotated
import pivot
from pivot import loaders

def dies() -> Annotated[str, pivot.Out("dies.txt", loaders.Text())]:
    os._exit(3)

def lives() -> Annotated[str, pivot.Out("lives.txt", loaders.Text())]:
    return "alive"

p = pivot.Pipeline("p")
p.register(dies)
p.register(lives)
"""


def test_killed_dask_worker_fails_only_its_stage(project: TempProject) -> None:
    project.write("pipeline.py", KILLER)
    events = _run(project, "--executor", "dask", "-k", check=1)
    finished = {e["stage"]: e for e in events if e["event"] == "stage_finished"}
    assert finished["dies"]["status"] == "failed"
    assert "worker" in str(finished["dies"]["reason"]).lower()
    assert finished["lives"]["status"] == "ran"
    assert not (project.root / ".pivot/stages/dies.lock").exists()


def test_sigint_cancels_dask_futures(project: TempProject) -> None:
    project.write("pipeline.py", TWENTY)
    env = _dask_env()
    env["STAGE_SLEEP"] = "30"
    proc = subprocess.Popen(
        [sys.executable, "-m", "pivot", "--no-tui", "run", "--json", "--executor", "dask"],
        cwd=project.root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if json.loads(line)["event"] == "stage_started":
            break
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130
    statuses = [
        json.loads(line).get("status") for line in out.splitlines() if '"stage_finished"' in line
    ]
    assert statuses and set(statuses) == {"cancelled"}
    assert not list((project.root / ".pivot" / "stages").glob("*.lock"))


def test_worker_refuses_code_that_differs_from_the_coordinators(
    project: TempProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.write("pipeline.py", TWENTY)
    _run(project, "s00")
    monkeypatch.chdir(project.root)  # execute_stage works in the project folder
    monkeypatch.setattr(sys, "path", list(sys.path))
    manifest: dict[str, str] = yaml.safe_load(project.lock("s00"))["code"]
    assert any(key.startswith("self:") for key in manifest)
    tampered = {
        key: ("0" * 16 if key.startswith("self:") else value) for key, value in manifest.items()
    }
    log = project.root / "check.log"
    outcome = execute_stage(
        StageTask(str(project.root), "s00", str(log), "token", {}, expected_code=tampered)
    )
    assert not outcome.ok
    assert "refusing to run 's00'" in (outcome.error or "")
    assert "code on this worker differs" in (outcome.error or "")
    sys.modules.pop("pipeline", None)


def test_scheduler_address_of_a_running_cluster(project: TempProject) -> None:
    """`--scheduler tcp://HOST:PORT` connects to a cluster started elsewhere."""
    import distributed

    project.write("pipeline.py", TWENTY)
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        address = cluster.scheduler_address
        assert address.startswith("tcp://")
        events = _run(project, "--executor", "dask", "--scheduler", address)
        assert events[0]["jobs"] == 2
        finished = [e["status"] for e in events if e["event"] == "stage_finished"]
        assert finished == ["ran"] * 20
        with distributed.Client(address) as client:
            # The stages ran on this cluster's workers, not on a cluster of pivot's own.
            assert len(client.nthreads()) == 2


def test_unreachable_scheduler_is_one_line(project: TempProject) -> None:
    project.write("pipeline.py", TWENTY)
    proc = project.pivot(
        "--no-tui", "run", "--executor", "dask", "--scheduler", "tcp://127.0.0.1:9", check=None
    )
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot reach the Dask scheduler")


APPENDER = """
import os, pathlib
from typing import Annotated
import pivot
from pivot import loaders

def journal(
    log: Annotated[pathlib.Path, pivot.IncrementalOut("journal.txt", loaders.PathOnly())],
) -> None:
    with log.open("a") as handle:
        handle.write("entry\\n")
    marker = pathlib.Path("died-once")
    if not marker.exists():
        marker.write_text("")
        os._exit(3)

pivot.Pipeline("p").register(journal)
"""


def test_a_lost_dask_worker_is_not_retried_onto_its_own_append(project: TempProject) -> None:
    """Found by the fault-injection campaign: with Dask's default `allowed-failures` (3), a
    stage whose worker died after appending to its incremental output was re-run on top of
    that append, and the doubled history was committed. The LocalCluster Pivot starts does
    not retry: the stage fails and nothing of it is committed."""
    project.write("pipeline.py", APPENDER)
    proc = subprocess.run(
        [sys.executable, "-m", "pivot", "--no-tui", "run", "--json", "--executor", "dask"],
        cwd=project.root,
        env=pivot_env(),  # Dask's own default of allowed-failures, not the tests' 0
        capture_output=True,
        text=True,
        timeout=300,
    )
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    finished = [e for e in events if e["event"] == "stage_finished"]
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert [e["status"] for e in finished] == ["failed"]
    assert not (project.root / ".pivot/stages/journal.lock").exists()
