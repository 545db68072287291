"""Finding rows of a data diff by key value or by text (no Textual here).

The data-diff screen shows one page of rows at a time; search runs over every listed row of
all three kinds, so that ``/`` can go to a row on any page of any tab. A query is first
taken as a key value (``42``, or ``a, 1`` for a compound key), matched exactly against the
key as it is shown; when no key matches, it is searched for as text (case-insensitive) in
every shown cell. Without ``--key`` there is no key, and every query is text.

Values are compared as :func:`~pivot.render.datadiff.cell_text` shows them, so what the user
sees on screen is what they can type. The key index and the rows' text are built on the first
search that needs them and kept: later searches are a dict lookup or a substring scan over
one string per row (``n``/``N`` reuse a search's hits).
"""

from __future__ import annotations

import dataclasses
import sys
import threading
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from pivot.render.datadiff import cell_text
from pivot.tui._diffpages import PAGE_SIZE, Kind, kinds

if TYPE_CHECKING:
    from pivot.core.reports.datadiff import DataDiff

__all__ = ["Hit", "Matches", "RowFinder"]

_WHOLE = sys.maxsize  # cell_text width that never cuts a value


@dataclasses.dataclass(frozen=True, order=True)
class Hit:
    """A listed row: its kind of change and its index in that kind's listing (0-based)."""

    kind_order: int
    index: int

    @property
    def kind(self) -> Kind:
        return kinds()[self.kind_order]


@dataclasses.dataclass(frozen=True)
class Matches:
    """The rows a query found, in listing order (added, removed, then modified)."""

    query: str
    hits: tuple[Hit, ...]
    by_key: bool  # the query matched key values exactly (else: text found in cells)
    keyed: bool  # the diff has a key at all
    capped: bool  # some changed rows are counted but not listed, so not searched

    def first_from(self, where: Hit) -> int:
        """Index of the first hit at or after ``where``, wrapping to the top."""
        for i, hit in enumerate(self.hits):
            if hit >= where:
                return i
        return 0

    def describe(self, current: int | None) -> str:
        """What the search found, in one line; ``current`` is the hit shown now."""
        if not self.hits:
            return self._nothing()
        hit = self.hits[current or 0]
        what = "key" if self.by_key else "text"
        page, row = divmod(hit.index, PAGE_SIZE)
        where = f"{hit.kind}, page {page + 1:,} row {row + 1}"
        position = f"match {(current or 0) + 1:,} of {len(self.hits):,}"
        more = " · n/N next/previous" if len(self.hits) > 1 else ""
        return f"{what} {self.query!r}: {where} · {position}{more}"

    def _nothing(self) -> str:
        listed = " among the listed rows" if self.capped else ""
        if self.keyed:
            return f"no row with key {self.query!r}, and no cell contains it{listed}"
        return f"no row with {self.query!r} in any cell{listed} (no --key: no key to go to)"


class RowFinder:
    """Searches one diff's listed rows; safe to call from worker threads."""

    def __init__(self, diff: DataDiff) -> None:
        self.diff = diff
        self._lock = threading.Lock()
        self._keys: dict[tuple[str, ...], list[tuple[int, int]]] | None = None
        self._texts: list[tuple[int, int, str]] | None = None

    def find(self, query: str) -> Matches:
        query = query.strip()
        diff = self.diff
        keyed = bool(diff.keys)
        capped = diff.truncated and not diff.summary_only
        if not query or diff.summary_only:
            return Matches(query, (), False, keyed, capped)
        if keyed:
            found = self._key_index().get(self._key_query(query))
            if found:
                return Matches(query, tuple(Hit(*at) for at in found), True, keyed, capped)
        needle = query.casefold()
        hits = tuple(Hit(order, i) for order, i, text in self._row_texts() if needle in text)
        return Matches(query, hits, False, keyed, capped)

    def _key_query(self, query: str) -> tuple[str, ...]:
        if len(self.diff.keys) == 1:
            return (query,)
        return tuple(part.strip() for part in query.split(","))

    def _key_index(self) -> dict[tuple[str, ...], list[tuple[int, int]]]:
        with self._lock:
            if self._keys is None:
                index: dict[tuple[str, ...], list[tuple[int, int]]] = {}
                for order, i, key in self._row_keys():
                    index.setdefault(key, []).append((order, i))
                self._keys = index
            return self._keys

    def _row_keys(self) -> Iterator[tuple[int, int, tuple[str, ...]]]:
        diff = self.diff
        for order, (names, listing) in enumerate(
            ((diff.new.column_names, diff.added_rows), (diff.old.column_names, diff.removed_rows))
        ):
            at = [names.index(k) for k in diff.keys]
            for i, row in enumerate(listing):
                yield order, i, tuple(_text(row.values[j]) for j in at)
        for i, modified in enumerate(diff.modified_rows):
            yield 2, i, tuple(_text(v) for v in modified.key)

    def _row_texts(self) -> list[tuple[int, int, str]]:
        """Every listed row with its cells' case-folded text, in one string (NUL-separated,
        so that a match never spans two cells)."""
        with self._lock:
            if self._texts is None:
                diff = self.diff
                texts: list[tuple[int, int, str]] = []
                for order, listing in enumerate((diff.added_rows, diff.removed_rows)):
                    texts += ((order, i, _joined(row.values)) for i, row in enumerate(listing))
                texts += (
                    (2, i, _joined((*m.key, *m.values, *(c.old for c in m.changes))))
                    for i, m in enumerate(diff.modified_rows)
                )
                self._texts = texts
            return self._texts


def _joined(values: Iterable[Any]) -> str:
    return "\0".join(map(_text, values)).casefold()


def _text(value: Any) -> str:
    return cell_text(value, _WHOLE)
