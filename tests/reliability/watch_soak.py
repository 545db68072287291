"""Watch-mode soak: many consecutive watch cycles with random edits, then the same outputs
and locks as one clean run, and no growth in open files or memory.

    uv run python -m tests.reliability.watch_soak --cycles 1000 --seed 1 --report soak.json

A small real project (8 stages, a helper module, ``params.yaml``, a data file) runs under
``pivot --no-tui run --watch --json``. Each cycle makes one random edit (a helper constant, a
constant in a stage body, a param, or the data file: always a new value) and waits until the
event stream shows the cycle that edit triggered finish (``watch_cycle`` naming the file,
then a ``run_finished`` that was not cancelled). Every ``--sample-every`` cycles it reads the
open descriptors (``/proc/PID/fd``) and resident memory (``VmRSS``) of the watch process and
of its workers. At the end watch is stopped and a fresh copy of the final sources gets one
clean ``pivot run``: every output must be byte-identical and every lock file equal.

The bound checked (``check_bounds``), after the warm-up (the first sample past
``--warmup`` cycles): the watch process's descriptors never exceed the warm-up count plus
:data:`FD_SLACK`, and its RSS grows by less than ``--rss-growth-mib``. Exit 1, with the
reason, if any cycle fails, a bound is broken or the final state differs.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import queue
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

from tests.helpers import TempProject, make_project, pivot_env

FD_SLACK = 4  # descriptors that may come and go (a log file being tailed, a pipe in use)
CYCLE_TIMEOUT = 120.0  # seconds for one cycle to finish; only a stuck watch reaches it

HELPERS = """\
SCALE = {scale}


def scaled(values):
    return [v * SCALE for v in values]


def total(values):
    return sum(values)
"""

PIPELINE = """\
from typing import Annotated

import pivot
from pivot import loaders
from pivot.stage_def import StageParams

from helpers import scaled, total


class ShiftParams(StageParams):
    offset: int = 1


class BucketParams(StageParams):
    width: int = 10


def parse(raw: Annotated[str, pivot.Dep("data/input.txt", loaders.Text())]) -> Annotated[
    list, pivot.Out("out/numbers.json", loaders.JSON())
]:
    return [int(line) for line in raw.split()]


def scale(numbers: Annotated[list, pivot.Dep("out/numbers.json", loaders.JSON())]) -> Annotated[
    list, pivot.Out("out/scaled.json", loaders.JSON())
]:
    return scaled(numbers)


def shift(
    numbers: Annotated[list, pivot.Dep("out/numbers.json", loaders.JSON())], params: ShiftParams
) -> Annotated[list, pivot.Out("out/shifted.json", loaders.JSON())]:
    return [v + params.offset + {body0} for v in numbers]


def combine(
    a: Annotated[list, pivot.Dep("out/scaled.json", loaders.JSON())],
    b: Annotated[list, pivot.Dep("out/shifted.json", loaders.JSON())],
) -> Annotated[list, pivot.Out("out/combined.json", loaders.JSON())]:
    return [x + y for x, y in zip(a, b)]


def stats(values: Annotated[list, pivot.Dep("out/combined.json", loaders.JSON())]) -> Annotated[
    dict, pivot.Out("out/stats.json", loaders.JSON())
]:
    return {{"total": total(values), "n": len(values), "max": max(values, default=0)}}


def report(s: Annotated[dict, pivot.Dep("out/stats.json", loaders.JSON())]) -> Annotated[
    str, pivot.Out("out/report.txt", loaders.Text())
]:
    return f"report {body1}: total={{s['total']}} n={{s['n']}} max={{s['max']}}\\n"


