"""Load benchmark: many stages, many files. Time and memory must grow linearly with size.

Two kinds of project, each at several sizes:

- **stages**: the layered pipeline of ``benchmarks/synth.py`` with N tiny JSON stages
  (default N = 1,250 / 2,500 / 5,000);
- **files**: one stage returning ``{name: text}`` for a ``DirectoryOut`` of F small files
  (default F = 25,000 / 50,000 / 100,000, 1,000 per sub-folder), plus one stage that reads the
  folder, so the no-op also hashes it as a dependency.

For each project and size, every step is the real CLI as a subprocess:

1. **cold**: ``pivot --no-tui run --json`` on a fresh project (every stage must run);
2. **no-op**: the same again (every stage must skip);
3. **push**: ``pivot push`` to an empty prefix of a local SeaweedFS server;
4. **push again**: nothing changed (answered from the index of known hashes);
5. **pull**: ``pivot pull`` into a fresh copy holding only the lock files and the config (as a
   ``git clone`` would); the pulled outputs are compared byte for byte with the originals.

Measured per step: wall clock; CPU (user + sys of the command and every child it waited for);
the peak RSS of the largest single process, from ``wait4`` in a small launcher (the pivot
process and every child it reaped) and from ``VmHWM`` in ``/proc/<pid>/status``, polled every
50 ms for every process of the tree (loky workers included, reaped or not); and the largest
sum of RSS over the tree at one poll (shared library pages are counted once per process, so
the sum overstates a little).

The table reports time per stage / per file and, between consecutive sizes, the ratio of
times against the ratio of sizes and the implied exponent (1.0 = linear; below 1 the fixed
costs, interpreter start and pool start, still weigh).

Usage::

    uv run python benchmarks/load_bench.py [--stages 1250,2500,5000]
        [--files 25000,50000,100000] [--per-folder 1000] [--only stages|files] [--jobs 16]
        [--no-transfer] [--workdir benchmarks/.work/load] [--json FILE] [--keep]

Memory limit checked: 1 GiB per process and for the whole tree (``--limit-mb``); the exit
status is 1 when a step exceeds it or a correctness check fails.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # synth, run_bench, remote_bench
# (remote_bench also puts the repository root on sys.path, for tests.s3_server)

import remote_bench
import run_bench
import synth

from pivot.core.config import set_value
from tests.s3_server import S3Server, start_s3_server

REPO = run_bench.REPO
WORK = run_bench.WORK / "load"
BUCKET = "load"
MIB = 1 << 20
POLL_SECONDS = 0.05

STEPS = ("cold", "noop", "push", "push_again", "pull")
STEP_LABELS = {
    "cold": "cold run",
    "noop": "no-op run",
    "push": "push",
    "push_again": "push again",
    "pull": "pull (fresh clone)",
}


# -- measuring one command -------------------------------------------------------------------


@dataclasses.dataclass
class Usage:
    """What one command cost."""

    wall: float
    #: user + sys seconds of the whole tree: the rusage of every process the command reaped,
    #: or the sum over the processes seen while polling when that is more.
    cpu: float
    #: ru_maxrss of the command: its own peak RSS, or a reaped child's if larger, bytes.
    rusage_peak: int
    #: Largest VmHWM (peak RSS) of one process of the tree seen while polling /proc, bytes.
    poll_peak: int
    #: Largest sum of RSS over the tree at one poll, bytes.
    tree_peak: int
    #: Most processes in the tree at one poll.
    processes: int
    returncode: int
    stdout: str
    stderr: str

    @property
    def process_peak(self) -> int:
        return max(self.rusage_peak, self.poll_peak)


#: Runs the command as its child and reports the child's rusage. A child forked straight from
#: this benchmark would inherit its ~70 MiB: Linux keeps the high-water mark of the memory image
#: a process had before exec in ``ru_maxrss``, so every command would seem to peak at 70 MiB.
#: This launcher (``python -S``, ~10 MiB) sets that floor much lower than any pivot process.
_LAUNCHER = """
import json, os, sys
pid = os.fork()
if pid == 0:
    os.execvp(sys.argv[2], sys.argv[2:])
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as handle:
    json.dump({"status": status, "cpu": usage.ru_utime + usage.ru_stime,
               "maxrss": usage.ru_maxrss, "pid": pid}, handle)
