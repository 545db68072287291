"""Metrics for people: values to a chosen precision, and metrics files and diffs as JSON or
Markdown. The terminal tables of ``pivot metrics`` are drawn by the CLI from these cells."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from pivot.core.reports.metrics import MetricChange, MetricsDiff, MetricsFile
from pivot.render.tables import md_table

__all__ = [
    "DEFAULT_PRECISION",
    "MISSING",
    "STATUS_COLORS",
    "diff_cells",
    "format_number",
    "render_diff_json",
    "render_diff_markdown",
    "render_show_json",
    "render_show_markdown",
    "render_show_yaml",
    "show_rows",
]

DEFAULT_PRECISION = 5

#: Shown for a target that does not exist in the workspace.
MISSING = "missing (run the stage that writes it)"


#: The colour of a change by its status (Rich style names), in the CLI's and the TUI's diffs.
STATUS_COLORS: dict[str, str] = {
    "added": "green",
    "removed": "red",
    "modified": "yellow",
    "unchanged": "dim",
}


def format_number(value: Any, precision: int = DEFAULT_PRECISION, *, sign: bool = False) -> str:
    """A metric value for people: floats to ``precision`` significant digits."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int):
        return f"{value:+d}" if sign else str(value)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return str(value)
        text = f"{value:{'+' if sign else ''}.{max(precision, 1)}g}"
        return "0" if text in ("-0", "+0") and not sign else text
    if isinstance(value, str):
        return value
    return json.dumps(value, default=str)


def diff_cells(change: MetricChange, precision: int) -> tuple[str, str, str]:
    """Old, new and change columns as text."""
    old = "—" if change.status == "added" else format_number(change.old, precision)
    new = "—" if change.status == "removed" else format_number(change.new, precision)
    delta = change.change
    if delta is not None:
        column = format_number(delta, precision, sign=True)
    elif change.status in ("added", "removed"):
        column = change.status
    else:
        column = "changed" if change.status == "modified" else "—"
    return old, new, column


def show_rows(files: Sequence[MetricsFile], precision: int) -> list[tuple[str, str, str]]:
    """(path, key, value) of every readable file's metrics, values as text."""
    return [
        (f.path, key, format_number(value, precision))
        for f in files
        if f.values is not None
        for key, value in f.values.items()
    ]


def render_show_json(files: Sequence[MetricsFile]) -> str:
    return json.dumps(
        {
            "metrics": {f.path: f.values for f in files if f.values is not None},
            "errors": {f.path: f.error or MISSING for f in files if f.values is None},
        },
        indent=2,
        default=str,
    )


def render_show_yaml(files: Sequence[MetricsFile]) -> str:
    """The JSON document of :func:`render_show_json`, as YAML."""
    import yaml

    data = json.loads(render_show_json(files))
    return str(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))


def render_diff_json(diff: MetricsDiff) -> str:
    return json.dumps(diff.to_dict(), indent=2, default=str)


def render_show_markdown(files: Sequence[MetricsFile], precision: int) -> str:
    rows = show_rows(files, precision)
    lines = md_table(("Path", "Metric", "Value"), rows) if rows else ["No metrics."]
    lines += [f"\n> **{f.path}**: {f.error or MISSING}" for f in files if f.values is None]
    return "\n".join(lines) + "\n"


def render_diff_markdown(diff: MetricsDiff, precision: int) -> str:
    rows = [(c.path, c.key, *diff_cells(c, precision)) for c in diff.changes]
    header = ("Path", "Metric", diff.rev, "workspace", "Change")
    lines = md_table(header, rows) if rows else [f"No metrics changed since {diff.rev}."]
    lines += [f"\n> **{path}**: {error}" for path, error in diff.errors.items()]
    return "\n".join(lines) + "\n"
