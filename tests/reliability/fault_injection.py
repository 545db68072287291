"""Fault injection: SIGKILL a pivot command (or its workers) at a random moment, then prove
that nothing it left behind is corrupt and that the next run recovers.

Each trial copies a template project (a real git repository made with ``make_project``),
edits an input, starts a pivot command as a subprocess in its own session, sleeps a random
delay and SIGKILLs the pivot process, one loky worker, or the whole process group. It then
checks, with code of its own (never pivot's verify), that:

- every lock file parses as YAML and every blob it names is in the cache with matching bytes;
- every blob in the cache hashes to its name (temp files must carry pivot's temp marker);
- every output `pivot status --json` calls up to date hashes to what its lock records;
- `pivot verify` reports only expected problems (stale or missing outputs, never a bad blob);
- no worker outlives the killed pivot process (an orphan could rewrite outputs later);
- the next `pivot run` exits 0, the one after skips every stage, and the outputs equal those
  of a clean run of the same edits without any kill.

Run a campaign::

    uv run python -m tests.reliability.fault_injection --trials 200 --seed 1 --report out.json
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import ctypes
import dataclasses
import json
import os
import random
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import xxhash
import yaml

from tests.helpers import make_project, pivot_env

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


MUTATIONS: dict[str, Callable[[Path], None]] = {
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

#: The command each operation kills, and what it does to the project first.
OPS: dict[str, tuple[str, ...]] = {
    "run": ("--no-tui", "run", "--json"),
    "run-j1": ("--no-tui", "run", "--json", "-j", "1"),
    "run-j2": ("--no-tui", "run", "--json", "-j", "2"),
    "restore": ("--no-tui", "run", "--json"),  # outputs deleted: restored from the cache
    "checkout": ("--no-tui", "checkout"),  # outputs deleted: restored from the cache
    "commit": ("--no-tui", "commit"),  # locks of non-incremental stages deleted
}
#: Operations that need a previous run; "cold" trials only kill a first run.
WARM_ONLY = frozenset({"restore", "checkout", "commit"})
#: Operations with no workers: only the pivot process or its group can be killed.
NO_WORKERS = frozenset({"checkout", "commit"})
TARGETS = ("main", "worker", "group")


def prepare_op(root: Path, op: str) -> None:
    if op in ("restore", "checkout"):
        for rel in RESTORABLE:
            path = root / rel
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
    elif op == "commit":
        for stage in STAGES:
            if stage not in INCREMENTAL_STAGES:
                (root / ".pivot" / "stages" / f"{stage}.lock").unlink(missing_ok=True)


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


# -- invariants ----------------------------------------------------------------------------------


def blob_path(root: Path, digest: str) -> Path:
    return root / ".pivot" / "cache" / "files" / digest[:2] / digest[2:]


def read_locks(root: Path) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Every lock file, parsed as plain YAML; problems for any that does not parse."""
    locks: dict[str, dict[str, Any]] = {}
    problems: list[str] = []
    folder = root / ".pivot" / "stages"
    for path in sorted(folder.glob("*.lock")) if folder.is_dir() else []:
        if TMP_MARK in path.name:  # a lock being written when the kill landed
            continue
        try:
            data = yaml.safe_load(path.read_bytes())
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            problems.append(f"lock {path.name} is not valid YAML: {str(exc).splitlines()[0]}")
            continue
        if not isinstance(data, dict) or data.get("stage") != path.stem:
            problems.append(f"lock {path.name} is not a lock of stage {path.stem}: {data!r:.80}")
            continue
        if not isinstance(data.get("outs"), list) or not all(
            isinstance(out, dict) and "path" in out and "hash" in out for out in data["outs"]
        ):
            problems.append(f"lock {path.name} has malformed outs")
            continue
        locks[path.stem] = data
    listed = folder.iterdir() if folder.is_dir() else iter(())
    stray = [p.name for p in listed if TMP_MARK not in p.name and p.suffix != ".lock"]
    if stray:
        problems.append(f"unexpected files among the locks: {stray}")
    return locks, problems


