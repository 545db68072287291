"""Time Pivot against DVC and make on the synthetic layered pipeline of benchmarks/synth.py.

Every tool gets its own freshly generated project (same stages, same helpers, same data):

1. **cold**: full run of a new project (Pivot and make: median of ``--repeat`` fresh projects;
   DVC: once, ~2 min).
2. **noop**: re-run with nothing changed (median of ``--repeat``).
3. **status**: ``pivot --no-tui status`` / ``dvc status`` (median of ``--repeat``).
4. **helper edit**: change the code of ``helpers/blend.py`` (an unused local's constant, so the
   outputs stay the same), re-run; 20 stages at N=176 (median of ``--repeat`` edits; DVC once).
5. **input edit**: change ``data/side.json``, re-run; 31 stages at N=176 (likewise).
6. **noop at N=2000**: a 2,000-stage project, cold run first (timed, reported separately), then
   the no-op (median of ``--repeat``).

Every timing is the wall clock of the command as a subprocess. Every run's number of re-run
stages is checked against what the layout predicts: Pivot's from ``pivot --no-tui run --json``
(``stage_finished`` events with status ``ran``), DVC's from its ``Running stage`` lines, make's
from the ``ran NAME`` line each stage prints. A mismatch is flagged in the table.

Usage::

    uv run python benchmarks/run_bench.py [--stages 176] [--large-stages 2000] [--repeat 3]
        [--with-dvc | --no-dvc] [--no-make] [--no-large] [--large-make] [--profile]
        [--write-doc] [--workdir benchmarks/.work/runs] [--json FILE] [--out-prefix P]

DVC is used when ``benchmarks/.work/dvc-venv/bin/dvc`` or a ``dvc`` on PATH exists; ``--with-dvc``
installs it into ``benchmarks/.work/dvc-venv`` first when it is missing. ``--profile`` also
profiles Pivot's no-op and status (``-X importtime`` and cProfile) into ``<workdir>/profiles``
and prints the top entries. ``--write-doc`` rewrites the generated sections of
``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import synth

REPO = Path(__file__).resolve().parent.parent
WORK = REPO / "benchmarks" / ".work"
DVC_VENV = WORK / "dvc-venv"
DOC = REPO / "docs" / "benchmarks.md"

#: Targets from DESIGN.md §7, sharpened by issue 19 for no-ops: step -> (limit in s, text).
TARGETS: dict[str, tuple[float, str]] = {
    "cold": (3.0, "≤ 3 s and faster than make"),
    "noop": (0.1, "≤ 0.1 s"),
    "noop_slow_import": (0.2, "≤ 0.2 s"),
    "status": (0.25, "≤ 0.25 s"),
    "helper": (1.0, "≤ 1 s"),
    "input": (1.5, "≤ 1.5 s"),
    "cold_large": (float("inf"), "-"),
    "noop_large": (0.3, "≤ 0.3 s"),
    "edit_status_large": (1.0, "≤ 1 s"),
    "edit_run_large": (3.0, "≤ 3 s"),
}

STEP_LABELS = {
    "cold": "cold full run",
    "noop": "no-op re-run",
    "noop_slow_import": "no-op re-run, pipeline.py sleeps 1 s when imported",
    "status": "status",
    "helper": "helper edit → re-run",
    "input": "input edit → re-run",
    "cold_large": "cold full run",
    "noop_large": "no-op re-run",
    "edit_status_large": "one stage's body edited → status",
    "edit_run_large": "one stage's body edited → run",
}

TOOLS = ("pivot", "make", "dvc")
#: Stages of the project whose pipeline.py sleeps on import.
SLOW_IMPORT_STAGES = 16
TOOL_LABELS = {"pivot": "Pivot", "make": "make -j2", "dvc": "DVC"}


@dataclasses.dataclass
class Measurement:
    tool: str
    step: str
    n_stages: int
    times: list[float]
    ran: list[int | None]
    expected: int | None
    #: user + sys CPU seconds of the command and its children, per run.
    cpu: list[float] = dataclasses.field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def cpu_median(self) -> float | None:
        return statistics.median(self.cpu) if self.cpu else None

    @property
    def ok(self) -> bool:
        return self.expected is None or all(r == self.expected for r in self.ran)

    def cell(self) -> str:
        text = _fmt_seconds(self.median)
        counts = sorted({r for r in self.ran if r is not None})
        if counts:
            text += f" ({'/'.join(str(c) for c in counts)} ran)"
        if not self.ok:
            text += f" ⚠ expected {self.expected}"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "median": self.median, "ok": self.ok}


def _fmt_seconds(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds:.3f} s"
    if seconds < 10:
        return f"{seconds:.2f} s"
    return f"{seconds:.1f} s"


class CommandFailed(RuntimeError):
    pass


@dataclasses.dataclass(frozen=True)
class Sample:
    """One timed command: wall clock, CPU (user + sys, children included) and a stage count."""

    wall: float
    cpu: float
    count: int


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_timed(
    cmd: Sequence[str], cwd: Path, env: dict[str, str] | None = None, *, check: bool = True
) -> tuple[float, float, subprocess.CompletedProcess[str]]:
    """Run ``cmd``; return (wall-clock seconds, CPU seconds, completed process).

    CPU counts every descendant the command waited for (Pivot's workers, make's recipes, DVC's
    stage commands): less sensitive than the wall clock to other load on the machine.
    """
    merged = {**os.environ, **(env or {})}
    cpu_before = _children_cpu()
    started = time.perf_counter()
    proc = subprocess.run(list(cmd), cwd=cwd, env=merged, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    cpu = _children_cpu() - cpu_before
    if check and proc.returncode != 0:
        raise CommandFailed(
            f"`{' '.join(cmd)}` exited {proc.returncode} in {cwd}\n"
            f"--- stdout (tail)\n{proc.stdout[-3000:]}\n--- stderr (tail)\n{proc.stderr[-3000:]}"
        )
    return elapsed, cpu, proc


#: Variables that change how every Python process behaves. This machine's environment sets the
#: first two; PYTHONDONTWRITEBYTECODE=1 makes every process recompile every module it imports
#: (+0.3 s per `pivot` command), which no normal installation does. The runner removes them.
UNSET_ENV = ("PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED", "PYTHONPROFILEIMPORTTIME")


def clean_environment() -> list[str]:
    """Drop :data:`UNSET_ENV` from this process's environment (children inherit it)."""
    removed = [name for name in UNSET_ENV if name in os.environ]
    for name in removed:
        del os.environ[name]
    return removed


