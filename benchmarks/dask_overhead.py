"""Per-stage overhead of the Dask executor against the local loky pool.

Builds a project of N independent trivial stages, then in one process, for each executor:
start it (timed separately), warm it with one forced run, and time forced runs of all stages.
Overhead per stage = run time / N (the stage bodies do nothing).

    uv run python benchmarks/dask_overhead.py --stages 100 --repeat 3
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STAGE = '''
def s{i}() -> Annotated[dict, pivot.Out("out/s{i}.json", loaders.JSON())]:
    return {{"i": {i}}}
p.register(s{i})
'''


def make_project(root: Path, stages: int) -> None:
    root.mkdir(parents=True, exist_ok=True)
    body = "from typing import Annotated\nimport pivot\nfrom pivot import loaders\np = pivot.Pipeline('bench')\n"
    body += "".join(STAGE.format(i=i) for i in range(stages))
    (root / "pipeline.py").write_text(body)
    subprocess.run([sys.executable, "-m", "pivot", "init"], cwd=root, check=True, capture_output=True)


def time_executor(root: Path, kind: str, repeat: int) -> tuple[float, list[float]]:
    from pivot.core.engine import Engine, RunRequest
    from pivot.core.executors import make_executor
    from pivot.core.project_context import Project

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
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stages", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "proj"
        make_project(root, args.stages)
        print(f"{args.stages} independent trivial stages, 2 workers, forced runs (median of {args.repeat})")
        print("| executor | start-up | run | per stage |")
        print("|---|---|---|---|")
        for kind in ("local", "dask"):
            startup, runs = time_executor(root, kind, args.repeat)
            median = statistics.median(runs)
            print(f"| {kind} | {startup:.2f} s | {median:.2f} s | {median / args.stages * 1000:.1f} ms |")


if __name__ == "__main__":
    main()