def lock_blobs(out: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, hash) of each blob one ``outs`` entry needs."""
    files = out.get("files")
    if files is None:
        return [(str(out["path"]), str(out["hash"]))]
    return [(f"{out['path']}/{entry['path']}", str(entry["hash"])) for entry in files]


def check_lock_blobs(root: Path, locks: dict[str, dict[str, Any]]) -> list[str]:
    """Every blob a lock references exists and its bytes hash to its name."""
    problems = []
    for stage, lock in locks.items():
        for out in lock["outs"]:
            if out["path"] in UNCACHED:
                continue
            if out.get("files") is not None:
                rows = [[e["path"], e["hash"], e["size"]] for e in out["files"]]
                canonical = json.dumps(sorted(rows), separators=(",", ":"))
                if xxhash.xxh64(canonical.encode()).hexdigest() != out["hash"]:
                    problems.append(f"lock {stage}: manifest of {out['path']} does not match")
            for label, digest in lock_blobs(out):
                blob = blob_path(root, digest)
                if not blob.is_file():
                    problems.append(f"lock {stage}: blob {digest} of {label} is not in the cache")
                elif file_digest(blob) != digest:
                    problems.append(f"lock {stage}: blob {digest} of {label} has other bytes")
    return problems


def check_cache(root: Path) -> tuple[list[str], int]:
    """Every blob's bytes match its name; returns (problems, temp files left behind)."""
    problems = []
    temps = 0
    files = root / ".pivot" / "cache" / "files"
    for blob in sorted(files.rglob("*")) if files.is_dir() else []:
        if blob.is_dir():
            if len(blob.name) != 2:
                problems.append(f"cache: unexpected folder {blob.relative_to(files)}")
            continue
        if TMP_MARK in blob.name:
            temps += 1
            continue
        name = blob.parent.name + blob.name
        if len(name) != 16:
            problems.append(f"cache: unexpected file {blob.relative_to(files)}")
        elif file_digest(blob) != name:
            problems.append(f"cache: blob {name} holds bytes hashing to {file_digest(blob)}")
    return problems, temps


def pivot(root: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pivot", *args],
        cwd=root,
        env=pivot_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def check_status(root: Path, locks: dict[str, dict[str, Any]]) -> list[str]:
    """Every output of a stage `pivot status` calls up to date hashes to its lock (or, when it
    would be restored, is missing with all its blobs in the cache)."""
    proc = pivot(root, "status", "--json")
    if proc.returncode != 0:
        return [f"status exited {proc.returncode}: {_last_line(proc)}"]
    problems = []
    for row in json.loads(proc.stdout)["stages"]:
        if row["status"] != "cached":
            continue
        stage = row["stage"]
        lock = locks.get(stage)
        if lock is None:
            problems.append(f"status: {stage} is cached but has no readable lock")
            continue
        for out in lock["outs"]:
            current = path_digest(root / out["path"])
            if current == out["hash"]:
                continue
            restorable = current is None and row["action"] == "restore"
            if (
                restorable
                and out["path"] not in UNCACHED
                and all(blob_path(root, h).is_file() for _, h in lock_blobs(out))
            ):
                continue
            problems.append(
                f"status: {stage} is cached ({row['action']}) but {out['path']} hashes to "
                f"{current}, its lock says {out['hash']}"
            )
    return problems


#: `pivot verify` problems a kill may legitimately leave: a stage not (re)recorded yet.
_EXPECTED_VERIFY = (
    "no lock file",
    "not recorded in the lock",
    "missing from the workspace",
    "differs from its lock",
)


def check_verify(root: Path) -> list[str]:
    proc = pivot(root, "verify", "--json")
    if proc.returncode not in (0, 1):
        return [f"verify exited {proc.returncode}: {_last_line(proc)}"]
    try:
        found = json.loads(proc.stdout)["problems"]
    except (json.JSONDecodeError, KeyError):
        return [f"verify printed no JSON: {_last_line(proc)}"]
    return [
        f"verify: {p['stage']}: {p['path']}: {p['problem']}"
        for p in found
        if not any(text in p["problem"] for text in _EXPECTED_VERIFY)
    ]


def _last_line(proc: subprocess.CompletedProcess[str]) -> str:
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


def workspace_temps(root: Path) -> list[str]:
    """Temp files outside .pivot/ (harmless litter, reported but not a failure)."""
    found = []
    for dirpath, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d not in (".pivot", ".git")]
        found += [str((Path(dirpath) / n).relative_to(root)) for n in names + dirs if TMP_MARK in n]
    return found


