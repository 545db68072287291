"""How long `pivot --help` takes to start, measured like hyperfine: warm-up runs, then N timed
runs of a fresh process each, reporting mean ± standard deviation, min and max.

    python benchmarks/cli_startup.py                  # table of timings
    python benchmarks/cli_startup.py --runs 50
    python benchmarks/cli_startup.py --importtime     # also the slowest imports on the start path
    python benchmarks/cli_startup.py --write-docs     # record the result in docs/reference/startup.md

The budget (DESIGN.md §3) is 0.2 s for `pivot --help`. It is not asserted in the tests, where
machine load makes timings noisy; tests/cli/test_help.py instead checks that no heavy library
is imported on the start path.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BUDGET = 0.2
DOC = REPO / "docs" / "reference" / "startup.md"


def commands() -> list[tuple[str, list[str]]]:
    cases = [
        ("python -m pivot --help", [sys.executable, "-m", "pivot", "--help"]),
        ("python -m pivot --version", [sys.executable, "-m", "pivot", "--version"]),
        ("python -m pivot export --help", [sys.executable, "-m", "pivot", "export", "--help"]),
    ]
    script = Path(sys.executable).parent / "pivot"
    if script.exists():
        cases.insert(0, ("pivot --help", [str(script), "--help"]))
    cases.append(("python -c pass (baseline)", [sys.executable, "-c", "pass"]))
    return cases


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(argv: list[str], runs: int, warmup: int) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU (user + sys) seconds of each timed run.

    CPU time is reported too because it barely moves when other processes load the machine,
    while wall-clock time can double.
    """
    env = {**os.environ, "PYTHONPATH": str(REPO), "CI": "1"}
    times, cpu = [], []
    for index in range(warmup + runs):
        start, start_cpu = time.perf_counter(), _child_cpu()
        subprocess.run(
            argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True
        )
        elapsed, used = time.perf_counter() - start, _child_cpu() - start_cpu
        if index >= warmup:
            times.append(elapsed)
            cpu.append(used)
    return times, cpu


def importtime(limit: int = 15) -> list[tuple[int, str]]:
    """The slowest imports (cumulative µs) of `python -X importtime -m pivot --help`."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "pivot", "--help"],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        check=True,
    )
    rows = []
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _self, cumulative, name = (part.strip() for part in line.split(":", 1)[1].split("|"))
        rows.append((int(cumulative), name))
    return sorted(rows, reverse=True)[:limit]


@dataclasses.dataclass(frozen=True)
class Result:
    label: str
    times: list[float]
    cpu: list[float]

    @property
    def mean(self) -> float:
        return statistics.mean(self.times)

    @property
    def sd(self) -> float:
        return statistics.stdev(self.times) if len(self.times) > 1 else 0.0

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu)

    def row(self) -> list[str]:
        ms = [
            self.mean,
            self.sd,
            self.median,
            min(self.times),
            max(self.times),
            self.cpu_median,
        ]
        return [self.label, *(f"{value * 1000:.0f} ms" for value in ms)]


HEADERS = ["command", "mean", "± sd", "median", "min", "max", "CPU (median)"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--importtime", action="store_true")
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()

    load_before = os.getloadavg()[0]
    results = []
    print(f"{HEADERS[0]:<32}" + "".join(f"{h:>14}" for h in HEADERS[1:]))
    for label, argv in commands():
        result = Result(label, *measure(argv, args.runs, args.warmup))
        results.append(result)
        print(f"{result.label:<32}" + "".join(f"{cell:>14}" for cell in result.row()[1:]))
    load = max(load_before, os.getloadavg()[0])
    cpus = os.cpu_count() or 1
    main_result = next(r for r in results if r.label.endswith("pivot --help"))
    verdict = "within" if main_result.median <= BUDGET else "OVER"
    summary = (
        f"`{main_result.label}`: median {main_result.median * 1000:.0f} ms wall clock "
        f"({main_result.cpu_median * 1000:.0f} ms CPU), {verdict} the {BUDGET * 1000:.0f} ms budget"
    )
    print(f"\n{summary}; load average {load:.1f} on {cpus} CPUs")

    if args.importtime or main_result.median > BUDGET:
        print("\nslowest imports on the start path (cumulative):")
        for micros, name in importtime():
            print(f"  {micros / 1000:7.1f} ms  {name}")

    if args.write_docs:
        lines = [
            "# CLI startup time",
            "",
            "Measured by `python benchmarks/cli_startup.py --write-docs`: "
            f"{args.runs} runs after {args.warmup} warm-up runs, a fresh process each.",
            f"Budget for `pivot --help`: {BUDGET * 1000:.0f} ms (DESIGN.md §3).",
            "",
            f"Last measured {datetime.date.today().isoformat()} on {platform.system()} "
            f"{platform.machine()}, Python {platform.python_version()}, load average "
            f"{load:.1f} on {cpus} CPUs. Wall-clock times grow with the load of the machine; "
            "CPU time (user + system) hardly does.",
            "",
            "| " + " | ".join(HEADERS) + " |",
            "|" + "---|" * len(HEADERS),
        ]
        for result in results:
            cells = result.row()
            lines.append("| " + " | ".join([f"`{cells[0]}`", *cells[1:]]) + " |")
        lines.extend(
            [
                "",
                summary + ".",
                "",
                "Commands import their heavy libraries (polars, rich, pydantic, lmdb, boto3,",
                "textual) only when they run; `tests/cli/test_help.py` fails if one of them is",
                "imported on the start path. `--version` is slower than `--help` because click",
                "looks the version up in the installed package metadata.",
                "",
            ]
        )
        DOC.parent.mkdir(parents=True, exist_ok=True)
        DOC.write_text("\n".join(lines), encoding="utf-8")
        print(f"\nwrote {DOC.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
