"""Stage params for people: values as written in params.yaml, each with a label saying where
it comes from, and params diffs.

``pivot params show`` and the TUI's Params tab both label sources with :func:`source_label`
and write values with :func:`format_param`, so the two never disagree. The data (which
value, from which source) comes from :func:`pivot.core.reports.params_diff.stage_params`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from pivot.core.reports.params_diff import ParamChange, ParamValue, Source, StageParamsDiff
from pivot.render.tables import md_table

__all__ = [
    "SOURCE_LABELS",
    "diff_cells",
    "format_param",
    "old_from_note",
    "render_diff_json",
    "render_diff_markdown",
    "render_show_json",
    "render_show_markdown",
    "render_show_yaml",
    "source_label",
]

#: What people read for each source: the model's ``default``, the stage's section of
#: ``params.yaml``, the values a ``matrix`` variant sets at registration, or the params
#: instance a composed stage's call passes (``call``). (JSON carries
#: the :data:`~pivot.core.reports.params_diff.Source` values themselves.)
SOURCE_LABELS: dict[Source, str] = {
    "default": "default",
    "params.yaml": "params.yaml",
    "matrix": "matrix",
    "call": "call",
}


def source_label(source: Source) -> str:
    """Where a param value comes from, in the words the CLI and the TUI both show (a key a
    ParamsDep tracks: the file it is read from)."""
    return SOURCE_LABELS.get(source, source)


def format_param(value: Any, precision: int | None = None) -> str:
    """A param value as it would be written in params.yaml; with ``precision``, a float is
    rounded to that many significant digits (``pivot params diff --precision``)."""
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        if precision is not None and math.isfinite(value):
            return f"{value:.{precision}g}"
        return repr(value)
    return json.dumps(value, default=str)


def _show_data(shown: Sequence[tuple[str, Sequence[ParamValue]]]) -> dict[str, Any]:
    return {
        "stages": {
            stage: {p.name: {"value": p.value, "source": p.source} for p in values}
            for stage, values in shown
        }
    }


def render_show_json(shown: Sequence[tuple[str, Sequence[ParamValue]]]) -> str:
    return json.dumps(_show_data(shown), indent=2, default=str)


def render_show_yaml(shown: Sequence[tuple[str, Sequence[ParamValue]]]) -> str:
    """The JSON document of :func:`render_show_json`, as YAML."""
    import yaml

    # Through JSON first, so that values YAML cannot represent are written as JSON writes them.
    data = json.loads(render_show_json(shown))
    return str(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))


def render_show_markdown(shown: Sequence[tuple[str, Sequence[ParamValue]]]) -> str:
    rows = [
        (stage, p.name, format_param(p.value), source_label(p.source))
        for stage, values in shown
        for p in values
    ]
    if not rows:
        return "No stage takes params.\n"
    return "\n".join(md_table(("Stage", "Param", "Value", "Source"), rows)) + "\n"


def render_diff_json(rev: str, diffs: Sequence[StageParamsDiff]) -> str:
    return json.dumps(
        {
            "rev": rev,
            "stages": {
                d.stage: {
                    "old_from": d.old_from,
                    "params": {
                        c.name: {"old": c.old, "new": c.new, "status": c.status} for c in d.changes
                    },
                }
                for d in diffs
            },
        },
        indent=2,
        default=str,
    )


def diff_cells(change: ParamChange, precision: int | None = None) -> tuple[str, str]:
    """Old and new columns as text (``—`` on the side where the param does not exist)."""
    old = "—" if change.status == "added" else format_param(change.old, precision)
    new = "—" if change.status == "removed" else format_param(change.new, precision)
    return old, new


def render_diff_markdown(
    rev: str, diffs: Sequence[StageParamsDiff], precision: int | None = None
) -> str:
    rows = [
        (d.stage, c.name, *diff_cells(c, precision), c.status) for d in diffs for c in d.changes
    ]
    if not rows:
        return f"No params changed since {rev}.\n"
    return "\n".join(md_table(("Stage", "Param", rev, "workspace", "Status"), rows)) + "\n"


def old_from_note(diff: StageParamsDiff, rev: str) -> str | None:
    """Where the old values came from when it was not the stage's lock at ``rev``."""
    if diff.old_from == "lock":
        return None
    where = (
        f"params.yaml at {rev} over today's defaults"
        if diff.old_from == "params.yaml"
        else "today's model defaults"
    )
    return f"{diff.stage}: no lock file at {rev}; old values from {where}"