# -- processes -----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    start: int  # start time in clock ticks since boot: tells a reused pid apart
    state: str

    @property
    def cmdline(self) -> str:
        try:
            return Path(f"/proc/{self.pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            return ""

    @property
    def is_worker(self) -> bool:
        return "LokyProcess" in self.cmdline

    def running_stage(self) -> str | None:
        """The stage a worker is running: its stdout points at that stage's log file."""
        try:
            target = os.readlink(f"/proc/{self.pid}/fd/1")
        except OSError:
            return None
        if "/.pivot/logs/" in target and target.endswith(".log"):
            return Path(target).stem
        return None


def read_proc(pid: int) -> Proc | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return Proc(pid, int(fields[1]), int(fields[19]), fields[0])


def all_procs() -> list[Proc]:
    procs = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            proc = read_proc(int(entry))
            if proc is not None:
                procs.append(proc)
    return procs


def descendants(pid: int) -> list[Proc]:
    children: dict[int, list[Proc]] = collections.defaultdict(list)
    for proc in all_procs():
        children[proc.ppid].append(proc)
    found: list[Proc] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child.pid)
    return found


def alive(proc: Proc) -> bool:
    now = read_proc(proc.pid)
    return now is not None and now.start == proc.start and now.state not in ("Z", "X")


def kill_proc(proc: Proc) -> None:
    if alive(proc):
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)


# -- one trial ----------------------------------------------------------------------------------


@dataclasses.dataclass
class Scenario:
    start: str  # "cold" (never run) or "warm" (a baseline run committed)
    op: str
    mutation: str
    target: str
    delay: float
    #: After the kill, undo the edit (as a user would) before the recovery run.
    undo: bool = False
    #: Kill when a temp file of this kind ("cache", "lock", "output") is created, not on a delay.
    trigger: str | None = None
    #: ... letting this many such files go by first.
    skip: int = 0

    @property
    def expected(self) -> str:
        """The edit whose clean run the recovered outputs must equal."""
        return "none" if self.undo else self.mutation


@dataclasses.dataclass
class Trial:
    index: int
    scenario: Scenario
    phase: str = ""
    stages_running: list[str] = dataclasses.field(default_factory=list)
    killed: str = ""  # what was killed, "" when the command finished first
    exit_code: int | None = None
    command_seconds: float | None = None  # set when the command finished before the kill
    kill_seconds: float | None = None  # when the kill landed, after the start
    trigger_path: str = ""  # the temp file whose creation triggered the kill
    cache_temps: int = 0
    lock_temps: int = 0
    workspace_temps: list[str] = dataclasses.field(default_factory=list)
    orphans: list[str] = dataclasses.field(default_factory=list)
    recovery: dict[str, str] = dataclasses.field(default_factory=dict)
    problems: list[str] = dataclasses.field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class Reference:
    outputs: dict[str, str | None]
    seconds: float  # how long the run of the edit took


