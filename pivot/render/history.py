"""Run history for people: the cells of ``pivot history`` and ``pivot show RUN``, shared by
the CLI's lines and the TUI's tables (records come from :mod:`pivot.core.run.history`)."""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Mapping
from typing import Any

__all__ = [
    "RunCells",
    "StageCells",
    "run_cells",
    "run_header",
    "run_line",
    "stage_cells",
    "stage_lines",
    "when",
]


def when(timestamp: float) -> str:
    return datetime.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M:%S")


@dataclasses.dataclass(frozen=True)
class RunCells:
    """One run as text: its id, start, duration, exit code and stage counts."""

    run_id: str
    when: str
    duration: str
    exit: str
    counts: str


@dataclasses.dataclass(frozen=True)
class StageCells:
    """One stage of a run as text: status, name, duration and reason."""

    status: str
    stage: str
    duration: str
    reason: str


def run_cells(record: Mapping[str, Any]) -> RunCells:
    counts = ", ".join(f"{n} {k}" for k, n in record["counts"].items() if n)
    return RunCells(
        run_id=record["run_id"],
        when=when(record["started"]),
        duration=f"{record['duration']:.2f}s",
        exit=f"exit {record['exit_code']}",
        counts=counts,
    )


def run_line(record: Mapping[str, Any]) -> str:
    """A line of ``pivot history``."""
    cells = run_cells(record)
    return f"{cells.run_id}  {cells.when}  {cells.duration:>8}  {cells.exit}  {cells.counts}"


def run_header(record: Mapping[str, Any]) -> str:
    """The first line of ``pivot show RUN``."""
    cells = run_cells(record)
    line = f"run {cells.run_id}  started {cells.when}  {cells.duration}  {cells.exit}"
    peak = record.get("worker_peak_rss")
    if isinstance(peak, int) and peak > 0:
        line += f"  workers peaked at {peak / 1e6:.0f} MB"
    return line


def stage_cells(stage: Mapping[str, Any]) -> StageCells:
    return StageCells(
        status=str(stage["status"]),
        stage=str(stage["stage"]),
        duration=f"{stage['duration']:.2f}s",
        reason=str(stage["reason"]),
    )


def stage_lines(record: Mapping[str, Any]) -> list[str]:
    """The stage lines of ``pivot show RUN``."""
    width = max([8, *(len(s["stage"]) for s in record["stages"])])
    lines = []
    for stage in record["stages"]:
        cells = stage_cells(stage)
        lines.append(
            f"  {cells.status:<9} {cells.stage:<{width}} {cells.duration:>8}  {cells.reason}"
        )
    return lines