def bucket(
    numbers: Annotated[list, pivot.Dep("out/numbers.json", loaders.JSON())], params: BucketParams
) -> Annotated[dict, pivot.Out("out/buckets.json", loaders.JSON())]:
    counts = {{}}
    for v in numbers:
        key = str(v // params.width)
        counts[key] = counts.get(key, 0) + 1
    return counts


def summary(
    text: Annotated[str, pivot.Dep("out/report.txt", loaders.Text())],
    buckets: Annotated[dict, pivot.Dep("out/buckets.json", loaders.JSON())],
) -> Annotated[dict, pivot.Out("out/summary.json", loaders.JSON())]:
    return {{"report": text.strip(), "buckets": len(buckets), "tag": {body2}}}


pipeline = pivot.Pipeline("soak")
for stage in (parse, scale, shift, combine, stats, report, bucket, summary):
    pipeline.register(stage)
"""

STAGES = ("parse", "scale", "shift", "combine", "stats", "report", "bucket", "summary")
SOURCES = ("pipeline.py", "helpers.py", "params.yaml", "data/input.txt")


@dataclasses.dataclass
class Sources:
    """The values the sources are generated from; each edit changes one of them."""

    scale: int = 2
    body: list[int] = dataclasses.field(default_factory=lambda: [0, 0, 0])
    offset: int = 1
    width: int = 10
    data: list[int] = dataclasses.field(default_factory=lambda: list(range(20)))

    def write(self, root: Path, which: str | None = None) -> None:
        """Write every source file, or only ``which``."""
        texts = {
            "helpers.py": HELPERS.format(scale=self.scale),
            "pipeline.py": PIPELINE.format(
                body0=self.body[0], body1=self.body[1], body2=self.body[2]
            ),
            "params.yaml": f"shift:\n  offset: {self.offset}\nbucket:\n  width: {self.width}\n",
            "data/input.txt": "".join(f"{v}\n" for v in self.data),
        }
        for rel, text in texts.items():
            if which is None or rel == which:
                path = root / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)

    def edit(self, rng: random.Random) -> tuple[str, str]:
        """Change one value; the file to rewrite and a label for the report."""
        kind = rng.choice(("helper", "body", "param", "data"))
        if kind == "helper":
            self.scale = _other(rng, self.scale, 1, 9)
            return "helpers.py", "code: helper constant"
        if kind == "body":
            i = rng.randrange(3)
            self.body[i] = _other(rng, self.body[i], 0, 99)
            return "pipeline.py", f"code: body of {('shift', 'report', 'summary')[i]}"
        if kind == "param":
            if rng.random() < 0.5:
                self.offset = _other(rng, self.offset, 0, 50)
                return "params.yaml", "params: shift.offset"
            self.width = _other(rng, self.width, 1, 40)
            return "params.yaml", "params: bucket.width"
        size = rng.randint(5, 60)
        self.data = [rng.randint(0, 999) for _ in range(size)]
        return "data/input.txt", "data: input file"


def _other(rng: random.Random, current: int, low: int, high: int) -> int:
    while (value := rng.randint(low, high)) == current:
        pass
    return value


# -- the watch process -------------------------------------------------------------------------


class WatchProcess:
    """``pivot --no-tui run --watch --json`` and a thread reading its events."""

    def __init__(self, root: Path, debounce_ms: int) -> None:
        self.stderr = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 (closed in stop)
        command = [sys.executable, "-m", "pivot", "--no-tui", "run", "--watch", "--json"]
        self.proc = subprocess.Popen(
            [*command, "--debounce", str(debounce_ms)],
            cwd=root,
            env=pivot_env(),
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
            start_new_session=True,
        )
        self.events: queue.Queue[dict[str, Any] | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.strip():
                self.events.put(json.loads(line))
        self.events.put(None)

    def next_event(self, deadline: float) -> dict[str, Any]:
        while True:
            try:
                event = self.events.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise SoakFailure("watch produced no event in time: it seems stuck") from None
            if event is None:
                raise SoakFailure(f"watch exited ({self.proc.wait()}): {self.stderr_text()}")
            return event

    def wait_run(self, trigger: str | None) -> dict[str, Any]:
        """The ``run_finished`` of the cycle ``trigger`` started (the first run if None);
        how many other cycles came first is counted in the returned event's ``_extra``."""
        deadline = time.monotonic() + CYCLE_TIMEOUT
        started = trigger is None
        extra = 0
        while True:
            event = self.next_event(deadline)
            if event["event"] == "watch_cycle":
                if trigger is not None and trigger in event["trigger"]:
                    started = True
                else:
                    extra += 1
            elif event["event"] == "run_finished" and started and event["cancelled"] is None:
                event["_extra"] = extra
                return event

    def stderr_text(self) -> str:
        self.stderr.seek(0)
        return self.stderr.read()[-2000:]

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout=60)
        finally:
            if self.proc.poll() is None:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
            self.stderr.close()