class Bench:
    """Template projects, clean reference runs, and a place for trial projects."""

    def __init__(self, workdir: Path, *, log: Callable[[str], None] = print) -> None:
        self.workdir = workdir
        self.log = log
        self.templates: dict[str, Path] = {}
        self.references: dict[tuple[str, str], Reference] = {}
        self.op_seconds: dict[str, float] = {}
        self.baseline_seconds = 2.0

    def template(self, start: str) -> Path:
        if start in self.templates:
            return self.templates[start]
        cold = self.workdir / "template-cold"
        if "cold" not in self.templates:
            project = make_project(cold)
            project.write("pipeline.py", PIPELINE)
            project.write("helpers.py", HELPERS)
            project.write("src/seed.txt", "seed-0\n")
            project.commit_all("pipeline")
            self.templates["cold"] = cold
        if start == "warm":
            warm = self.workdir / "template-warm"
            copy_project(cold, warm)
            began = time.monotonic()
            _check_run(warm, "baseline run")
            self.baseline_seconds = time.monotonic() - began
            self.templates["warm"] = warm
        return self.templates[start]

    def undo(self, root: Path, start: str) -> None:
        """Put the template's inputs back in ``root``."""
        template = self.template(start)
        for rel in EDITABLE:
            (root / rel).unlink(missing_ok=True)
            if (template / rel).exists():
                shutil.copy2(template / rel, root / rel)

    def fresh(self, start: str, name: str) -> Path:
        target = self.workdir / name
        if target.exists():
            remove_tree(target)
        copy_project(self.template(start), target)
        return target

    def reference(self, start: str, mutation: str, *, undone: bool = False) -> Reference:
        """The outputs of a clean run of ``mutation`` (followed, when ``undone``, by a run with
        the edit undone), and how long the first run took."""
        key = (start, mutation + ("-undone" if undone else ""))
        if key not in self.references:
            prepared = time.monotonic()
            root = self.fresh(start, f"reference-{key[0]}-{key[1]}")
            MUTATIONS[mutation](root)
            began = time.monotonic()
            _check_run(root, f"reference run {key}")
            seconds = time.monotonic() - began
            if undone:
                self.undo(root, start)
                _check_run(root, f"reference run {key} after the undo")
            again = run_statuses(_check_run(root, f"reference re-run {key}"))
            assert set(again.values()) == {"skipped"}, f"reference {key} did not converge: {again}"
            self.references[key] = Reference(output_digests(root), seconds)
            remove_tree(root)
            self.log(f"reference {key[0]}/{key[1]} in {time.monotonic() - prepared:.1f}s")
        return self.references[key]

    @staticmethod
    def _timing_key(scenario: Scenario) -> str:
        return f"{scenario.start}/{scenario.op}/{scenario.mutation}"

    def seconds_for(self, scenario: Scenario) -> float:
        """How long the command of ``scenario`` takes without a kill (delays are drawn within
        it): first a clean run's time, then the last time a trial's command beat its kill."""
        key = self._timing_key(scenario)
        if key in self.op_seconds:
            return self.op_seconds[key]
        if scenario.op not in NO_WORKERS:
            return self.reference(scenario.start, scenario.mutation).seconds
        # Restoring or recording the outputs costs about half the baseline run; corrected by
        # the first trial whose command finishes before its kill.
        return 0.5 * self.baseline_seconds

    def observed(self, scenario: Scenario, seconds: float) -> None:
        """The command of ``scenario`` finished, unkilled, in ``seconds``."""
        self.op_seconds[self._timing_key(scenario)] = seconds


def _check_run(root: Path, what: str) -> subprocess.CompletedProcess[str]:
    proc = pivot(root, "--no-tui", "run", "--json")
    if proc.returncode != 0:
        raise RuntimeError(f"{what} failed ({proc.returncode}): {proc.stdout[-2000:]}{proc.stderr}")
    return proc


def copy_project(source: Path, target: Path) -> None:
    shutil.copytree(source, target, symlinks=True)


def remove_tree(path: Path) -> None:
    shutil.rmtree(path)  # read-only blobs go too: only their folders' modes matter


def pick_scenario(
    rng: random.Random,
    ops: Sequence[str],
    mutations: Sequence[str],
    targets: Sequence[str],
    bench: Bench,
    *,
    trigger_share: float = 0.4,
    cold_share: float = 0.2,
    undo_share: float = 0.25,
) -> Scenario:
    op = rng.choice(ops)
    start = "cold" if op not in WARM_ONLY and rng.random() < cold_share else "warm"
    if op == "commit":
        choices = ["none"]
    elif start == "cold":
        choices = [m for m in mutations if m in ("none", "seed")] or ["none"]
    elif op in WARM_ONLY:
        choices = list(mutations)
    else:  # a warm run with no edit would skip everything: there would be nothing to hit
        choices = [m for m in mutations if m != "none"] or ["none"]
    mutation = rng.choice(choices)
    allowed = [t for t in targets if not (op in NO_WORKERS and t == "worker")]
    target = rng.choice(allowed or ["main"])
    undo = mutation != "none" and rng.random() < undo_share
    scenario = Scenario(start, op, mutation, target, 0.0, undo)
    if rng.random() < trigger_share:
        scenario.trigger = rng.choice(TRIGGERS[op])
        scenario.skip = rng.choice([0, 0, 1, 2, 4])
        # A kill on the creation of a temp file must hit its writer: the pivot process writes
        # locks and restores, workers write blobs and outputs in a run.
        main_writes = scenario.trigger == "lock" or op in ("restore", "checkout", "commit")
        if main_writes and target == "worker":
            scenario.target = "group"
    else:
        # Aim anywhere in the command's life.
        scenario.delay = round(rng.uniform(0.0, bench.seconds_for(scenario)), 3)
    return scenario


def _events(path: Path) -> list[dict[str, Any]]:
    events = []
    with contextlib.suppress(OSError):
        for line in path.read_text().splitlines():
            with contextlib.suppress(json.JSONDecodeError):
                events.append(json.loads(line))
    return events