sys.exit(os.waitstatus_to_exitcode(status))
"""


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as handle:
                raw = handle.read()
        except OSError:
            continue
        # the command name may hold spaces and parentheses: the ppid follows the last ')'
        fields = raw[raw.rfind(b")") + 2 :].split()
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    return children


_TICK = os.sysconf("SC_CLK_TCK")


def _memory(pid: int) -> tuple[int, int, float]:
    """(RSS now, peak RSS since its last exec, CPU seconds so far) of ``pid``; bytes.

    Zeros when it is gone.
    """
    rss = hwm = 0
    cpu = 0.0
    try:
        with open(f"/proc/{pid}/status", "rb") as handle:
            for line in handle:
                if line.startswith(b"VmRSS:"):
                    rss = int(line.split()[1]) * 1024
                elif line.startswith(b"VmHWM:"):
                    hwm = int(line.split()[1]) * 1024
        with open(f"/proc/{pid}/stat", "rb") as handle:
            raw = handle.read()
        fields = raw[raw.rfind(b")") + 2 :].split()
        cpu = (int(fields[11]) + int(fields[12])) / _TICK  # utime + stime
    except (OSError, IndexError, ValueError):
        pass
    return rss, hwm, cpu


def tree_memory(root: int) -> dict[int, tuple[int, int, float]]:
    """:func:`_memory` of every descendant of ``root`` alive now (not ``root`` itself)."""
    children = _children_map()
    found: dict[int, tuple[int, int, float]] = {}
    todo = list(children.get(root, ()))
    while todo:
        pid = todo.pop()
        found[pid] = _memory(pid)
        todo.extend(children.get(pid, ()))
    return found


class _Poller(threading.Thread):
    """Samples the tree under the launcher every :data:`POLL_SECONDS`."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.stop = threading.Event()
        self.peak = self.tree = self.processes = 0
        self.cpu: dict[int, float] = {}  # last CPU seconds seen, per process

    @property
    def tree_cpu(self) -> float:
        return sum(self.cpu.values())

    def run(self) -> None:
        while not self.stop.is_set():
            sizes = [m for m in tree_memory(self.pid).items() if m[1][0]]
            if sizes:
                self.peak = max(self.peak, *(hwm for _, (_, hwm, _) in sizes))
                self.tree = max(self.tree, sum(rss for _, (rss, _, _) in sizes))
                self.processes = max(self.processes, len(sizes))
                for pid, (_, _, cpu) in sizes:
                    self.cpu[pid] = max(self.cpu.get(pid, 0.0), cpu)
            self.stop.wait(POLL_SECONDS)


def measure(cmd: Sequence[str], cwd: Path, env: dict[str, str]) -> Usage:
    """Run ``cmd`` to the end under the launcher, polling its process tree."""
    with (
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
        tempfile.TemporaryDirectory() as tmp,
    ):
        report = Path(tmp) / "rusage.json"
        launcher = [sys.executable, "-S", "-c", _LAUNCHER, str(report)]
        started = time.perf_counter()
        proc = subprocess.Popen([*launcher, *cmd], cwd=cwd, env=env, stdout=out, stderr=err)
        poller = _Poller(proc.pid)
        poller.start()
        returncode = proc.wait()
        wall = time.perf_counter() - started
        poller.stop.set()
        poller.join()
        usage = json.loads(report.read_text())
        out.seek(0)
        err.seek(0)
        return Usage(
            wall=wall,
            # reaped processes are in the rusage; workers nobody waited for only in the polls
            cpu=max(usage["cpu"], poller.tree_cpu),
            rusage_peak=usage["maxrss"] * 1024,
            poll_peak=poller.peak,
            tree_peak=poller.tree,
            processes=poller.processes,
            returncode=returncode,
            stdout=out.read().decode(errors="replace"),
            stderr=err.read().decode(errors="replace"),
        )


# -- results ---------------------------------------------------------------------------------


@dataclasses.dataclass
class Result:
    kind: str  # "stages" | "files"
    size: int
    step: str
    usage: Usage
    problems: list[str]

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["usage"].pop("stdout")
        data["usage"].pop("stderr")
        data["usage"]["process_peak"] = self.usage.process_peak
        return data