# -- the tools -------------------------------------------------------------------------------


class Tool:
    """How one tool generates, runs and checks a project."""

    name = ""
    has_status = False

    def generate(self, root: Path, n_stages: int) -> synth.Layout:
        raise NotImplementedError

    def run(self, root: Path) -> Sample:
        """Time one run; the count is the number of stages that ran."""
        raise NotImplementedError

    def status(self, root: Path) -> Sample:
        """Time one status; the count is the number of stages reported stale."""
        raise NotImplementedError

    def version(self) -> str:
        raise NotImplementedError


class PivotTool(Tool):
    name = "pivot"
    has_status = True

    def __init__(self, command: Sequence[str], large_mb: int = 0, out_prefix: str = "") -> None:
        self.command = list(command)
        self.large_mb = large_mb
        self.out_prefix = out_prefix

    def generate(self, root: Path, n_stages: int) -> synth.Layout:
        return synth.generate(
            root,
            n_stages,
            large_mb=self.large_mb,
            init=["pivot"],
            pivot=self.command,
            out_prefix=self.out_prefix,
        )

    def run(self, root: Path) -> Sample:
        wall, cpu, proc = run_timed([*self.command, "--no-tui", "run", "--json"], root)
        ran = 0
        for line in proc.stdout.splitlines():
            if not line.startswith("{"):
                continue
            event = json.loads(line)
            if event.get("event") == "stage_finished" and event.get("status") == "ran":
                ran += 1
        return Sample(wall, cpu, ran)

    def status(self, root: Path) -> Sample:
        wall, cpu, proc = run_timed([*self.command, "--no-tui", "status"], root)
        match = re.search(r"(\d+) stages, (\d+) stale", proc.stdout)
        if match is None:
            raise CommandFailed(f"cannot read `pivot status` output:\n{proc.stdout[-2000:]}")
        return Sample(wall, cpu, int(match.group(2)))

    def version(self) -> str:
        _, _, proc = run_timed([*self.command, "--version"], REPO, check=False)
        head = _git(["rev-parse", "--short", "HEAD"])
        dirty = " + uncommitted changes" if _git(["status", "--porcelain", "--", "pivot"]) else ""
        return f"{proc.stdout.strip()} (git {head}{dirty})"