def _phase(op: str, events: list[dict[str, Any]], running: list[str]) -> str:
    """Where the command was when the kill landed, as far as can be seen from outside:

    - ``startup``: before the run started (imports, discovery, planning);
    - ``stage``: a worker was running a stage (its stdout pointed at the stage's log);
    - ``handoff``: a stage was in flight but no worker ran it: workers starting, the stage
      being sent, or its result coming back and being committed;
    - ``engine``: nothing in flight: deciding, restoring from the cache, writing locks;
    - ``after-run``: the run had finished, the process was exiting;
    - ``command``: inside `checkout` or `commit` (no events to tell more).
    """
    if op in NO_WORKERS:
        return "command"
    kinds = {event.get("event") for event in events}
    if "run_finished" in kinds:
        return "after-run"
    if "run_started" not in kinds:
        return "startup"
    if running:
        return "stage"
    started = {e["stage"] for e in events if e.get("event") == "stage_started"}
    finished = {e["stage"] for e in events if e.get("event") == "stage_finished"}
    return "handoff" if started - finished else "engine"


class TempWatcher:
    """Reports pivot temp files as they are created anywhere in a project (Linux inotify, via
    ctypes), so a kill can land while a blob, a lock or an output is being written: windows
    of microseconds to milliseconds that random delays rarely hit."""

    _IN_CREATE = 0x100
    _IN_ISDIR = 0x40000000
    _SKIP = (".git", ".pivot/logs", ".pivot/state.lmdb", ".pivot/cache/code")

    def __init__(self, root: Path) -> None:
        self.root = root
        self._libc = ctypes.CDLL(None, use_errno=True)
        self.fd = self._libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1 failed")
        self.folders: dict[int, Path] = {}
        for dirpath, dirs, _files in os.walk(root):
            dirs[:] = [d for d in dirs if not self._skipped(Path(dirpath) / d)]
            self._watch(Path(dirpath))

    def _skipped(self, folder: Path) -> bool:
        rel = folder.relative_to(self.root).as_posix()
        return any(rel == skip or rel.startswith(skip + "/") for skip in self._SKIP)

    def _watch(self, folder: Path) -> None:
        wd = self._libc.inotify_add_watch(self.fd, os.fsencode(folder), self._IN_CREATE)
        if wd >= 0:
            self.folders[wd] = folder

    def kind(self, path: Path) -> str:
        rel = path.relative_to(self.root).as_posix()
        if rel.startswith(".pivot/cache/files/"):
            return "cache"
        if rel.startswith(".pivot/stages/"):
            return "lock"
        return "other" if rel.startswith(".pivot/") else "output"

    def created(self, timeout: float) -> list[Path]:
        """Temp files created since the last call, waiting up to ``timeout`` for one."""
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return []
        try:
            data = os.read(self.fd, 1 << 16)
        except BlockingIOError:
            return []
        found = []
        offset = 0
        while offset + 16 <= len(data):
            wd, mask, _cookie, length = struct.unpack_from("iIII", data, offset)
            name = data[offset + 16 : offset + 16 + length].rstrip(b"\0").decode(errors="replace")
            offset += 16 + length
            folder = self.folders.get(wd)
            if folder is None or not name:
                continue
            path = folder / name
            if mask & self._IN_ISDIR:
                if not self._skipped(path):
                    self._watch(path)
            elif TMP_MARK in name:
                found.append(path)
        return found

    def close(self) -> None:
        os.close(self.fd)


#: Which temp-file writes each command makes, for kills triggered by one.
TRIGGERS: dict[str, tuple[str, ...]] = {
    "run": ("cache", "output", "lock"),
    "run-j1": ("cache", "output", "lock"),
    "run-j2": ("cache", "output", "lock"),
    "restore": ("output", "cache", "lock"),
    "checkout": ("output",),
    "commit": ("lock",),  # its blobs are all in the cache already
}


