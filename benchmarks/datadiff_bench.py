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
- ``polars-join``: the baseline for ``pivot-cli``: what a user would write by hand with
  polars, in the same temp git repo. The old side is the bytes of ``git show HEAD:data.csv``
  read with ``polars.read_csv``, the new side is read from disk; an inner join on ``id``
  counts modified rows (any non-key column differs, null-aware) and two anti-joins count
  removed and added rows. Skipped with ``--no-cli``.
- ``datacompy``: ``datacompy.PolarsCompare(old, new, join_columns="id")`` plus its
  ``report()``, reading both files with ``polars.read_csv``. datacompy pins an older polars,
  so it runs in its own interpreter: pass ``--datacompy-python`` (see docs/data-diff.md).

Each tool first runs once untimed (warm page cache, compiled ``.pyc`` files); the median of
the next ``--repeat`` runs is reported: wall time of the whole process, its CPU time (user +
sys, children included) and its peak RSS. Runs of the tools are interleaved. The last lines
give ``pivot-cli / polars-join`` (and ``pivot-engine / polars-join``) ratios of the medians.

Usage::

    uv run python benchmarks/datadiff_bench.py [--rows 1000000] [--repeat 3]
        [--datacompy-python /tmp/dcvenv/bin/python] [--workdir DIR] [--no-cli]
        [--tools pivot-cli,polars-join]
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


def child_polars_join(old: str, new: str) -> dict[str, Any]:
    """By hand: ``git show`` for the old side, the file on disk for the new, joins on ``id``.

    Runs in the temp git repo (``old`` is the ``REV:path`` to show, ``new`` the file).
    """
    start = time.perf_counter()
    import polars as pl

    before = pl.read_csv(
        subprocess.run(["git", "show", old], capture_output=True, check=True).stdout
    )
    after = pl.read_csv(new)
    values = [c for c in after.columns if c != "id"]
    both = before.join(after, on="id", how="inner", suffix="_new")
    changed = pl.any_horizontal(pl.col(c).ne_missing(pl.col(f"{c}_new")) for c in values)
    modified = both.select(changed.sum()).item()
    removed = before.join(after, on="id", how="anti").height
    added = after.join(before, on="id", how="anti").height
    elapsed = time.perf_counter() - start
    return {"seconds": elapsed, "added": added, "removed": removed, "modified": int(modified)}


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


def run_child(
    python: str, kind: str, old: Path | str, new: Path | str, cwd: Path | None = None
) -> dict[str, Any]:
    """One measurement in a fresh interpreter (the child times itself, from imports on)."""
    stdout, wall, rss, cpu = measure(
        [python, str(Path(__file__).resolve()), "--child", kind, str(old), str(new)], cwd=cwd
    )
    result: dict[str, Any] = json.loads(stdout.strip().splitlines()[-1])
    result["inner_seconds"] = result["seconds"]
    result["seconds"] = wall
    result["max_rss_mib"] = rss
    result["cpu_seconds"] = cpu
    return result


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over the timed runs (the first run is a warm-up: page cache, .pyc files)."""
    timed = runs[1:]
    return {
        "wall": statistics.median(r["seconds"] for r in timed),
        "wall_min": min(r["seconds"] for r in timed),
        "wall_max": max(r["seconds"] for r in timed),
        "cpu": statistics.median(r["cpu_seconds"] for r in timed),
        "rss": statistics.median(r["max_rss_mib"] for r in timed),
        "rss_max": max(r["max_rss_mib"] for r in timed),
        "counts": {k: timed[0][k] for k in ("modified", "removed", "added") if k in timed[0]},
        "extra": {k: timed[0][k] for k in ("version", "polars") if k in timed[0]},
    }


def format_summary(name: str, s: dict[str, Any]) -> str:
    line = (
        f"{name:14s} wall {s['wall']:6.2f} s (min {s['wall_min']:.2f}, max {s['wall_max']:.2f})  "
        f"CPU {s['cpu']:.2f} s  peak RSS {s['rss']:,.0f} MiB (max {s['rss_max']:,.0f})"
    )
    for key in ("counts", "extra"):
        if s[key]:
            line += f"  {s[key]}"
    return line


def format_ratio(name: str, tool: dict[str, Any], base: dict[str, Any]) -> str:
    """``tool / baseline`` for wall time, CPU time and peak RSS (medians)."""
    return (
        f"{name} / polars-join: wall {tool['wall'] / base['wall']:.2f}x  "
        f"CPU {tool['cpu'] / base['cpu']:.2f}x  peak RSS {tool['rss'] / base['rss']:.2f}x"
    )


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
    parser.add_argument("--tools", default=None, help="comma-separated subset of the tools to run")
    parser.add_argument("--child", nargs=3, metavar=("KIND", "OLD", "NEW"), help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        kind, old, new = args.child
        func = {
            "pivot-engine": child_pivot_engine,
            "polars-join": child_polars_join,
            "datacompy": child_datacompy,
        }[kind]
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

    tools: dict[str, Callable[[], dict[str, Any]]] = {
        "pivot-engine": lambda: run_child(sys.executable, "pivot-engine", old, new),
    }
    if not args.no_cli:
        repo = make_repo(work, old, new)
        expected = (
            f"{truth['added']:,} added, {truth['removed']:,} removed, "
            f"{truth['modified']:,} modified"
        )
        tools["pivot-cli"] = lambda: run_cli(repo, expected)
        tools["polars-join"] = lambda: run_child(
            sys.executable, "polars-join", "HEAD:data.csv", "data.csv", cwd=repo
        )
    if args.datacompy_python:
        python = args.datacompy_python
        tools["datacompy"] = lambda: run_child(python, "datacompy", old, new)
    if args.tools:
        wanted = set(args.tools.split(","))
        tools = {name: run for name, run in tools.items() if name in wanted}
    print(f"load average before the run: {os.getloadavg()[0]:.2f} (1 min)")
    # Interleave the tools, so that a busy moment on the machine hurts them all alike.
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in tools}
    for _ in range(args.repeat + 1):
        for name, run in tools.items():
            runs[name].append(run())
    summaries = {name: summarise(results) for name, results in runs.items()}
    for name, summary in summaries.items():
        print(format_summary(name, summary))
    for name in ("pivot-cli", "pivot-engine"):
        if name in summaries and "polars-join" in summaries:
            print(format_ratio(name, summaries[name], summaries["polars-join"]))
    print(f"load average after the run: {os.getloadavg()[0]:.2f} (1 min)")
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