class MakeTool(Tool):
    name = "make"

    def __init__(self, python: str, jobs: int = 2, large_mb: int = 0) -> None:
        self.python = python
        self.jobs = jobs
        self.large_mb = large_mb

    def generate(self, root: Path, n_stages: int) -> synth.Layout:
        return synth.generate(root, n_stages, large_mb=self.large_mb, init=[])

    def run(self, root: Path) -> Sample:
        wall, cpu, proc = run_timed(["make", f"-j{self.jobs}", f"PYTHON={self.python}"], root)
        # Two stages may interleave their output (findall still sees both).
        return Sample(wall, cpu, len(re.findall(r"\bran s_\d+_\d+", proc.stdout)))

    def version(self) -> str:
        _, _, proc = run_timed(["make", "--version"], REPO, check=False)
        return proc.stdout.splitlines()[0] if proc.stdout else "make"


class DvcTool(Tool):
    name = "dvc"
    has_status = True

    def __init__(self, dvc: str, large_mb: int = 0) -> None:
        self.dvc = dvc
        self.large_mb = large_mb
        bin_dir = str(Path(dvc).resolve().parent) if os.sep in dvc else ""
        path = os.environ.get("PATH", "")
        # `python stages.py NAME` runs the interpreter next to dvc (its venv) when there is one.
        if bin_dir and (Path(bin_dir) / "python").exists():
            path = bin_dir + os.pathsep + path
        elif shutil.which("python", path=path) is None:
            path = str(Path(sys.executable).parent) + os.pathsep + path
        self.env = {"PATH": path, "DVC_NO_ANALYTICS": "1"}

    def generate(self, root: Path, n_stages: int) -> synth.Layout:
        return synth.generate(root, n_stages, large_mb=self.large_mb, init=["dvc"], dvc=[self.dvc])

    def run(self, root: Path) -> Sample:
        wall, cpu, proc = run_timed([self.dvc, "repro"], root, self.env)
        return Sample(wall, cpu, proc.stdout.count("Running stage '"))

    def status(self, root: Path) -> Sample:
        wall, cpu, proc = run_timed([self.dvc, "status"], root, self.env)
        if "up to date" in proc.stdout:
            return Sample(wall, cpu, 0)
        stale = [line for line in proc.stdout.splitlines() if re.match(r"^\S+:\s*$", line)]
        return Sample(wall, cpu, len(stale))

    def version(self) -> str:
        _, _, proc = run_timed([self.dvc, "--version"], REPO, self.env, check=False)
        return f"DVC {proc.stdout.strip()}"


def _git(args: list[str]) -> str:
    proc = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True)
    return proc.stdout.strip()


def find_dvc(install: bool) -> str | None:
    candidate = DVC_VENV / "bin" / "dvc"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("dvc")
    if found:
        return found
    if not install:
        return None
    print(f"installing DVC into {DVC_VENV} (about a minute)...", file=sys.stderr)
    WORK.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", str(DVC_VENV)], check=True)
    python = DVC_VENV / "bin" / "python"
    log = WORK / "dvc-install.log"
    with log.open("w") as handle:
        proc = subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "dvc"],
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
    if proc.returncode != 0 or not candidate.exists():
        raise SystemExit(f"installing DVC failed; see {log}")
    return str(candidate)


# -- edits -----------------------------------------------------------------------------------


#: Pause before an edit (not timed), so the edit's mtime is later than the last build's even on
#: a coarse filesystem clock (make compares mtimes; a same-tick edit would be missed).
EDIT_SETTLE = 0.1


