"""The trial project: a pipeline of every output kind, the edits made before a command, and
hashing of our own (following the documented on-disk format, never Pivot's code)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import xxhash

from tests.helpers import pivot_env

# The temp marker of pivot/core/store/atomic.py, spelled out here so the check stays independent.
TMP_MARK = ".pivot-tmp-"

PIPELINE = '''\
"""Fault-injection pipeline: several MB per run, stages of 50-300 ms, every output kind."""

import pathlib
import random
import time
from typing import Annotated, TypedDict

import pivot
from pivot import loaders
from pivot.stage_def import StageParams

import helpers

MB = 1 << 20


class GenParams(StageParams):
    mb: int = 4
    delay_ms: int = 120


def gen(
    seed: Annotated[str, pivot.Dep("src/seed.txt", loaders.Text())], params: GenParams
) -> Annotated[None, pivot.Out("data/big.bin", loaders.PathOnly())]:
    rng = random.Random(seed.strip())
    with open("data/big.bin", "wb") as handle:
        for _ in range(params.mb):
            handle.write(rng.randbytes(MB))
            handle.flush()
            time.sleep(params.delay_ms / 1000 / params.mb)


def split(
    big: Annotated[pathlib.Path, pivot.Dep("data/big.bin", loaders.PathOnly())],
) -> Annotated[dict, pivot.DirectoryOut("data/parts", loaders.Text())]:
    data = big.read_bytes()
    step = max(1, len(data) // 6)
    time.sleep(0.05)
    return {f"part{i}.txt": data[i * step : (i + 1) * step][: MB // 4].hex() for i in range(6)}


def shards(
    big: Annotated[pathlib.Path, pivot.Dep("data/big.bin", loaders.PathOnly())],
) -> Annotated[None, pivot.DirectoryOut("data/shards", loaders.PathOnly())]:
    data = big.read_bytes()
    for i in range(4):
        sub = pathlib.Path("data/shards") / f"g{i % 2}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"s{i}.bin").write_bytes(data[i::4])
        time.sleep(0.03)


def summarize(
    parts: Annotated[pathlib.Path, pivot.Dep("data/parts", loaders.PathOnly())],
) -> Annotated[dict, pivot.Out("data/summary.json", loaders.JSON())]:
    return helpers.describe(sorted(parts.iterdir()))


def history(
    rows: Annotated[list, pivot.IncrementalOut("data/history.jsonl", loaders.JSONL())],
    summary: Annotated[dict, pivot.Dep("data/summary.json", loaders.JSON())],
) -> Annotated[list, pivot.IncrementalOut("data/history.jsonl", loaders.JSONL())]:
    time.sleep(0.05)
    return rows + [{"n": len(rows), "digest": summary["digest"]}]


def journal(
    log: Annotated[pathlib.Path, pivot.IncrementalOut("data/journal.txt", loaders.PathOnly())],
    seed: Annotated[str, pivot.Dep("src/seed.txt", loaders.Text())],
    summary: Annotated[dict, pivot.Dep("data/summary.json", loaders.JSON())],
) -> None:
    with log.open("a") as handle:
        for i in range(3):
            handle.write(f"{seed.strip()} {summary['digest']} {i}\\n" * 2000)
            handle.flush()
            time.sleep(0.04)


class ModelParams(StageParams):
    scale: int = 3


class ModelOut(TypedDict):
    model: Annotated[bytes, pivot.Out("models/model.pkl", loaders.Pickle())]
    score: Annotated[dict, pivot.Metric("metrics/model.json")]


def model(
    big: Annotated[pathlib.Path, pivot.Dep("data/big.bin", loaders.PathOnly())],
    summary: Annotated[dict, pivot.Dep("data/summary.json", loaders.JSON())],
    params: ModelParams,
) -> ModelOut:
    data = big.read_bytes()
    time.sleep(0.1)
    blob = data[: len(data) // 2] * params.scale
    return ModelOut(model=blob, score={"size": len(blob), "digest": summary["digest"]})


def report(
    summary: Annotated[dict, pivot.Dep("data/summary.json", loaders.JSON())],
    score: Annotated[dict, pivot.Dep("metrics/model.json", loaders.JSON())],
) -> Annotated[str, pivot.Out("out/report.txt", loaders.Text())]:
    return helpers.render(summary, score)


pipeline = pivot.Pipeline("faults")
for stage in (gen, split, shards, summarize, history, journal, model, report):
    pipeline.register(stage)
'''

HELPERS = """\
import hashlib

BANNER = "report v1"


def describe(paths):
    digest = hashlib.sha256()
    total = 0
    for path in paths:
        data = path.read_bytes()
        digest.update(data)
        total += len(data)
    return {"files": len(paths), "bytes": total, "digest": digest.hexdigest()[:16]}