def inject(root: Path, scenario: Scenario, trial: Trial, rng: random.Random) -> list[Proc]:
    """Start the command, kill per ``scenario``; returns every process it started."""
    stdout = root.parent / f"{root.name}.out"
    stderr = root.parent / f"{root.name}.err"
    seen: dict[tuple[int, int], Proc] = {}
    watcher = TempWatcher(root) if scenario.trigger else None
    with open(stdout, "w") as out, open(stderr, "w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pivot", *OPS[scenario.op]],
            cwd=root,
            env=pivot_env(),
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
        try:
            main = read_proc(proc.pid)
            began = time.monotonic()
            deadline = began + scenario.delay
            victim: Proc | None = None
            hit: Path | None = None
            workers: list[Proc] = []
            scanned = 0.0
            to_skip = scenario.skip
            # Scanning /proc takes milliseconds: rarely while waiting for a temp file.
            every = 0.25 if watcher is not None else 0.05
            while proc.poll() is None:
                now = time.monotonic()
                if now - scanned > every:
                    for child in descendants(proc.pid):
                        seen.setdefault((child.pid, child.start), child)
                    workers = [p for p in seen.values() if p.is_worker and alive(p)]
                    scanned = now
                if watcher is not None:
                    created = watcher.created(0.02)
                    hits = [p for p in created if watcher.kind(p) == scenario.trigger]
                    if len(hits) > to_skip:
                        hit = hits[to_skip]
                        if scenario.target == "worker":
                            workers = [p for p in descendants(proc.pid) if p.is_worker]
                        busy = [p for p in workers if p.running_stage()]
                        victim = rng.choice(busy or workers) if (busy or workers) else None
                        break
                    to_skip -= len(hits)
                    continue
                if now >= deadline:
                    if scenario.target != "worker":
                        break
                    workers = [p for p in descendants(proc.pid) if p.is_worker]
                    busy = [p for p in workers if p.running_stage()]
                    if busy or workers:
                        victim = rng.choice(busy or workers)
                        break
                time.sleep(0.01)
            killed_at = time.monotonic() - began
            running_now = proc.poll() is None and main is not None
            if running_now and hit is None:  # where it is, before the kill changes it
                running = [stage for p in workers if (stage := p.running_stage())]
                trial.stages_running = sorted(running)
                trial.phase = _phase(scenario.op, _events(stdout), running)
            if running_now and scenario.target == "worker" and victim is None:
                trial.phase = "no-worker"
            elif running_now:
                if scenario.target == "main":
                    os.kill(proc.pid, signal.SIGKILL)
                    trial.killed = "pivot process"
                elif scenario.target == "group":
                    os.killpg(proc.pid, signal.SIGKILL)
                    trial.killed = "process group"
                elif victim is not None:
                    stage = victim.running_stage()
                    kill_proc(victim)
                    trial.killed = f"worker ({stage or 'idle'})"
                trial.kill_seconds = round(killed_at, 3)
                if hit is not None:
                    trial.phase = f"at-{scenario.trigger}-write"
                    trial.trigger_path = str(hit.relative_to(root))
            else:
                trial.phase = "exited-before-kill"
                trial.command_seconds = round(time.monotonic() - began, 3)
            trial.exit_code = proc.wait(timeout=300)
        finally:
            if watcher is not None:
                watcher.close()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return list(seen.values())


def check_orphans(started: list[Proc], trial: Trial, grace: float = 3.0) -> None:
    """No worker may outlive its pivot process: an orphan keeps writing outputs that no one
    will commit, racing the next run. Leftovers are killed (they are ours) after the check."""
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(alive(p) for p in started):
        time.sleep(0.05)
    for proc in started:
        if alive(proc):
            if proc.is_worker:
                trial.orphans.append(f"worker {proc.pid} ({proc.running_stage() or 'idle'})")
            else:
                trial.orphans.append(f"helper {proc.pid} {proc.cmdline[:60]}")
            kill_proc(proc)
    workers = [o for o in trial.orphans if o.startswith("worker")]
    if workers:
        trial.problems.append(f"orphan: {len(workers)} worker(s) outlived pivot by {grace}s")