class SoakFailure(Exception):
    """What the soak found wrong, in one line."""


# -- sampling -----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Sample:
    cycle: int
    fds: int  # the watch process
    rss_mib: float
    workers: int
    worker_fds: int  # all workers together
    worker_rss_mib: float

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _children(pid: int) -> list[int]:
    """Every descendant of ``pid`` (through /proc/<pid>/task/*/children)."""
    found: list[int] = []
    todo = [pid]
    while todo:
        current = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{current}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                text = Path(f"/proc/{current}/task/{task}/children").read_text()
            except OSError:
                continue
            for child in text.split():
                found.append(int(child))
                todo.append(int(child))
    return found


def _fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


def _rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def sample(cycle: int, pid: int) -> Sample:
    workers = _children(pid)
    return Sample(
        cycle=cycle,
        fds=_fds(pid),
        rss_mib=round(_rss_mib(pid), 1),
        workers=len(workers),
        worker_fds=sum(_fds(w) for w in workers),
        worker_rss_mib=round(sum(_rss_mib(w) for w in workers), 1),
    )


def check_bounds(samples: list[Sample], warmup: int, rss_growth_mib: float) -> list[str]:
    """The broken bounds, as lines (empty: all held). The baseline is the first sample taken
    at or after cycle ``warmup``."""
    after = [s for s in samples if s.cycle >= warmup]
    if len(after) < 2:
        return []
    base = after[0]
    problems = []
    worst_fds = max(s.fds for s in after)
    if worst_fds > base.fds + FD_SLACK:
        problems.append(
            f"open descriptors of the watch process grew from {base.fds} (cycle {base.cycle}) "
            f"to {worst_fds} (bound: +{FD_SLACK})"
        )
    growth = after[-1].rss_mib - base.rss_mib
    if growth >= rss_growth_mib:
        problems.append(
            f"RSS of the watch process grew by {growth:.1f} MiB from cycle {base.cycle} to "
            f"{after[-1].cycle} (bound: < {rss_growth_mib} MiB)"
        )
    return problems


# -- the final comparison -----------------------------------------------------------------------


def _tree(root: Path, folder: str) -> dict[str, bytes]:
    base = root / folder
    if not base.is_dir():
        return {}
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(base.rglob("*"))
        if p.is_file() and ".pivot-tmp-" not in p.name
    }


def compare_with_clean_run(root: Path, fresh: Path) -> list[str]:
    """Differences between ``root``'s outputs and locks and those of one clean run of the
    same sources in ``fresh``."""
    clean = make_project(fresh)
    for rel in SOURCES:
        target = clean.root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / rel, target)
    clean.pivot("--no-tui", "run")
    problems = []
    for folder in ("out", ".pivot/stages"):
        ours, theirs = _tree(root, folder), _tree(clean.root, folder)
        for rel in sorted(set(ours) | set(theirs)):
            if ours.get(rel) != theirs.get(rel):
                problems.append(f"{rel} differs from a clean run of the final sources")
    return problems


# -- the soak ------------------------------------------------------------------------------------