class Bench:
    def __init__(self, work: Path, server: S3Server | None, jobs: int, limit: int) -> None:
        self.work = work
        self.server = server
        self.jobs = jobs
        self.limit = limit
        self.pivot = synth.pivot_command()
        self.env = {**os.environ, "CI": "1", "PYTHONPATH": str(REPO)}
        if server is not None:
            self.env.update(server.env())
        self.env.pop("NO_COLOR", None)
        self.results: list[Result] = []

    def step(
        self, kind: str, size: int, step: str, cwd: Path, args: Sequence[str]
    ) -> tuple[Usage, list[str]]:
        usage = measure([*self.pivot, *args], cwd, self.env)
        problems = []
        if usage.returncode != 0:
            problems.append(
                f"exit {usage.returncode}: {usage.stderr.strip().splitlines()[-1:] or ''}"
            )
        for what, value in (("process", usage.process_peak), ("tree", usage.tree_peak)):
            if value > self.limit:
                problems.append(f"{what} RSS {value / MIB:.0f} MiB over {self.limit / MIB:.0f}")
        result = Result(kind, size, step, usage, problems)
        self.results.append(result)
        print(
            f"  {kind:6} {size:>7} {STEP_LABELS[step]:18} {usage.wall:8.2f} s  cpu {usage.cpu:7.2f} s"
            f"  peak {usage.process_peak / MIB:6.0f} MiB  tree {usage.tree_peak / MIB:6.0f} MiB"
            f"  ({usage.processes} procs){'  ' + '; '.join(problems) if problems else ''}",
            flush=True,
        )
        return usage, problems

    def check(self, condition: bool, text: str) -> None:
        if not condition:
            self.results[-1].problems.append(text)
            print(f"    problem: {text}", flush=True)

    def configure_remote(self, root: Path, tag: str) -> None:
        assert self.server is not None
        set_value(root, "remotes.load", f"s3://{BUCKET}/{tag}-{time.time_ns()}")
        set_value(root, "remotes.load.endpoint_url", self.server.endpoint_url)

    def transfer(self, kind: str, size: int, root: Path, out_dir: str, blobs: int) -> None:
        """push, push again, pull into a fresh clone; the clone's outputs must equal ours."""
        self.configure_remote(root, f"{kind}-{size}")
        jobs = ["-j", str(self.jobs)]
        usage, _ = self.step(kind, size, "push", root, ["push", *jobs])
        self.check(f"{_files(blobs)} (" in usage.stdout, f"push did not move {blobs} blobs")
        usage, _ = self.step(kind, size, "push_again", root, ["push", *jobs])
        self.check(usage.stdout.startswith("0 files"), "second push moved files")
        clone = root.with_name(root.name + "-clone")
        shutil.rmtree(clone, ignore_errors=True)
        remote_bench._pivot_clone(root, clone)
        usage, _ = self.step(kind, size, "pull", clone, ["pull", *jobs])
        self.check(f"{_files(blobs)} (" in usage.stdout, f"pull did not fetch {blobs} blobs")
        try:
            same = _same_files(root / out_dir, clone / out_dir)
        except RuntimeError as exc:
            same = str(exc)
        self.check(same == "", f"pulled tree differs: {same}")
        shutil.rmtree(clone, ignore_errors=True)

    def runs(self, kind: str, size: int, root: Path, stages: int) -> None:
        usage, _ = self.step(kind, size, "cold", root, ["--no-tui", "run", "--json"])
        counts = _statuses(usage.stdout)
        self.check(counts.get("ran", 0) == stages, f"cold run: {counts}, expected {stages} ran")
        usage, _ = self.step(kind, size, "noop", root, ["--no-tui", "run", "--json"])
        counts = _statuses(usage.stdout)
        self.check(
            counts.get("skipped", 0) == stages, f"no-op run: {counts}, expected {stages} skipped"
        )

    def stages(self, n: int, width: int) -> None:
        root = self.work / f"stages-{n}"
        synth.generate(root, n, width=width, pivot=self.pivot)
        self.runs("stages", n, root, n)
        if self.server is not None:
            self.transfer("stages", n, root, "out", n)

    def files(self, n: int, per_folder: int) -> None:
        root = self.work / f"files-{n}"
        write_files_project(root, n, per_folder, self.pivot)
        self.runs("files", n, root, 2)
        if self.server is not None:
            # every file of the folder, plus the reader's output
            self.transfer("files", n, root, "out", n + 1)