def edit_helper(root: Path, value: int) -> None:
    """Change the code of helpers/blend.py without changing what it computes."""
    time.sleep(EDIT_SETTLE)
    path = root / "helpers" / f"{synth.EDITED_HELPER}.py"
    text = path.read_text()
    new = re.sub(r"(?m)^(    edit_marker = )\d+", rf"\g<1>{value}", text, count=1)
    if new == text:
        raise RuntimeError(f"no edit marker in {path}")
    path.write_text(new)


#: How many stages the stage edit at N=2000 should re-run (the figure issue 19 measured).
STAGE_EDIT_REACH = 268


def edited_stage(layout: synth.Layout) -> synth.Stage:
    """The first stage of a layer whose edit re-runs closest to STAGE_EDIT_REACH stages."""
    firsts = [stage for stage in layout.stages if stage.column == 0]
    return min(firsts, key=lambda s: abs(1 + len(layout.affected_by(s.out)) - STAGE_EDIT_REACH))


def edit_stage_body(root: Path, name: str, value: int) -> None:
    """Change the name a stage passes to its helper: its output changes, nothing else does."""
    pipeline = root / "pipeline.py"
    text = pipeline.read_text()
    edited = re.sub(rf"\('{name}(\.\d+)?', \[", f"('{name}.{value}', [", text, count=1)
    if edited == text:
        raise CommandFailed(f"cannot find the body of {name} in {pipeline}")
    pipeline.write_text(edited)


def edit_input(root: Path, value: int) -> None:
    time.sleep(EDIT_SETTLE)
    (root / synth.SIDE_FILE).write_text(json.dumps({"value": value}) + "\n")


# -- the benchmark ---------------------------------------------------------------------------


@dataclasses.dataclass
class Plan:
    n_stages: int
    large_stages: int
    repeat: int
    workdir: Path
    verbose: bool = True