def render(summary, score):
    return f"{BANNER}\\nfiles={summary['files']} bytes={summary['bytes']} model={score['size']}\\n"
"""

STAGES = ("gen", "split", "shards", "summarize", "history", "journal", "model", "report")
INCREMENTAL_STAGES = frozenset({"history", "journal"})
#: Every declared output; the outputs of a trial must equal a clean run's.
OUTPUTS = (
    "data/big.bin",
    "data/parts",
    "data/shards",
    "data/summary.json",
    "data/history.jsonl",
    "data/journal.txt",
    "models/model.pkl",
    "metrics/model.json",
    "out/report.txt",
)
INCREMENTAL_OUTPUTS = frozenset({"data/history.jsonl", "data/journal.txt"})
#: Outputs kept out of the cache (a Metric): their blobs need not exist.
UNCACHED = frozenset({"metrics/model.json"})
#: The inputs an edit may touch (an undo puts the template's back).
EDITABLE = ("src/seed.txt", "params.yaml", "helpers.py")
#: Deleted before a "restore" or "checkout" trial, so the command restores them from the cache.
RESTORABLE = ("data/big.bin", "data/parts", "data/summary.json", "models/model.pkl")


# -- edits between trials ----------------------------------------------------------------------


def _edit(root: Path, rel: str, old: str, new: str) -> None:
    path = root / rel
    text = path.read_text()
    assert old in text, f"{old!r} not in {rel}"
    path.write_text(text.replace(old, new))


MUTATIONS: dict[str, Callable[[Path], object]] = {
    "none": lambda root: None,
    "seed": lambda root: (root / "src/seed.txt").write_text("seed-7\n"),
    "param-gen": lambda root: (root / "params.yaml").write_text("gen:\n  mb: 6\n"),
    "param-model": lambda root: (root / "params.yaml").write_text("model:\n  scale: 2\n"),
    "helper-render": lambda root: _edit(root, "helpers.py", "report v1", "report v2"),
    "helper-describe": lambda root: _edit(
        root, "helpers.py", 'return {"files"', 'return {"version": 2, "files"'
    ),
    "seed+param": lambda root: (
        (root / "src/seed.txt").write_text("seed-8\n"),
        (root / "params.yaml").write_text("gen:\n  mb: 3\n  delay_ms: 250\n"),
    ),
}


# -- hashing (our own, following the documented on-disk format) ---------------------------------


def file_digest(path: Path) -> str:
    digest = xxhash.xxh64()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def folder_files(folder: Path) -> list[str]:
    found = []
    for dirpath, _dirs, names in os.walk(folder):
        for name in names:
            full = Path(dirpath) / name
            if full.is_file():
                found.append(full.relative_to(folder).as_posix())
    return sorted(found)


def path_digest(path: Path) -> str | None:
    """xxhash64 of a file, or of a folder's manifest ``[[path, hash, size], ...]``; None if the
    path does not exist."""
    if path.is_dir():
        rows = [
            [name, file_digest(path / name), (path / name).stat().st_size]
            for name in folder_files(path)
        ]
        canonical = json.dumps(rows, separators=(",", ":"))
        return xxhash.xxh64(canonical.encode()).hexdigest()
    if path.is_file():
        return file_digest(path)
    return None


def output_digests(root: Path) -> dict[str, str | None]:
    return {rel: path_digest(root / rel) for rel in OUTPUTS}


def pivot(root: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pivot", *args],
        cwd=root,
        env=pivot_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def last_line(proc: subprocess.CompletedProcess[str]) -> str:
    lines = (proc.stderr.strip() or proc.stdout.strip()).splitlines()
    return lines[-1] if lines else "(no output)"


def run_statuses(proc: subprocess.CompletedProcess[str]) -> dict[str, str]:
    statuses = {}
    for line in proc.stdout.splitlines():
        with contextlib.suppress(json.JSONDecodeError):
            event = json.loads(line)
            if event.get("event") == "stage_finished":
                statuses[event["stage"]] = event["status"]
    return statuses


def check_run(root: Path, what: str) -> subprocess.CompletedProcess[str]:
    proc = pivot(root, "--no-tui", "run", "--json")
    if proc.returncode != 0:
        raise RuntimeError(f"{what} failed ({proc.returncode}): {proc.stdout[-2000:]}{proc.stderr}")
    return proc


def copy_project(source: Path, target: Path) -> None:
    shutil.copytree(source, target, symlinks=True)


def remove_tree(path: Path) -> None:
    shutil.rmtree(path)  # read-only blobs go too: only their folders' modes matter