def run_trial(bench: Bench, index: int, scenario: Scenario, rng: random.Random) -> Trial:
    began = time.monotonic()
    trial = Trial(index, scenario)
    reference = bench.reference(scenario.start, scenario.expected)
    root = bench.fresh(scenario.start, f"trial-{index:04d}")
    MUTATIONS[scenario.mutation](root)
    prepare_op(root, scenario.op)
    started = inject(root, scenario, trial, rng)
    if trial.command_seconds is not None:
        bench.observed(scenario, trial.command_seconds)
    check_orphans(started, trial)
    problems = trial.problems

    locks, lock_problems = read_locks(root)
    problems += lock_problems
    problems += check_lock_blobs(root, locks)
    cache_problems, trial.cache_temps = check_cache(root)
    problems += cache_problems
    trial.workspace_temps = workspace_temps(root)
    stages = root / ".pivot" / "stages"
    trial.lock_temps = len(list(stages.glob(f"*{TMP_MARK}*"))) if stages.is_dir() else 0
    problems += check_status(root, locks)
    problems += check_verify(root)

    if scenario.undo:
        bench.undo(root, scenario.start)
    recovery = pivot(root, "--no-tui", "run", "--json")
    trial.recovery = run_statuses(recovery)
    if recovery.returncode != 0:
        stuck = "another pivot" in recovery.stderr
        problems.append(
            f"{'run lock stuck' if stuck else 'recovery'}: next run exited "
            f"{recovery.returncode}: {_last_line(recovery)}"
        )
    else:
        again = run_statuses(pivot(root, "--no-tui", "run", "--json"))
        if set(again.values()) != {"skipped"} or set(again) != set(STAGES):
            problems.append(f"convergence: the run after recovery did {again}")
        outputs = output_digests(root)
        # With the edit undone, an incremental stage that committed the edited run before
        # the kill keeps that entry: both histories are right, nothing else is.
        undone = (
            bench.reference(scenario.start, scenario.mutation, undone=True).outputs
            if scenario.undo
            else {}
        )
        for rel, digest in reference.outputs.items():
            allowed = {digest}
            if scenario.undo and rel in INCREMENTAL_OUTPUTS:
                allowed.add(undone[rel])
            if outputs[rel] not in allowed:
                problems.append(
                    f"reference: {rel} is {outputs[rel]}, a clean run gives "
                    f"{' or '.join(sorted(str(a) for a in allowed))}"
                )
        final = pivot(root, "verify")
        if final.returncode != 0:
            problems.append(
                f"verify after recovery exited {final.returncode}: {final.stdout[-500:]}"
            )
    trial.seconds = round(time.monotonic() - began, 2)
    if not problems:
        remove_tree(root)
        for suffix in (".out", ".err"):
            (root.parent / f"{root.name}{suffix}").unlink(missing_ok=True)
    return trial


# -- a campaign ---------------------------------------------------------------------------------


@dataclasses.dataclass
class Campaign:
    seed: int
    trials: list[Trial]
    workdir: str

    @property
    def corrupt(self) -> list[Trial]:
        return [t for t in self.trials if t.problems]

    def table(self) -> dict[str, dict[str, int]]:
        """Trials by kill target and phase."""
        table: dict[str, dict[str, int]] = collections.defaultdict(collections.Counter)
        for trial in self.trials:
            table[trial.scenario.target][trial.phase] += 1
        return {target: dict(sorted(row.items())) for target, row in sorted(table.items())}

    def to_dict(self) -> dict[str, Any]:
        by_op = collections.Counter(t.scenario.op for t in self.trials)
        return {
            "seed": self.seed,
            "trials": len(self.trials),
            "killed": sum(1 for t in self.trials if t.killed),
            "corrupt": len(self.corrupt),
            "by_target_phase": self.table(),
            "by_op": dict(sorted(by_op.items())),
            "with_cache_temps": sum(1 for t in self.trials if t.cache_temps),
            "with_workspace_temps": sum(1 for t in self.trials if t.workspace_temps),
            "orphans": sum(len(t.orphans) for t in self.trials),
            "workdir": self.workdir,
            "details": [t.to_dict() for t in self.trials],
        }


def run_campaign(
    workdir: Path,
    *,
    trials: int,
    seed: int,
    ops: Sequence[str] = tuple(OPS),
    mutations: Sequence[str] = tuple(MUTATIONS),
    targets: Sequence[str] = TARGETS,
    cold_share: float = 0.2,
    undo_share: float = 0.25,
    trigger_share: float = 0.4,
    log: Callable[[str], None] = print,
    first_index: int = 0,
) -> Campaign:
    rng = random.Random(seed)
    bench = Bench(workdir, log=log)
    campaign = Campaign(seed, [], str(workdir))
    began = time.monotonic()
    bench.template("warm")
    log(f"templates ready in {time.monotonic() - began:.1f}s")
    for index in range(first_index, first_index + trials):
        scenario = pick_scenario(
            rng,
            ops,
            mutations,
            targets,
            bench,
            cold_share=cold_share,
            undo_share=undo_share,
            trigger_share=trigger_share,
        )
        try:
            trial = run_trial(bench, index, scenario, rng)
        except Exception as exc:  # a pivot command hung or the harness broke: a finding too
            trial = Trial(index, scenario, problems=[f"harness: {type(exc).__name__}: {exc}"])
        campaign.trials.append(trial)
        verdict = "CORRUPT " + "; ".join(trial.problems) if trial.problems else "ok"
        log(
            f"[{index}] {scenario.start}/{scenario.op}/{scenario.mutation}"
            f"{' (undone)' if scenario.undo else ''} kill {scenario.target} "
            f"{f'on {scenario.trigger}#{scenario.skip}' if scenario.trigger else f'@{scenario.delay:.2f}s'} "
            f"phase={trial.phase} {trial.stages_running or trial.trigger_path or ''} "
            f"exit={trial.exit_code} "
            f"tmp={trial.cache_temps}/{trial.lock_temps}/{len(trial.workspace_temps)} "
            f"({trial.seconds}s) {verdict}"
        )
    return campaign


