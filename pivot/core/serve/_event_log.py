"""The server's memory of recent events: a bounded ring with increasing sequence numbers.

A client keeps the ``seq`` of the last event it saw (its cursor) and asks for what came after.
Old events fall off the front once the ring is full; a cursor from before the oldest kept
event is not an error: the client gets what is left and ``missed``, the number of events it
will never see (it re-reads ``status`` to catch up). Used only from the server's event-loop
thread, so it needs no lock.
"""

from __future__ import annotations

import collections
import dataclasses
from typing import Any

#: Events kept for `events` and `subscribe` replays (a log line is one event).
DEFAULT_CAPACITY = 10_000


@dataclasses.dataclass(frozen=True)
class Page:
    events: list[dict[str, Any]]
    #: The cursor to pass next time: the seq of the last event returned (or the cursor given).
    next: int
    #: Events after the cursor that fell off the ring before this call.
    missed: int
    #: The seq of the newest event there is (0: none yet).
    latest: int


class EventLog:
    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self._ring: collections.deque[dict[str, Any]] = collections.deque(maxlen=capacity)
        self.latest = 0

    def append(self, event: dict[str, Any]) -> dict[str, Any]:
        """Number ``event`` and keep it; returns it with its ``seq``."""
        self.latest += 1
        record = {"seq": self.latest, **event}
        self._ring.append(record)
        return record

    def since(self, cursor: int, limit: int) -> Page:
        oldest = self._ring[0]["seq"] if self._ring else self.latest + 1
        missed = max(0, oldest - cursor - 1)
        start = max(cursor + 1, oldest)
        # seqs in the ring are consecutive, so the first wanted one is at a known index
        first = start - oldest
        events = [self._ring[i] for i in range(first, min(len(self._ring), first + limit))]
        next_cursor = events[-1]["seq"] if events else max(cursor, oldest - 1)
        return Page(events, next_cursor, missed, self.latest)
