"""How fast the TUI shows its first screen on the synthetic 176-stage project.

Measured, each as the median of ``--repeat`` runs:

- ``load``: ``Engine.load()`` — importing ``pipeline.py`` and building the graph (what ``pivot``
  does before the app starts; not part of the TUI budget).
- ``first screen``: from starting the app (headless, 120x40) with the pipeline loaded, as
  ``pivot`` starts it, to the first paint of the whole layout with every stage listed.
  Target: under 1 s.
- ``statuses``: from starting the app to every stage's status being known (the plan runs in a
  worker thread after the first paint).
- ``end to end`` (``--pty``): ``pivot`` in a pseudo-terminal, from process start until the top
  bar shows the planned statuses — imports, pipeline load and worker warm-up included.

Usage::

    uv run python benchmarks/tui_startup.py [--stages 176] [--repeat 5] [--pty] [--keep DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))


def _generate(root: Path, stages: int) -> None:
    import synth

    synth.generate(root, stages, init=("pivot",), git=True)


async def _measure_app(root: Path) -> tuple[float, float, float, float]:
    """(load, first screen, statuses, first screen CPU) in seconds for a fresh engine and app.

    The CPU time (this process, all threads) is what the first screen costs on an idle
    machine: nothing else runs in the process before the first paint.
    """
    from pivot.core.pipeline.discovery import purge_project_modules
    from pivot.core.project import Project
    from pivot.core.run.engine import Engine
    from pivot.tui import PivotApp

    purge_project_modules(root)
    engine = Engine(Project(root))
    started = time.perf_counter()
    _, graph = engine.load()
    load = time.perf_counter() - started

    app = PivotApp(root, engine=engine, graph=graph)  # as `pivot` does (pivot/cli/_tui.py)
    started = time.perf_counter()
    cpu_started = time.process_time()
    async with app.run_test(size=(120, 40), notifications=False) as pilot:
        while app.first_screen_at is None:
            await pilot.pause(0.001)
        first = app.first_screen_at - started
        assert app.first_screen_cpu is not None
        first_cpu = app.first_screen_cpu - cpu_started
        while not app.model.planned:
            await pilot.pause(0.005)
        planned = time.perf_counter() - started
        assert len(app.stage_list.rows) == len(app.model.order)
    engine.close()
    return load, first, planned, first_cpu


def _measure_pty(root: Path, timeout: float = 60) -> float:
    import pty
    import select
    import subprocess

    master, slave = pty.openpty()
    env = dict(os.environ)
    env.pop("CI", None)
    env.update(TERM="xterm-256color", PYTHONPATH=str(REPO))
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "pivot"], cwd=root, env=env, stdin=slave, stdout=slave, stderr=slave
    )
    os.close(slave)
    screen = b""
    elapsed = float("nan")
    try:
        while time.perf_counter() - started < timeout:
            ready, _, _ = select.select([master], [], [], 0.01)
            if ready:
                screen += os.read(master, 65536)
                if b"stale" in screen or b"all up to date" in screen:
                    elapsed = time.perf_counter() - started
                    break
        os.write(master, b"q")
        deadline = time.perf_counter() + 20
        while proc.poll() is None and time.perf_counter() < deadline:
            ready, _, _ = select.select([master], [], [], 0.05)
            if ready:
                try:
                    os.read(master, 65536)
                except OSError:
                    break
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stages", type=int, default=176)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--pty", action="store_true", help="Also time `pivot` end to end.")
    parser.add_argument("--keep", type=Path, help="Generate the project here and keep it.")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="pivot-tui-bench-") as tmp:
        root = (args.keep or Path(tmp) / "synth").resolve()
        _generate(root, args.stages)
        runs = [asyncio.run(_measure_app(root)) for _ in range(args.repeat)]
        columns = list(zip(*runs, strict=True))
        load, first, planned, first_cpu = (statistics.median(values) for values in columns)
        best = [min(values) for values in columns]
        print(f"{args.stages} stages, {args.repeat} runs: median (best)")
        print(f"  pipeline load (before the app):   {load * 1000:6.0f} ms ({best[0] * 1000:.0f})")
        print(
            f"  app start -> first screen:        {first * 1000:6.0f} ms ({best[1] * 1000:.0f})"
            "  target < 1000 ms"
        )
        print(
            f"  first screen, CPU time:           {first_cpu * 1000:6.0f} ms ({best[3] * 1000:.0f})"
        )
        print(
            f"  app start -> all statuses shown:  {planned * 1000:6.0f} ms ({best[2] * 1000:.0f})"
        )
        print(f"  (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
        if args.pty:
            times = [_measure_pty(root) for _ in range(max(1, args.repeat // 2))]
            print(
                f"  `pivot` end to end (pty):         {statistics.median(times) * 1000:6.0f} ms "
                f"({min(times) * 1000:.0f})"
            )
        return 0 if first < 1.0 else 1


if __name__ == "__main__":
    sys.exit(main())
