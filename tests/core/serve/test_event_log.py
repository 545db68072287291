"""The server's event ring: cursors, limits, and events that fell off the front."""

from __future__ import annotations

from pivot.core.serve._event_log import EventLog


def filled(capacity: int, count: int) -> EventLog:
    log = EventLog(capacity)
    for i in range(count):
        log.append({"event": "message", "n": i})
    return log


def test_sequence_numbers_start_at_one_and_increase() -> None:
    log = filled(10, 3)
    page = log.since(0, 100)
    assert [e["seq"] for e in page.events] == [1, 2, 3]
    assert [e["n"] for e in page.events] == [0, 1, 2]
    assert (page.next, page.missed, page.latest) == (3, 0, 3)


def test_a_cursor_returns_only_later_events_up_to_the_limit() -> None:
    log = filled(10, 6)
    page = log.since(2, 3)
    assert [e["seq"] for e in page.events] == [3, 4, 5]
    assert page.next == 5
    assert [e["seq"] for e in log.since(page.next, 3).events] == [6]


def test_nothing_new_keeps_the_cursor() -> None:
    log = filled(10, 4)
    page = log.since(4, 10)
    assert page.events == [] and page.next == 4 and page.missed == 0


def test_events_that_fell_off_are_counted_as_missed() -> None:
    log = filled(5, 12)  # seqs 8..12 are kept
    page = log.since(3, 100)
    assert [e["seq"] for e in page.events] == [8, 9, 10, 11, 12]
    assert page.missed == 4  # 4, 5, 6 and 7
    assert page.next == 12


def test_an_empty_ring() -> None:
    page = EventLog(5).since(0, 10)
    assert page.events == [] and page.next == 0 and page.missed == 0 and page.latest == 0
