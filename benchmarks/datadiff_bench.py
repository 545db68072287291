"""Benchmark ``pivot data diff`` by key on a large CSV pair, against datacompy.

Generates (deterministically, with polars only) an old and a new CSV of ``--rows`` rows and
10 columns: ~1% of rows modified (one or two cells), 0.1% removed, 0.1% added. Each
measurement runs in a fresh child process, so time and peak memory (max RSS) include
imports and reading both files, nothing is warm, and one tool cannot inflate another's
numbers.

Measurements:

- ``pivot-engine``: :func:`pivot.core.reports.datadiff.diff_files` on the two files (read, join,
  counts, first 50 rows of each kind).
- ``pivot-cli``: ``python -m pivot data diff data.csv --key id`` in a temp git repo where
  the old file is committed and the new one is in the workspace (so the old side comes
  from ``git cat-file``); text output to a pipe. Skipped with ``--no-cli``.
- ``datacompy``: ``datacompy.PolarsCompare(old, new, join_columns="id")`` plus its
  ``report()``, reading both files with ``polars.read_csv``. datacompy pins an older polars,
  so it runs in its own interpreter: pass ``--datacompy-python`` (see docs/data-diff.md).

Each tool first runs once untimed (warm page cache, compiled ``.pyc`` files); the median of
the next ``--repeat`` runs is reported. Runs of the tools are interleaved.

Usage::

    uv run python benchmarks/datadiff_bench.py [--rows 1000000] [--repeat 3]
        [--datacompy-python /tmp/dcvenv/bin/python] [--workdir DIR] [--no-cli]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

N_COLUMNS = 10


def generate(old_path: Path, new_path: Path, rows: int) -> dict[str, int]:
    """Write the old and new CSV files; return the true counts of each kind of change."""
    import polars as pl

    def rand(seed: int) -> pl.Expr:
        return pl.col("id").hash(seed=seed)

    base = pl.DataFrame({"id": pl.int_range(0, rows, eager=True)}).with_columns(
        (rand(1) % 1_000_000).cast(pl.Int64).alias("quantity"),
        ((rand(2) % 10_000_000).cast(pl.Float64) / 100.0).alias("price"),
        pl.format("cat_{}", rand(3) % 50).alias("category"),
        pl.format("user_{}", rand(4) % 100_000).alias("customer"),
        (pl.date(2020, 1, 1) + pl.duration(days=(rand(5) % 2000).cast(pl.Int64))).alias("day"),
        (rand(6) % 2 == 0).alias("active"),
        ((rand(7) % 1_000_000).cast(pl.Float64) / 1000.0).alias("score"),
        pl.format("{}-{}", rand(8) % 1000, rand(9) % 1000).alias("code"),
        (rand(10) % 100).cast(pl.Int64).alias("bucket"),
    )
    assert base.width == N_COLUMNS
    base.write_csv(old_path)

    modified = (pl.col("id") % 100) == 7
    modified_twice = (pl.col("id") % 1000) == 107
    removed = (pl.col("id") % 1000) == 500
    n_added = max(1, rows // 1000)
    new = (
        base.with_columns(
            pl.when(modified).then(pl.col("price") + 1.0).otherwise(pl.col("price")),
            pl.when(modified_twice)
            .then(pl.lit("changed"))
            .otherwise(pl.col("category"))
            .alias("category"),
        )
        .filter(~removed)
        .vstack(base.head(n_added).with_columns(pl.col("id") + rows))
    )
    new.write_csv(new_path)
    counts = base.select(
        (modified & ~removed).sum().alias("modified"), removed.sum().alias("removed")
    ).row(0, named=True)
    return {
        "modified": int(counts["modified"]),
        "removed": int(counts["removed"]),
        "added": n_added,
    }


# -- children: one measurement each ---------------------------------------------------------


def child_pivot_engine(old: str, new: str) -> dict[str, Any]:
    start = time.perf_counter()
    from pivot.core.reports.datadiff import diff_files

    result = diff_files(Path(old), Path(new), keys=["id"])
    elapsed = time.perf_counter() - start
    c = result.counts
    return {
        "seconds": elapsed,
        "added": c.added,
        "removed": c.removed,
        "modified": c.modified,
    }


def child_datacompy(old: str, new: str) -> dict[str, Any]:
    start = time.perf_counter()
    import datacompy
    import polars as pl

    df1 = pl.read_csv(old)
    df2 = pl.read_csv(new)
    compare = datacompy.PolarsCompare(df1, df2, join_columns="id")
    compare.report()
    elapsed = time.perf_counter() - start
    return {
        "seconds": elapsed,
        "added": int(compare.df2_unq_rows.height),
        "removed": int(compare.df1_unq_rows.height),
        "modified": int(compare.all_mismatch().height),
        "version": datacompy.__version__,
        "polars": pl.__version__,
    }


def measure(cmd: list[str], cwd: Path | None = None) -> tuple[str, float, float, float]:
    """Run ``cmd``; return its stdout, wall seconds, its own peak RSS in MiB, CPU seconds."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    # Let the warm-up run write .pyc files, as an installed package has them.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed:\n{err.read().decode()}")
        cpu = usage.ru_utime + usage.ru_stime
        return out.read().decode(), elapsed, usage.ru_maxrss / 1024, cpu


