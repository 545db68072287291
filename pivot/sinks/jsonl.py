"""One JSON object per event per line (schema: docs/events.md).

:class:`~pivot.core.run.events.StageLogPending` (a progress bar being redrawn) is left out:
the stream carries each log line once, finished.
"""

from __future__ import annotations

import json
import sys
from typing import TextIO

from pivot.core.run.events import Event, StageLogPending


class JsonLinesSink:
    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout

    def __call__(self, event: Event) -> None:
        if isinstance(event, StageLogPending):
            return
        self.stream.write(json.dumps(event.to_dict(), default=str) + "\n")
        self.stream.flush()
