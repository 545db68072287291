"""The progress bar transfers draw on a terminal (push, fetch, pull, import, update)."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

from pivot.cli._context import CliContext

if TYPE_CHECKING:
    from pivot.core.remote import ProgressCallback


@contextlib.contextmanager
def transfer_progress(
    cli: CliContext, label: str, *, as_json: bool = False
) -> Iterator[ProgressCallback | None]:
    """A progress bar on stderr when it is a terminal; otherwise no callback at all."""
    if as_json or cli.quiet or not sys.stderr.isatty():
        yield None
        return
    from pivot.render.progress import ConsoleProgress

    with ConsoleProgress(label) as bar:
        yield bar