class Bench:
    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.results: list[Measurement] = []
        self.notes: list[str] = []

    def log(self, text: str) -> None:
        if self.plan.verbose:
            print(text, file=sys.stderr, flush=True)

    def record(
        self,
        tool: Tool,
        step: str,
        n_stages: int,
        expected: int | None,
        samples: list[Sample],
    ) -> Measurement:
        times = [s.wall for s in samples]
        ran: list[int | None] = [s.count for s in samples]
        cpu = [s.cpu for s in samples]
        m = Measurement(tool.name, step, n_stages, times, ran, expected, cpu)
        self.results.append(m)
        flag = "" if m.ok else f"  <-- expected {expected}"
        self.log(
            f"  {tool.name:5} {step:10} N={n_stages:<5} {m.cell()}  {[round(t, 3) for t in times]}{flag}"
        )
        return m

    def repeated(
        self,
        tool: Tool,
        step: str,
        n_stages: int,
        expected: int | None,
        times: int,
        action: Callable[[int], Sample],
    ) -> Measurement:
        samples = [action(i) for i in range(times)]
        return self.record(tool, step, n_stages, expected, samples)

    def project(self, tool: Tool, n_stages: int, tag: str) -> tuple[Path, synth.Layout]:
        root = self.plan.workdir / f"{tool.name}-{n_stages}-{tag}"
        layout = tool.generate(root, n_stages)
        return root, layout

    def warm_up(self, tool: Tool) -> None:
        """One untimed run and status on a small project: bytecode of the tool gets compiled."""
        root = self.plan.workdir / f"{tool.name}-warmup"
        tool.generate(root, 16)
        tool.run(root)
        if tool.has_status:
            tool.status(root)
        shutil.rmtree(root)

    def full(self, tool: Tool, *, cold_repeat: int, edit_repeat: int) -> Path:
        """cold, noop, status, helper edit, input edit on fresh projects of N stages."""
        n = self.plan.n_stages
        self.log(f"{tool.name}: {n} stages")
        cold: list[Sample] = []
        root = self.plan.workdir
        layout = synth.plan(n)
        for i in range(cold_repeat):
            root, layout = self.project(tool, n, f"cold{i}")
            cold.append(tool.run(root))
        self.record(tool, "cold", n, n, cold)
        self.repeated(tool, "noop", n, 0, self.plan.repeat, lambda _: tool.run(root))
        if tool.has_status:
            self.repeated(tool, "status", n, 0, self.plan.repeat, lambda _: tool.status(root))

        def helper(i: int) -> Sample:
            edit_helper(root, i + 1)
            return tool.run(root)

        def change_input(i: int) -> Sample:
            edit_input(root, i + 2)
            return tool.run(root)

        self.repeated(tool, "helper", n, len(layout.helper_users()), edit_repeat, helper)
        self.repeated(
            tool, "input", n, len(layout.affected_by(synth.SIDE_FILE)), edit_repeat, change_input
        )
        return root

    def slow_import(self, tool: PivotTool) -> None:
        """A no-op of a small project whose pipeline.py sleeps 1 s at the top (standing in for
        pandas and scikit-learn imports): answered without importing it, it costs no second."""
        n = SLOW_IMPORT_STAGES
        root, _ = self.project(tool, n, "slow-import")
        pipeline = root / "pipeline.py"
        pipeline.write_text("import time\n\ntime.sleep(1)\n" + pipeline.read_text())
        self.log(f"{tool.name}: {n} stages, pipeline.py sleeps 1 s")
        tool.run(root)
        self.repeated(tool, "noop_slow_import", n, 0, self.plan.repeat, lambda _: tool.run(root))

    def large(self, tool: Tool) -> Path:
        n = self.plan.large_stages
        self.log(f"{tool.name}: {n} stages")
        root, layout = self.project(tool, n, "large")
        self.record(tool, "cold_large", n, n, [tool.run(root)])
        self.repeated(tool, "noop_large", n, 0, self.plan.repeat, lambda _: tool.run(root))
        if isinstance(tool, PivotTool):
            self.stage_edit(tool, root, layout)
        return root

    def stage_edit(self, tool: PivotTool, root: Path, layout: synth.Layout) -> None:
        """Edit one stage's body in the 2,000-stage pipeline.py: `status`, then the run."""
        stage = edited_stage(layout)
        expected = 1 + len(layout.affected_by(stage.out))
        n = len(layout.stages)
        status: list[Sample] = []
        runs: list[Sample] = []
        for i in range(self.plan.repeat):
            edit_stage_body(root, stage.name, i + 1)
            status.append(tool.status(root))
            runs.append(tool.run(root))
        self.record(tool, "edit_status_large", n, expected, status)
        self.record(tool, "edit_run_large", n, expected, runs)

    def get(self, tool: str, step: str) -> Measurement | None:
        for m in self.results:
            if m.tool == tool and m.step == step:
                return m
        return None


# -- profiling -------------------------------------------------------------------------------


#: Frames that only dispatch (interpreter, runpy, click): left out of the cumulative tables.
_WRAPPERS = (
    "builtins.exec>",
    "builtins.__import__>",
    "<string>:1(<module>)",
    "<frozen runpy>",
    "pivot/__main__.py",
    "click/core.py",
    "click/decorators.py",
    "pivot/cli/__init__.py:",
    "(_find_and_load_unlocked)",
    "(_load_unlocked)",
    "(_handle_fromlist)",
    "(_call_with_frames_removed)",
    "(exec_module)",
)


