"""How fast the TUI shows its first screen on the synthetic 176- and 2,000-stage projects.

Measured, each as the median of ``--repeat`` runs:

- ``load``: ``Engine.load()`` — importing ``pipeline.py`` and building the graph (what ``pivot``
  does before the app starts; not part of the TUI budget).
- ``first screen``: from starting the app (headless, 120x40) with the pipeline loaded, as
  ``pivot`` starts it, to the first paint of the whole layout with every stage listed and the
  DAG pane open, drawing the graph around the selected stage. Target: under 1 s.
- ``DAG redraw``: drawing the DAG pane (120x40 app) centred on a stage, as after each key in
  the pane; median and worst over 50 stages spread through the pipeline.
- ``statuses``: from starting the app to every stage's status being known (the plan runs in a
  worker thread after the first paint).
- ``end to end`` (``--pty``): ``pivot`` in a pseudo-terminal, from process start until the top
  bar shows the planned statuses — imports, pipeline load and worker warm-up included.

Usage::

    uv run python benchmarks/tui_startup.py [--stages 176 2000] [--repeat 5] [--pty] [--keep DIR]
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


async def _measure_app(root: Path) -> tuple[float, float, float, float, float, float]:
    """(load, first screen, statuses, first screen CPU, DAG redraw median, DAG redraw worst) in
    seconds for a fresh engine and app.

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
        # The first paint drew the DAG pane around the selected stage.
        assert app.selected is not None and app.dag.drawing.centre_of(app.selected) is not None
        while not app.model.planned:
            await pilot.pause(0.005)
        planned = time.perf_counter() - started
        assert len(app.stage_list.rows) == len(app.model.order)
        order = app.model.order
        redraws = []
        for name in order[:: max(1, len(order) // 50)]:
            app.dag.select(name)
            tick = time.perf_counter()
            app.dag.make_drawing()
            redraws.append(time.perf_counter() - tick)
    engine.close()
    return load, first, planned, first_cpu, statistics.median(redraws), max(redraws)


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
    parser.add_argument("--stages", type=int, nargs="+", default=[176, 2000])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--pty", action="store_true", help="Also time `pivot` end to end.")
    parser.add_argument("--keep", type=Path, help="Generate the projects here and keep them.")
    args = parser.parse_args(argv)
    worst = 0.0
    for stages in args.stages:
        with tempfile.TemporaryDirectory(prefix="pivot-tui-bench-") as tmp:
            root = ((args.keep or Path(tmp)) / f"synth-{stages}").resolve()
            worst = max(worst, _bench(root, stages, args.repeat, args.pty))
    return 0 if worst < 1.0 else 1


def _bench(root: Path, stages: int, repeat: int, pty: bool) -> float:
    """Print the figures for one project size; return the median first-screen time."""
    _generate(root, stages)
    runs = [asyncio.run(_measure_app(root)) for _ in range(repeat)]
    columns = list(zip(*runs, strict=True))
    load, first, planned, first_cpu, redraw, _ = (statistics.median(v) for v in columns)
    best = [min(values) for values in columns]
    redraw_worst = max(columns[5])
    print(f"{stages} stages, {repeat} runs: median (best)")
    print(f"  pipeline load (before the app):   {load * 1000:6.0f} ms ({best[0] * 1000:.0f})")
    print(
        f"  app start -> first screen:        {first * 1000:6.0f} ms ({best[1] * 1000:.0f})"
        "  target < 1000 ms (DAG pane open)"
    )
    print(f"  first screen, CPU time:           {first_cpu * 1000:6.0f} ms ({best[3] * 1000:.0f})")
    print(f"  app start -> all statuses shown:  {planned * 1000:6.0f} ms ({best[2] * 1000:.0f})")
    print(
        f"  DAG redraw after a move:          {redraw * 1000:6.1f} ms "
        f"(worst {redraw_worst * 1000:.1f})"
    )
    print(f"  (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
    if pty:
        times = [_measure_pty(root) for _ in range(max(1, repeat // 2))]
        print(
            f"  `pivot` end to end (pty):         {statistics.median(times) * 1000:6.0f} ms "
            f"({min(times) * 1000:.0f})"
        )
    return first


if __name__ == "__main__":
    sys.exit(main())
