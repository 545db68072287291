"""What the remote holds, as lines: one per output, with what is missing where."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from pivot.render.counts import plural

if TYPE_CHECKING:
    from pivot.core.remote import RemoteStatusRow

__all__ = ["remote_status_lines"]


def remote_status_lines(
    rows: Sequence[RemoteStatusRow], *, only_problems: bool = False
) -> list[str]:
    """Plain lines for rows of :func:`pivot.core.remote.remote_status` (``status --remote``,
    ``verify --remote``)."""
    shown = [row for row in rows if row.status != "ok"] if only_problems else list(rows)
    width = max([8, *(len(row.stage) for row in shown)])
    lines = []
    for row in shown:
        detail = ""
        if row.blobs > 1:
            parts = []
            if row.missing_local:
                parts.append(f"{row.missing_local}/{plural(row.blobs, 'file')} missing locally")
            if row.missing_remote:
                parts.append(f"{row.missing_remote}/{plural(row.blobs, 'file')} not on the remote")
            detail = f"  ({', '.join(parts)})" if parts else ""
        lines.append(f"{row.status:<11} {row.stage:<{width}}  {row.path}{detail}")
    return lines
