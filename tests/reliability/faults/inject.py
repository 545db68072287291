"""Start a command, steer it to the moment the kill clock starts, SIGKILL per the scenario."""

from __future__ import annotations

import contextlib
import json
import os
import pty
import random
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

from tests.helpers import pivot_env
from tests.reliability.faults.bench import Scenario, Trial
from tests.reliability.faults.ops import OPS, Op
from tests.reliability.faults.procs import (
    Proc,
    TempWatcher,
    alive,
    descendants,
    kill_proc,
    read_proc,
)
from tests.reliability.faults.project import MUTATIONS

#: Longest wait for a command to reach the point where the kill clock starts.
ARM_TIMEOUT = 120.0
#: Watch mode and the TUI never exit: a kill waiting for a temp file they did not write
#: lands this long after the clock started (on the idle process).
IDLE_AFTER = 20.0


def _events(path: Path) -> list[dict[str, Any]]:
    events = []
    with contextlib.suppress(OSError):
        for line in path.read_text().splitlines():
            with contextlib.suppress(json.JSONDecodeError):
                events.append(json.loads(line))
    return events


def _phase(op: Op, events: list[dict[str, Any]], running: list[str]) -> str:
    """Where the command was when the kill landed, as far as can be seen from outside:

    - ``startup``: before the run started (imports, discovery, planning, a cluster starting);
    - ``stage``: a worker was running a stage (its stdout pointed at the stage's log);
    - ``handoff``: a stage was in flight but no worker ran it: workers starting, the stage
      being sent, or its result coming back and being committed;
    - ``engine``: nothing in flight: deciding, restoring from the cache, writing locks;
    - ``after-run``: the run had finished, the process was exiting;
    - ``idle``: watch mode, waiting for the next change after its cycle finished;
    - ``command``: inside `checkout`, `commit`, `push`, `pull` or `fetch` (no events);
    - ``tui``: the TUI with no stage running (it prints no events to tell more).
    """
    if not op.workers:
        return "command"
    if op.launch == "tui":
        return "stage" if running else "tui"
    kinds = {event.get("event") for event in events}
    if "run_finished" in kinds:
        return "idle" if op.launch == "watch" else "after-run"
    if "run_started" not in kinds:
        return "startup"
    if running:
        return "stage"
    started = {e["stage"] for e in events if e.get("event") == "stage_started"}
    finished = {e["stage"] for e in events if e.get("event") == "stage_finished"}
    return "handoff" if started - finished else "engine"


class Launch:
    """A command started as a subprocess in its own session, stdout to a file; the kill
    clock starts at once."""

    def __init__(self, root: Path, scenario: Scenario) -> None:
        self.root = root
        self.scenario = scenario
        self.stdout = root.parent / f"{root.name}.out"
        self.stderr = root.parent / f"{root.name}.err"
        self._files: list[IO[Any]] = []

    def start(self) -> subprocess.Popen[bytes]:
        out, err = open(self.stdout, "wb"), open(self.stderr, "wb")  # noqa: SIM115
        self._files += [out, err]
        return subprocess.Popen(
            [sys.executable, "-m", "pivot", *OPS[self.scenario.op].argv],
            cwd=self.root,
            env=pivot_env(),
            stdout=out,
            stderr=err,
            start_new_session=True,
        )

    def armed(self) -> bool:
        return True

    def events(self) -> list[dict[str, Any]]:
        """The events of the run the kill aims at."""
        return _events(self.stdout)

    def quit(self, proc: subprocess.Popen[bytes]) -> None:
        """Ask a long-running command to stop (Ctrl-C)."""
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGINT)

    def close(self) -> None:
        for handle in self._files:
            handle.close()


class WatchLaunch(Launch):
    """`pivot run --watch`: once its first cycle (nothing to do) is over, the edit is made;
    the clock starts with the cycle it triggers."""

    def __init__(self, root: Path, scenario: Scenario) -> None:
        super().__init__(root, scenario)
        self.edited_at: float | None = None
        self.mark = 0  # events before the edit
        self.is_armed = False

    def armed(self) -> bool:
        if self.is_armed:
            return True
        events = _events(self.stdout)
        now = time.monotonic()
        if self.edited_at is None:
            if any(e.get("event") == "run_finished" for e in events):
                time.sleep(0.3)  # let the watcher settle on its folders
                MUTATIONS[self.scenario.mutation](self.root)
                self.edited_at, self.mark = time.monotonic(), len(events)
            return False
        if any(e.get("event") == "run_started" for e in events[self.mark :]):
            self.is_armed = True
        elif now - self.edited_at > 10:  # the change was missed: make it again
            for rel in ("src/seed.txt", "params.yaml", "helpers.py"):
                path = self.root / rel
                if path.exists():
                    path.write_bytes(path.read_bytes())
            self.edited_at = now
        return self.is_armed

    def events(self) -> list[dict[str, Any]]:
        return _events(self.stdout)[self.mark :]


class StartedLaunch(Launch):
    """A run whose start-up is long (a Dask cluster starting): the clock starts with its
    ``run_started`` event, or at once for a share of trials (``scenario.from_start``), so
    that kills spread over the run itself as well as the start-up."""

    def armed(self) -> bool:
        if self.scenario.from_start:
            return True
        return any(e.get("event") == "run_started" for e in _events(self.stdout))


