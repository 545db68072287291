"""What stage output costs on its way to the Logs tab (results: docs/benchmarks.md).

Measured, each the median of ``--repeat`` runs, for ``--lines`` lines:

- ``tail plain`` / ``tail colour`` / ``tail progress``: ``LogTail`` reading a log file of plain
  lines, of lines with SGR colour codes, and of tqdm-style ``\\r`` frames (one frame per "line",
  ten frames per finished line), per line read.
- ``model``: ``PipelineModel.apply`` of the ``StageLog`` events, in batches of 1,000.
- ``view write``: ``LogView.write_lines`` of those lines in batches of 1,000 (headless app).
- ``view reset``: ``LogView.reset`` with all of them at once (selecting another stage).

Usage::

    uv run python benchmarks/log_bench.py [--lines 100000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pivot.core.pipeline.graph import StageGraph  # noqa: E402
from pivot.core.run.events import RunStarted, StageLog, StageStarted  # noqa: E402
from pivot.core.run.logs import LogTail  # noqa: E402
from pivot.tui._log_lines import LogEntry  # noqa: E402
from pivot.tui._log_view import LogView  # noqa: E402
from pivot.tui._model import PipelineModel  # noqa: E402


def _median(run: Callable[[], float], repeat: int) -> float:
    return statistics.median(run() for _ in range(repeat))


def _tail(path: Path, text: str) -> Callable[[], float]:
    def run() -> float:
        path.write_text(text)
        started = time.perf_counter()
        LogTail(path).read_lines(final=True)
        return time.perf_counter() - started

    return run


def _model(lines: int) -> Callable[[], float]:
    graph = StageGraph(("s",), {"s": frozenset()}, {"s": frozenset()}, {})
    events = [StageLog(run_id="r", stage="s", line=f"line {i} " + "x" * 40) for i in range(lines)]

    def run() -> float:
        model = PipelineModel(graph)
        model.apply(
            [RunStarted(run_id="r", stages=("s",), jobs=1), StageStarted(run_id="r", stage="s")]
        )
        started = time.perf_counter()
        for i in range(0, lines, 1000):
            model.apply(events[i : i + 1000])
        return time.perf_counter() - started

    return run


async def _view(lines: int, repeat: int) -> tuple[float, float]:
    from textual.app import App, ComposeResult

    entries = [
        LogEntry(f"line {i} \x1b[32mok\x1b[0m " + "x" * 40, i % 7 == 0) for i in range(lines)
    ]

    class Bench(App[None]):
        def compose(self) -> ComposeResult:
            yield LogView()

    writes, resets = [], []
    app = Bench()
    async with app.run_test(size=(100, 30)) as pilot:
        view = app.query_one(LogView)
        for _ in range(repeat):
            view.reset([])
            started = time.perf_counter()
            for i in range(0, lines, 1000):
                view.write_lines(entries[i : i + 1000])
            writes.append(time.perf_counter() - started)
            await pilot.pause()
            started = time.perf_counter()
            view.reset(entries)
            resets.append(time.perf_counter() - started)
            await pilot.pause()
    return statistics.median(writes), statistics.median(resets)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    n, repeat = args.lines, args.repeat
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s.log"
        plain = "".join(f"line {i} " + "x" * 40 + "\n" for i in range(n))
        colour = "".join(f"line {i} \x1b[32mok\x1b[0m " + "x" * 40 + "\n" for i in range(n))
        progress = "".join(
            f"\r{i % 10 * 10:3d}%|{'#' * (i % 10):<10}| {i}" + ("\n" if i % 10 == 9 else "")
            for i in range(n)
        )
        results = {
            "tail plain": _median(_tail(path, plain), repeat),
            "tail colour": _median(_tail(path, colour), repeat),
            "tail progress": _median(_tail(path, progress), repeat),
            "model": _median(_model(n), repeat),
        }
    results["view write"], results["view reset"] = asyncio.run(_view(n, repeat))
    print(f"{n:,} lines, median of {repeat}")
    for name, seconds in results.items():
        print(f"  {name:<14} {seconds * 1000:8.1f} ms  ({seconds / n * 1e6:5.2f} µs/line)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