@contextlib.contextmanager
def _workdir(path: str | None) -> Iterator[Path]:
    if path:
        Path(path).mkdir(parents=True, exist_ok=True)
        yield Path(path)
        return
    with tempfile.TemporaryDirectory(prefix="pivot-faults-") as tmp:
        yield Path(tmp)


def merge_reports(paths: Sequence[str]) -> dict[str, Any]:
    """One summary of several campaign reports (a long campaign is run in chunks)."""
    merged: dict[str, Any] = {"reports": list(paths), "trials": 0, "killed": 0, "corrupt": 0}
    counters: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    table: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for path in paths:
        data = json.loads(Path(path).read_text())
        for key in ("trials", "killed", "corrupt"):
            merged[key] += data[key]
        for target, row in data["by_target_phase"].items():
            table[target].update(row)
        for trial in data["details"]:
            scenario = trial["scenario"]
            counters["by_op"][scenario["op"]] += 1
            counters["by_start"][scenario["start"]] += 1
            counters["by_mutation"][scenario["mutation"]] += 1
            counters["by_trigger"][scenario.get("trigger") or "delay"] += 1
            counters["undone"]["yes" if scenario.get("undo") else "no"] += 1
            counters["leftovers"]["cache temp files"] += trial["cache_temps"]
            counters["leftovers"]["lock temp files"] += trial.get("lock_temps", 0)
            counters["leftovers"]["workspace temp files"] += len(trial["workspace_temps"])
            counters["leftovers"]["orphans"] += len(trial["orphans"])
    merged["by_target_phase"] = {t: dict(sorted(r.items())) for t, r in sorted(table.items())}
    merged.update({k: dict(sorted(v.items())) for k, v in counters.items()})
    return merged


def main(argv: Sequence[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    if argv and argv[0] == "merge":
        print(json.dumps(merge_reports(argv[1:]), indent=2))
        return 0
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0] if __doc__ else None,
        epilog="`... fault_injection merge A.json B.json` sums reports of several chunks.",
    )
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--report", help="write the campaign as JSON here")
    parser.add_argument("--workdir", help="keep projects here (failed trials are kept)")
    parser.add_argument("--first-index", type=int, default=0, help="number trials from here")
    parser.add_argument("--ops", default=",".join(OPS), help="comma-separated operations")
    parser.add_argument("--mutations", default=",".join(MUTATIONS))
    parser.add_argument("--targets", default=",".join(TARGETS), help="main, worker, group")
    parser.add_argument("--cold-share", type=float, default=0.2, help="share of first runs")
    parser.add_argument("--undo-share", type=float, default=0.25, help="share of undone edits")
    parser.add_argument(
        "--trigger-share", type=float, default=0.4, help="share of kills on a temp file"
    )
    args = parser.parse_args(argv)
    with _workdir(args.workdir) as workdir:
        campaign = run_campaign(
            workdir,
            trials=args.trials,
            seed=args.seed,
            ops=args.ops.split(","),
            mutations=args.mutations.split(","),
            targets=args.targets.split(","),
            cold_share=args.cold_share,
            undo_share=args.undo_share,
            trigger_share=args.trigger_share,
            first_index=args.first_index,
        )
    data = campaign.to_dict()
    if args.report:
        Path(args.report).write_text(json.dumps(data, indent=2))
    summary = {k: v for k, v in data.items() if k != "details"}
    print(json.dumps(summary, indent=2))
    return 1 if campaign.corrupt else 0


if __name__ == "__main__":
    sys.exit(main())