def profile_pivot(
    targets: Sequence[tuple[str, Path, list[str]]], out_dir: Path, top: int = 15
) -> str:
    """cProfile and ``-X importtime`` of pivot commands, as markdown.

    ``targets`` holds (slug, project root, pivot arguments after ``--no-tui``).
    """
    import pstats

    out_dir.mkdir(parents=True, exist_ok=True)
    python = sys.executable
    sections: list[str] = []
    for slug, root, args in targets:
        prof = out_dir / f"{slug}.prof"
        command = f"pivot --no-tui {' '.join(args)}"
        wall, _, _ = run_timed([*synth.pivot_command(), "--no-tui", *args], root)
        profiled, _, _ = run_timed(
            [python, "-m", "cProfile", "-o", str(prof), "-m", "pivot", "--no-tui", *args], root
        )
        stats = pstats.Stats(str(prof))
        rows = _top_entries(stats, top, cumulative=True)
        own = _top_entries(stats, 10, cumulative=False)
        table = [
            f"#### `{command}` in {root.name} ({wall:.3f} s wall; {profiled:.3f} s under cProfile)",
            "",
            f"Cumulative, top {top} (dispatch-only frames of the interpreter, runpy, click and "
            "importlib omitted; `<frozen importlib._bootstrap>:1165(_find_and_load)` is the total "
            "spent importing):",
            "",
            "| cumulative | own | calls | function |",
            "|---:|---:|---:|---|",
            *(f"| {c:.3f} s | {t:.3f} s | {n} | `{name}` |" for c, t, n, name in rows),
            "",
            "Own time, top 10:",
            "",
            "| own | cumulative | calls | function |",
            "|---:|---:|---:|---|",
            *(f"| {t:.3f} s | {c:.3f} s | {n} | `{name}` |" for c, t, n, name in own),
            "",
        ]
        _, _, proc = run_timed([python, "-X", "importtime", "-m", "pivot", "--no-tui", *args], root)
        total, imports = _top_imports(proc.stderr, 10)
        (out_dir / f"{slug}.importtime.txt").write_text(proc.stderr)
        table += [
            f"`-X importtime`: {total:.3f} s importing; biggest top-level imports (cumulative):",
            "",
            "| cumulative | module |",
            "|---:|---|",
            *(f"| {us / 1e6:.3f} s | `{name}` |" for us, name in imports),
            "",
        ]
        sections.append("\n".join(table))
    return "\n".join(sections)


def _top_entries(stats: Any, top: int, *, cumulative: bool) -> list[tuple[float, float, int, str]]:
    rows: list[tuple[float, float, int, str]] = []
    for (file, line, func), (_cc, nc, tt, ct, _callers) in stats.stats.items():
        where = _short_path(file)
        name = f"{where}:{line}({func})" if line else func
        if cumulative and any(w in name for w in _WRAPPERS):
            continue
        rows.append((ct, tt, nc, name))
    rows.sort(key=lambda r: -(r[0] if cumulative else r[1]))
    return rows[:top]


def _short_path(file: str) -> str:
    for marker in ("site-packages/", "/lib/python3", f"{REPO}/"):
        if marker in file:
            tail = file.split(marker, 1)[1]
            return (
                tail.split("/", 1)[1] if marker.startswith("/lib/python3") and "/" in tail else tail
            )
    return file


def _top_imports(stderr: str, top: int) -> tuple[float, list[tuple[int, str]]]:
    """Total import time and the biggest top-level imports from ``-X importtime`` output."""
    rows: list[tuple[int, str]] = []
    for line in stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if match and len(match.group(3)) == 1:  # top-level imports only
            rows.append((int(match.group(2)), match.group(4)))
    rows.sort(key=lambda r: -r[0])
    return sum(us for us, _ in rows) / 1e6, rows[:top]


# -- output ----------------------------------------------------------------------------------


def _load_average() -> str:
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:
        return "?"


def machine_info(tools: Sequence[Tool]) -> list[str]:
    cpu = platform.processor() or "unknown CPU"
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = ""
    with contextlib.suppress(OSError, ValueError, IndexError):
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f", {kib / 2**20:.0f} GiB RAM"
    lines = [
        f"- Machine: {os.cpu_count()} cores ({cpu}){memory}, {platform.system()} {platform.release()}",
        f"- Python {platform.python_version()}; " + "; ".join(t.version() for t in tools),
        f"- Date: {datetime.datetime.now().strftime('%Y-%m-%d %H:%M')}",
    ]
    return lines


STEPS = (
    "cold",
    "noop",
    "noop_slow_import",
    "status",
    "helper",
    "input",
    "cold_large",
    "noop_large",
    "edit_status_large",
    "edit_run_large",
)