def _files(count: int) -> str:
    return f"{count} file{'' if count == 1 else 's'}"


def _statuses(stdout: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for line in stdout.splitlines():
        if line.startswith("{"):
            event = json.loads(line)
            if event.get("event") == "stage_finished":
                counts[event["status"]] = counts.get(event["status"], 0) + 1
    return counts


def _same_files(source: Path, copy: Path) -> str:
    """'' when ``copy`` holds exactly the files of ``source`` with the same bytes."""
    mine = {p.relative_to(source).as_posix() for p in source.rglob("*") if p.is_file()}
    theirs = {p.relative_to(copy).as_posix() for p in copy.rglob("*") if p.is_file()}
    if mine != theirs:
        extra, missing = sorted(theirs - mine), sorted(mine - theirs)
        return f"{len(missing)} missing (e.g. {missing[:1]}), {len(extra)} extra (e.g. {extra[:1]})"
    remote_bench._same_tree(source, copy)
    return ""


# -- the many-files project ------------------------------------------------------------------

_FILES_PIPELINE = '''\
"""Load benchmark: one stage writes {files} small files into a DirectoryOut; one reads them
(generated by benchmarks/load_bench.py)."""

from pathlib import Path
from typing import Annotated, Any

import pivot

FILES = {files}
PER_FOLDER = {per_folder}

pipeline = pivot.Pipeline("load-files")


def make_files(
    seed: Annotated[dict[str, Any], pivot.Dep("data/seed.json", pivot.loaders.JSON())],
) -> Annotated[dict[str, str], pivot.DirectoryOut("out/files", pivot.loaders.Text())]:
    base = int(seed["value"])
    return {{
        f"d{{i // PER_FOLDER:04d}}/f{{i:07d}}.txt": f"file {{i}} of {{FILES}}, seed {{base}}\\n"
        for i in range(FILES)
    }}


def count_files(
    files: Annotated[Path, pivot.Dep("out/files")],
) -> Annotated[dict[str, int], pivot.Out("out/count.json", pivot.loaders.JSON())]:
    sizes = [p.stat().st_size for p in files.rglob("*") if p.is_file()]
    return {{"files": len(sizes), "bytes": sum(sizes)}}


pipeline.register(make_files)
pipeline.register(count_files)
'''


def write_files_project(root: Path, files: int, per_folder: int, pivot: Sequence[str]) -> None:
    if root.exists():
        shutil.rmtree(root)
    (root / "data").mkdir(parents=True)
    (root / "data" / "seed.json").write_text('{"value": 1}\n')
    (root / "pipeline.py").write_text(_FILES_PIPELINE.format(files=files, per_folder=per_folder))
    (root / ".gitignore").write_text("/out/\n__pycache__/\n")
    synth._run(["git", "init", "-q"], root)
    synth._run([*pivot, "init"], root)
    synth.git_commit(root, f"load benchmark, {files} files")


# -- report ----------------------------------------------------------------------------------


def _unit(kind: str) -> str:
    return "stage" if kind == "stages" else "file"


def _per_unit(seconds: float) -> str:
    ms = seconds * 1000
    return f"{ms:.2f} ms" if ms < 10 else f"{ms:.1f} ms"


def _scaling(now: float, before: float, growth: float) -> str:
    """``2.05x (1.04)``: the ratio of two measurements and the exponent it implies for
    ``growth`` times the size (1.00 = linear)."""
    if now <= 0 or before <= 0:
        return "-"
    ratio = now / before
    return f"{ratio:.2f}x ({math.log(ratio) / math.log(growth):.2f})"


def table(results: list[Result]) -> str:
    """Markdown: one row per kind, size and step; scaling against the previous size."""
    lines = [
        "| project | size | step | wall | per unit | wall vs previous size (exponent) | "
        "CPU | CPU vs previous size (exponent) | peak RSS, one process | peak RSS, tree | ok |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    by_key = {(r.kind, r.step, r.size): r for r in results}
    for r in sorted(results, key=lambda r: (r.kind, STEPS.index(r.step), r.size)):
        sizes = sorted(s for (k, st, s) in by_key if k == r.kind and st == r.step)
        index = sizes.index(r.size)
        wall_scaling = cpu_scaling = "-"
        if index > 0:
            before = by_key[(r.kind, r.step, sizes[index - 1])]
            wall_scaling = _scaling(r.usage.wall, before.usage.wall, r.size / before.size)
            cpu_scaling = _scaling(r.usage.cpu, before.usage.cpu, r.size / before.size)
        lines.append(
            f"| {r.kind} | {r.size:,} | {STEP_LABELS[r.step]} | {run_bench._fmt_seconds(r.usage.wall)} "
            f"| {_per_unit(r.usage.wall / r.size)}/{_unit(r.kind)} | {wall_scaling} "
            f"| {run_bench._fmt_seconds(r.usage.cpu)} | {cpu_scaling} "
            f"| {r.usage.process_peak / MIB:.0f} MiB "
            f"| {r.usage.tree_peak / MIB:.0f} MiB ({r.usage.processes} procs) "
            f"| {'✓' if not r.problems else '✗ ' + '; '.join(r.problems)} |"
        )
    return "\n".join(lines)


def _sizes(text: str) -> list[int]:
    return [int(part.replace("_", "")) for part in re.split(r"[,\s]+", text.strip()) if part]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stages", default="1250,2500,5000", help="Pipeline sizes (stages).")
    parser.add_argument("--width", type=int, default=16, help="Stages per layer (synth.py).")
    parser.add_argument("--files", default="25000,50000,100000", help="DirectoryOut sizes.")
    parser.add_argument("--per-folder", type=int, default=1000, help="Files per sub-folder.")
    parser.add_argument("--only", choices=["stages", "files"], help="One kind of project only.")
    parser.add_argument("--jobs", type=int, default=16, help="-j of push and pull.")
    parser.add_argument(
        "--no-transfer", action="store_true", help="Runs only: no S3 server, push or pull."
    )
    parser.add_argument("--limit-mb", type=int, default=1024, help="RSS limit to check.")
    parser.add_argument("--workdir", type=Path, default=WORK)
    parser.add_argument("--json", type=Path, help="Write the measurements here.")
    parser.add_argument("--keep", action="store_true", help="Keep the generated projects.")
    args = parser.parse_args(argv)

    work: Path = args.workdir.resolve()
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    removed = run_bench.clean_environment()
    load_before = run_bench._load_average()
    server = None if args.no_transfer else start_s3_server(work / "s3", buckets=[BUCKET])
    bench = Bench(work, server, args.jobs, args.limit_mb * MIB)
    started = time.perf_counter()
    try:
        # one untimed small run first, so pivot's bytecode is compiled
        synth.generate(work / "warmup", 16, pivot=bench.pivot)
        run_bench.run_timed([*bench.pivot, "--no-tui", "run"], work / "warmup")
        if args.only != "files":
            for n in _sizes(args.stages):
                bench.stages(n, args.width)
                if not args.keep:
                    shutil.rmtree(work / f"stages-{n}")
        if args.only != "stages":
            for n in _sizes(args.files):
                bench.files(n, args.per_folder)
                if not args.keep:
                    shutil.rmtree(work / f"files-{n}")
    finally:
        if server is not None:
            server.stop()
    total = time.perf_counter() - started
    info = run_bench.machine_info([run_bench.PivotTool(bench.pivot)])
    notes = [
        *info,
        f"- Benchmark wall time: {total:.0f} s; one run per step"
        + (
            "; no push/pull."
            if server is None
            else f"; push/pull -j {args.jobs} against SeaweedFS `weed mini` on 127.0.0.1 "
            "(same machine)."
        ),
        f"- Load average (1 min) before / after: {load_before} / {run_bench._load_average()}.",
    ]
    if removed:
        notes.append(f"- Unset for the benchmark: {', '.join(removed)} (see run_bench.UNSET_ENV).")
    report = "\n".join([*notes, "", table(bench.results)])
    print()
    print(report)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps(
                {"machine": notes, "results": [r.to_dict() for r in bench.results]}, indent=2
            )
        )
    return 0 if all(not r.problems for r in bench.results) else 1


if __name__ == "__main__":
    sys.exit(main())
