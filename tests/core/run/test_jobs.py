"""How many stages run at once: the CPU count, unless the workers' recorded memory says fewer."""

from __future__ import annotations

import json

import pytest

from pivot.core.project import Project
from pivot.core.run import history
from pivot.core.run.events import RunSummary
from pivot.core.run.jobs import (
    available_memory,
    cpu_count,
    default_jobs,
    jobs_for_memory,
    peak_rss,
)
from tests.helpers import TempProject

GB = 10**9


def test_workers_that_fit_in_memory() -> None:
    assert jobs_for_memory(4, 16 * GB, 1 * GB) == 4  # memory is not the limit
    assert jobs_for_memory(8, 10 * GB, 3 * GB) == 2  # 80% of 10 GB holds two 3 GB workers
    assert jobs_for_memory(4, 2 * GB, 3 * GB) == 1  # never fewer than one
    assert jobs_for_memory(4, None, 3 * GB) == 4  # unknown memory: the CPU count
    assert jobs_for_memory(4, 8 * GB, None) == 4  # unknown peak (a first run): likewise


def test_this_machine_is_measured() -> None:
    assert cpu_count() >= 1
    available = available_memory()
    assert available is None or available > 0
    assert peak_rss() > 10**6  # this Python process holds more than a megabyte


BIG_STAGE = """
from typing import Annotated
import pivot
from pivot import loaders

pipeline = pivot.Pipeline("mem")


def big() -> Annotated[str, pivot.Out("big.txt", loaders.Text())]:
    block = bytearray(300 * 1024 * 1024)  # touched, so it is resident
    for i in range(0, len(block), 4096):
        block[i] = 1
    return str(sum(block[::4096]))


pipeline.register(big)
"""


def test_a_run_records_how_much_memory_its_workers_took(project: TempProject) -> None:
    project.write("pipeline.py", BIG_STAGE)
    project.pivot("--no-tui", "run")

    record = json.loads(project.pivot("show", "--json").stdout)
    assert record["worker_peak_rss"] >= 300 * 1024 * 1024
    assert "workers peaked at" in project.pivot("show").stdout.splitlines()[0]


def test_a_pipeline_whose_workers_do_not_fit_runs_fewer_at_once(project: TempProject) -> None:
    if cpu_count() < 2 or available_memory() is None:
        pytest.skip("needs two CPUs and a known amount of memory")
    project.write("pipeline.py", BIG_STAGE.replace("300 * 1024 * 1024", "1024"))
    # an earlier run whose workers peaked far beyond this machine's memory
    summary = RunSummary(history.new_run_id(), {}, {}, 1.0, 0, None, 10**15)
    history.record_run(Project(project.root), summary, 0.0, {})

    choice = default_jobs(project.root)
    assert choice.jobs == 1 and choice.reason is not None
    assert choice.reason.startswith(f"running 1 of {cpu_count()} stages at once")

    proc = project.pivot("--no-tui", "run")
    assert "running 1 of" in proc.stdout and "-j N overrides" in proc.stdout
    assert "running 1 of" not in project.pivot("--no-tui", "run", "-f", "-j", "2").stdout