@dataclasses.dataclass
class SoakResult:
    cycles: int
    seed: int
    seconds: float
    edits: dict[str, int]
    extra_cycles: int  # cycles no edit of ours triggered
    samples: list[Sample]
    problems: list[str]

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["samples"] = [s.to_dict() for s in self.samples]
        return data


def soak(
    workdir: Path,
    *,
    cycles: int,
    seed: int,
    sample_every: int = 10,
    warmup: int = 50,
    rss_growth_mib: float = 32.0,
    debounce_ms: int = 50,
    log: Any = None,
) -> SoakResult:
    """Run the soak in ``workdir`` (which must not exist); see the module docstring."""
    rng = random.Random(seed)
    project: TempProject = make_project(workdir / "project")
    sources = Sources()
    sources.write(project.root)
    (project.root / ".gitignore").write_text("/out/\n")
    project.commit_all("sources")
    started = time.monotonic()
    watch = WatchProcess(project.root, debounce_ms)
    samples: list[Sample] = []
    edits: dict[str, int] = {}
    extra = 0
    problems: list[str] = []
    try:
        first = watch.wait_run(None)
        if first["exit_code"] != 0:
            raise SoakFailure(f"the first run exited {first['exit_code']}")
        samples.append(sample(0, watch.proc.pid))
        for cycle in range(1, cycles + 1):
            rel, label = sources.edit(rng)
            edits[label] = edits.get(label, 0) + 1
            sources.write(project.root, rel)
            finished = watch.wait_run(rel)
            extra += finished["_extra"]
            if finished["exit_code"] != 0:
                raise SoakFailure(
                    f"cycle {cycle} ({label}) exited {finished['exit_code']}: {finished['counts']}"
                )
            if cycle % sample_every == 0 or cycle == cycles:
                samples.append(sample(cycle, watch.proc.pid))
                if log is not None:
                    s = samples[-1]
                    log(
                        f"cycle {cycle}: fds {s.fds}, rss {s.rss_mib} MiB, {s.workers} workers "
                        f"({s.worker_fds} fds, {s.worker_rss_mib} MiB)"
                    )
    except SoakFailure as exc:
        problems.append(str(exc))
    finally:
        code = watch.stop()
    if code not in (0, 130) and not problems:
        problems.append(f"watch exited {code} when stopped")
    seconds = time.monotonic() - started
    if not problems:
        problems += check_bounds(samples, warmup, rss_growth_mib)
        problems += compare_with_clean_run(project.root, workdir / "clean")
    return SoakResult(cycles, seed, round(seconds, 1), edits, extra, samples, problems)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cycles", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--sample-every", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=50, help="cycles before the baseline")
    parser.add_argument("--rss-growth-mib", type=float, default=32.0)
    parser.add_argument("--debounce", type=int, default=50, help="watch debounce (ms)")
    parser.add_argument("--workdir", type=Path, help="keep the projects here")
    parser.add_argument("--report", type=Path, help="write the result as JSON")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="pivot-soak-") as tmp:
        workdir = args.workdir or Path(tmp) / "soak"
        result = soak(
            workdir,
            cycles=args.cycles,
            seed=args.seed,
            sample_every=args.sample_every,
            warmup=args.warmup,
            rss_growth_mib=args.rss_growth_mib,
            debounce_ms=args.debounce,
            log=lambda line: print(line, flush=True),
        )
    if args.report:
        args.report.write_text(json.dumps(result.to_dict(), indent=2))
    print(
        textwrap.dedent(f"""\
        {result.cycles} cycles (seed {result.seed}) in {result.seconds:.0f} s; edits: {result.edits};
        cycles not triggered by an edit: {result.extra_cycles}""")
    )
    for problem in result.problems:
        print(f"FAIL: {problem}")
    if not result.problems:
        print("OK: same outputs and locks as a clean run; fds and RSS within bounds")
    return 1 if result.problems else 0


if __name__ == "__main__":
    sys.exit(main())