def _step_label(bench: Bench, step: str) -> str:
    n, big = bench.plan.n_stages, bench.plan.large_stages
    if step == "helper":
        return f"helper edit → {len(synth.plan(n).helper_users())} stages re-run (N={n})"
    if step == "input":
        return (
            f"input edit → {len(synth.plan(n).affected_by(synth.SIDE_FILE))} stages re-run (N={n})"
        )
    if step == "noop_slow_import":
        return f"{STEP_LABELS[step]} (N={SLOW_IMPORT_STAGES})"
    return f"{STEP_LABELS[step]} (N={big if step.endswith('_large') else n})"


def results_table(bench: Bench, tools: Sequence[str]) -> str:
    header = ["step", "Pivot target", *(TOOL_LABELS[t] for t in tools), "Pivot meets target?"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for step in STEPS:
        if not any(bench.get(t, step) for t in tools):
            continue
        label = _step_label(bench, step)
        cells = []
        for tool in tools:
            m = bench.get(tool, step)
            cells.append(m.cell() if m else "-")
        lines.append(
            "| " + " | ".join([label, TARGETS[step][1], *cells, verdict(bench, step)]) + " |"
        )
    return "\n".join(lines)


def cpu_table(bench: Bench, tools: Sequence[str]) -> str:
    """Median CPU seconds (user + sys of the command and the children it waited for)."""
    header = ["step", *(TOOL_LABELS[t] for t in tools)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for step in STEPS:
        cells = []
        for tool in tools:
            m = bench.get(tool, step)
            cpu = m.cpu_median if m else None
            cells.append(_fmt_seconds(cpu) if cpu is not None else "-")
        if any(c != "-" for c in cells):
            lines.append("| " + " | ".join([_step_label(bench, step), *cells]) + " |")
    return "\n".join(lines)


def verdict(bench: Bench, step: str) -> str:
    m = bench.get("pivot", step)
    if m is None:
        return "-"
    limit, _ = TARGETS[step]
    if limit == float("inf"):
        return "(no target)" if m.ok else "✗ wrong stage count"
    problems = []
    if m.median > limit:
        problems.append(f"{m.median / limit:.1f}x the target (+{m.median - limit:.2f} s)")
    if step == "cold":
        make = bench.get("make", "cold")
        if make is not None and m.median >= make.median:
            problems.append("not faster than make")
    if not m.ok:
        problems.append(
            f"re-ran {sorted({r for r in m.ran if r is not None})} stages, expected {m.expected}"
        )
    return "✓" if not problems else "✗ " + "; ".join(problems)


def replace_section(text: str, name: str, body: str) -> str:
    start, end = f"<!-- bench:{name}:start -->", f"<!-- bench:{name}:end -->"
    block = f"{start}\n{body.rstrip()}\n{end}"
    if start in text and end in text:
        before = text.split(start, 1)[0]
        after = text.split(end, 1)[1]
        return before + block + after
    return text.rstrip() + "\n\n" + block + "\n"


# -- main ------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stages", type=int, default=176, help="Stages of the main project (176).")
    parser.add_argument(
        "--large-stages", type=int, default=2000, help="Stages of the no-op scaling project."
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="Repetitions of the cheap steps (median)."
    )
    parser.add_argument(
        "--large-mb", type=int, default=0, help="Add a large input file of this many MiB."
    )
    dvc_group = parser.add_mutually_exclusive_group()
    dvc_group.add_argument("--with-dvc", action="store_true", help="Install DVC if it is missing.")
    dvc_group.add_argument(
        "--no-dvc", action="store_true", help="Skip DVC even if it is installed."
    )
    parser.add_argument(
        "--dvc-repeat", type=int, default=1, help="Repetitions of DVC's costly steps (cold, edits)."
    )
    parser.add_argument("--no-make", action="store_true", help="Skip make.")
    parser.add_argument("--no-large", action="store_true", help="Skip the N=2000 project.")
    parser.add_argument(
        "--large-make", action="store_true", help="Also run make on the N=2000 project."
    )
    parser.add_argument(
        "--only-pivot", action="store_true", help="Pivot only (same as --no-dvc --no-make)."
    )
    parser.add_argument(
        "--profile", action="store_true", help="Profile Pivot's no-op and status too."
    )
    parser.add_argument(
        "--out-prefix",
        default="",
        help="Pivot only: prefix output file names (out/PREFIXs_000_00.json). A diagnostic: "
        "see 'Bugs' in docs/benchmarks.md.",
    )
    parser.add_argument("--pivot", help="The pivot command (default: the one next to this Python).")
    parser.add_argument(
        "--workdir", type=Path, default=WORK / "runs", help="Where projects are generated."
    )
    parser.add_argument("--json", type=Path, help="Also write the raw measurements here.")
    parser.add_argument(
        "--write-doc",
        action="store_true",
        help=f"Update the generated sections of {DOC.relative_to(REPO)}.",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="No progress on stderr.")
    args = parser.parse_args(argv)

    workdir: Path = args.workdir.resolve()
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    bench = Bench(
        Plan(args.stages, args.large_stages, args.repeat, workdir, verbose=not args.quiet)
    )

    pivot = PivotTool(
        args.pivot.split() if args.pivot else synth.pivot_command(), args.large_mb, args.out_prefix
    )
    tools: list[Tool] = [pivot]
    make: MakeTool | None = None
    if not (args.no_make or args.only_pivot):
        make = MakeTool(sys.executable, 2, args.large_mb)
        tools.append(make)
    dvc: DvcTool | None = None
    if not (args.no_dvc or args.only_pivot):
        dvc_path = find_dvc(args.with_dvc)
        if dvc_path is None:
            bench.notes.append("DVC not found (pass --with-dvc to install it): skipped.")
        else:
            dvc = DvcTool(dvc_path, args.large_mb)
            tools.append(dvc)

    load_before = _load_average()
    removed = clean_environment()
    if removed:
        bench.notes.append(
            f"Unset for the benchmark: {', '.join(removed)} (see run_bench.UNSET_ENV)."
        )
    started = time.perf_counter()
    for tool in tools:
        bench.warm_up(tool)
    pivot_root = bench.full(pivot, cold_repeat=args.repeat, edit_repeat=args.repeat)
    if make is not None:
        bench.full(make, cold_repeat=args.repeat, edit_repeat=args.repeat)
    if dvc is not None:
        bench.full(dvc, cold_repeat=args.dvc_repeat, edit_repeat=args.dvc_repeat)
    bench.slow_import(pivot)
    large_root: Path | None = None
    if not args.no_large:
        large_root = bench.large(pivot)
        if make is not None and args.large_make:
            bench.large(make)
    profile = ""
    if args.profile:
        bench.log("profiling pivot (no-op run and status)")
        # The project is up to date again after its edits, so `run` is a no-op.
        targets = [("noop", pivot_root, ["run"]), ("status", pivot_root, ["status"])]
        if large_root is not None:
            targets.append(("noop_large", large_root, ["run"]))
        profile = profile_pivot(targets, workdir / "profiles")
    total = time.perf_counter() - started
    bench.notes.append(
        f"Load average (1 min) before / after: {load_before} / {_load_average()} "
        "(other work on the machine inflates every number)."
    )

    names = [t.name for t in tools]
    info = machine_info(tools)
    table = results_table(bench, names)
    report = "\n".join(
        [
            *info,
            f"- Benchmark wall time: {total:.0f} s; medians of {args.repeat} "
            f"(DVC cold and edits: {args.dvc_repeat}); `(k ran)` = stages that re-ran.",
            *(f"- {note}" for note in bench.notes),
            "",
            table,
            "",
            "CPU time (user + sys of the command and every child it waited for; medians): less",
            "sensitive than the wall clock to other load on the machine.",
            "",
            cpu_table(bench, names),
        ]
    )
    print(report)
    if profile:
        print()
        print(profile)
    if args.json:
        args.json.write_text(
            json.dumps({"results": [m.to_dict() for m in bench.results], "machine": info}, indent=2)
        )
    if args.write_doc:
        text = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
        text = replace_section(text, "results", report)
        if profile:
            text = replace_section(text, "profile", profile)
        DOC.write_text(text)
        print(f"\nupdated {DOC.relative_to(REPO)}", file=sys.stderr)
    return 0 if all(m.ok for m in bench.results) else 1


if __name__ == "__main__":
    sys.exit(main())