class TuiLaunch(Launch):
    """`pivot` (the TUI) in a pseudo-terminal: ``R`` (run every stale stage) is pressed once
    the app shows its plan; the clock starts then. The terminal is drained all along (an app
    blocked on a full pty never gets anywhere)."""

    def __init__(self, root: Path, scenario: Scenario) -> None:
        super().__init__(root, scenario)
        self.master = -1
        self.screen = b""
        self.pressed = False

    def start(self) -> subprocess.Popen[bytes]:
        self.master, slave = pty.openpty()
        os.set_blocking(self.master, False)
        env = pivot_env()
        env.pop("CI", None)
        env.update(TERM="xterm-256color", COLUMNS="120", LINES="35")
        proc = subprocess.Popen(
            [sys.executable, "-m", "pivot"],
            cwd=self.root,
            env=env,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,
        )
        os.close(slave)
        return proc

    def drain(self) -> None:
        while select.select([self.master], [], [], 0)[0]:
            try:
                chunk = os.read(self.master, 1 << 16)
            except OSError:
                return
            if not chunk:
                return
            self.screen = (self.screen + chunk)[-(1 << 20) :]

    def armed(self) -> bool:
        self.drain()
        if not self.pressed and b"stale" in self.screen:
            os.write(self.master, b"R")
            self.pressed = True
        return self.pressed

    def events(self) -> list[dict[str, Any]]:
        return []

    def quit(self, proc: subprocess.Popen[bytes]) -> None:
        """`q`; when a run is still going, the app asks first: `y` cancels it and quits."""
        os.write(self.master, b"q")
        end = time.monotonic() + 5
        while proc.poll() is None and time.monotonic() < end:
            self.drain()
            if b"Cancel the run and quit" in self.screen[-20000:]:
                os.write(self.master, b"y")
                return
            time.sleep(0.05)

    def close(self) -> None:
        if self.master >= 0:
            self.drain()
            os.close(self.master)
            self.master = -1
            self.stdout.write_bytes(self.screen[-20000:])


LAUNCHES = {"plain": Launch, "started": StartedLaunch, "watch": WatchLaunch, "tui": TuiLaunch}


def _workers(pid: int) -> list[Proc]:
    return [p for p in descendants(pid) if p.is_worker]


def inject(
    root: Path,
    scenario: Scenario,
    trial: Trial,
    rng: random.Random,
    *,
    remote: Path | None = None,
) -> list[Proc]:
    """Start the command, kill per ``scenario``; returns every process it started."""
    op = OPS[scenario.op]
    seen: dict[tuple[int, int], Proc] = {}
    watcher = TempWatcher(root, remote) if scenario.trigger else None
    launch = LAUNCHES[op.launch](root, scenario)
    proc = launch.start()
    try:
        main = read_proc(proc.pid)
        began = time.monotonic()
        armed_at: float | None = None
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
            if armed_at is None:
                if not launch.armed():
                    if now - began > ARM_TIMEOUT:
                        raise RuntimeError(f"{scenario.op} never reached the kill window")
                    if watcher is not None:
                        watcher.created(0.0)  # writes before the window do not count
                    time.sleep(0.02)
                    continue
                armed_at = time.monotonic()
                if watcher is not None:
                    watcher.created(0.0)
            launch.armed()  # keeps a pseudo-terminal drained
            if watcher is not None:
                created = watcher.created(0.02)
                hits = [p for p in created if watcher.kind(p) == scenario.trigger]
                if len(hits) > to_skip:
                    hit = hits[to_skip]
                    if scenario.target == "worker":
                        workers = _workers(proc.pid)
                    busy = [p for p in workers if p.running_stage()]
                    victim = rng.choice(busy or workers) if (busy or workers) else None
                    break
                to_skip -= len(hits)
                if op.launch != "plain" and now > armed_at + IDLE_AFTER:
                    break  # watch mode or the TUI wrote fewer such files and idles: kill it
                continue
            if now >= armed_at + scenario.delay:
                if scenario.target != "worker":
                    break
                workers = _workers(proc.pid)
                busy = [p for p in workers if p.running_stage()]
                if busy or workers:
                    victim = rng.choice(busy or workers)
                    break
                if op.launch != "plain" and now > armed_at + scenario.delay + 3:
                    break  # watch mode or the TUI, idle without workers: it will not exit
            time.sleep(0.01)
        start = armed_at if armed_at is not None else began
        killed_at = time.monotonic() - start
        running_now = proc.poll() is None and main is not None
        if running_now and hit is None:  # where it is, before the kill changes it
            running = [stage for p in workers if (stage := p.running_stage())]
            trial.stages_running = sorted(running)
            trial.phase = _phase(op, launch.events(), running)
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
                where = hit if remote is None or not hit.is_relative_to(remote) else None
                trial.trigger_path = str(where.relative_to(root)) if where else hit.name
        else:
            trial.phase = "exited-before-kill"
            trial.command_seconds = round(time.monotonic() - start, 3)
        if op.launch != "plain" and proc.poll() is None and scenario.target == "worker":
            # Watch mode and the TUI outlive a worker's death: quit them as a user would.
            pause = time.monotonic() + 2.0
            while time.monotonic() < pause:
                launch.armed()
                time.sleep(0.02)
            launch.quit(proc)
        deadline = time.monotonic() + (30 if op.launch != "plain" else 300)
        while proc.poll() is None and time.monotonic() < deadline:
            launch.armed()
            time.sleep(0.02)
        if proc.poll() is None:
            trial.problems.append(f"hang: {scenario.op} did not exit after the kill (or quit)")
            os.killpg(proc.pid, signal.SIGKILL)
        trial.exit_code = proc.wait(timeout=10)
    finally:
        if watcher is not None:
            watcher.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        launch.close()
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