def run_child(python: str, kind: str, old: Path, new: Path) -> dict[str, Any]:
    """One measurement in a fresh interpreter (the child times itself, from imports on)."""
    stdout, _, rss, cpu = measure([python, __file__, "--child", kind, str(old), str(new)])
    result: dict[str, Any] = json.loads(stdout.strip().splitlines()[-1])
    result["max_rss_mib"] = rss
    result["cpu_seconds"] = cpu
    return result


def make_repo(work: Path, old: Path, new: Path) -> Path:
    """A Pivot project in a git repo: the old file committed, the new one in the workspace."""
    repo = work / "repo"
    if repo.exists():
        shutil.rmtree(repo)
    (repo / ".pivot").mkdir(parents=True)
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "bench",
        "GIT_AUTHOR_EMAIL": "bench@example.com",
        "GIT_COMMITTER_NAME": "bench",
        "GIT_COMMITTER_EMAIL": "bench@example.com",
    }
    shutil.copyfile(old, repo / "data.csv")
    for args in (["init", "-q"], ["add", "data.csv"], ["commit", "-q", "-m", "old"]):
        subprocess.run(["git", *args], cwd=repo, check=True, env=env)
    shutil.copyfile(new, repo / "data.csv")
    return repo


def run_cli(repo: Path, expected: str) -> dict[str, Any]:
    """End to end: ``python -m pivot data diff`` with text output to a pipe."""
    stdout, elapsed, rss, cpu = measure(
        [sys.executable, "-m", "pivot", "data", "diff", "data.csv", "--key", "id"], cwd=repo
    )
    if expected not in stdout:
        raise SystemExit(f"unexpected pivot data diff output:\n{stdout[:2000]}")
    return {"seconds": elapsed, "max_rss_mib": rss, "cpu_seconds": cpu}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--datacompy-python", default=None)
    parser.add_argument("--no-cli", action="store_true")
    parser.add_argument("--child", nargs=3, metavar=("KIND", "OLD", "NEW"), help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        kind, old, new = args.child
        func = {"pivot-engine": child_pivot_engine, "datacompy": child_datacompy}[kind]
        print(json.dumps(func(old, new)))
        return

    work = args.workdir or Path(tempfile.mkdtemp(prefix="datadiff-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    old, new = work / "old.csv", work / "new.csv"
    t0 = time.perf_counter()
    truth = generate(old, new, args.rows)
    print(
        f"generated {args.rows:,} rows x {N_COLUMNS} columns in {time.perf_counter() - t0:.1f} s: "
        f"old {old.stat().st_size / 2**20:.0f} MiB, new {new.stat().st_size / 2**20:.0f} MiB; "
        f"expected {truth['modified']:,} modified, {truth['removed']:,} removed, "
        f"{truth['added']:,} added"
    )

    def report(name: str, runs: list[dict[str, Any]]) -> None:
        runs = runs[1:]  # the first run is a warm-up (page cache, .pyc files)
        secs = [r["seconds"] for r in runs]
        cpu = [r["cpu_seconds"] for r in runs]
        rss = [r["max_rss_mib"] for r in runs if r.get("max_rss_mib")]
        counts = {k: runs[0][k] for k in ("modified", "removed", "added") if k in runs[0]}
        extra = {k: runs[0][k] for k in ("version", "polars") if k in runs[0]}
        print(
            f"{name:14s} median {statistics.median(secs):6.2f} s  "
            f"(min {min(secs):.2f}, max {max(secs):.2f})  "
            f"CPU {statistics.median(cpu):.2f} s  "
            + (f"peak RSS {max(rss):,.0f} MiB  " if rss else "")
            + (f"counts {counts}  " if counts else "")
            + (f"{extra}" if extra else "")
        )

    tools: dict[str, Callable[[], dict[str, Any]]] = {
        "pivot-engine": lambda: run_child(sys.executable, "pivot-engine", old, new),
    }
    if not args.no_cli:
        repo = make_repo(work, old, new)
        summary = f"{truth['added']:,} added, {truth['removed']:,} removed, {truth['modified']:,} modified"
        tools["pivot-cli"] = lambda: run_cli(repo, summary)
    if args.datacompy_python:
        python = args.datacompy_python
        tools["datacompy"] = lambda: run_child(python, "datacompy", old, new)
    # Interleave the tools, so that a busy moment on the machine hurts them all alike.
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in tools}
    for _ in range(args.repeat + 1):
        for name, run in tools.items():
            runs[name].append(run())
    for name, results in runs.items():
        report(name, results)
    print(f"load average during the run: {os.getloadavg()[0]:.2f} (1 min)")
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
