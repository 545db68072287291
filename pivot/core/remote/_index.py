"""Which blobs a remote is known to hold, remembered in the project's LMDB (``DB_REMOTE``).

Blobs are immutable and named by their hash, so once we have seen a hash on a remote (we
uploaded it, found it there, or downloaded it) we need not ask again: a second ``push`` of
an unchanged project sends no request per blob. Keys are ``<remote identity>\\0<hash>``, so
one project can talk to several remotes, and the same bucket behind two endpoints stays two.

The index can only be wrong if someone deletes objects from the remote behind our back;
``pivot verify --remote`` and ``status --remote`` always ask the server and so catch that.
Deleting ``.pivot/state.lmdb`` forgets everything, which is always safe.
"""

from __future__ import annotations

from collections.abc import Iterable

from pivot.core.store.state import DB_REMOTE, StateDB

_PRESENT = b"1"


class RemoteIndex:
    """Known-present hashes of one remote."""

    def __init__(self, state: StateDB, identity: str) -> None:
        self.state = state
        self._prefix = identity.encode() + b"\0"
        self._db = state.env.open_db(DB_REMOTE)

    def _key(self, digest: str) -> bytes:
        return self._prefix + digest.encode()

    def known(self, digests: Iterable[str]) -> set[str]:
        """The subset of ``digests`` recorded as present, read in one transaction."""
        found: set[str] = set()
        with self.state.env.begin(db=self._db) as txn:
            for digest in digests:
                if txn.get(self._key(digest)) is not None:
                    found.add(digest)
        return found

    def add(self, digests: Iterable[str]) -> None:
        """Record hashes as present, in one transaction (each LMDB commit syncs the disk)."""
        items = [(self._key(digest), _PRESENT) for digest in digests]
        if items:
            self.state.put_many(DB_REMOTE, items)

    def discard(self, digests: Iterable[str]) -> None:
        """Forget hashes found missing on the remote after all."""
        keys = [self._key(digest) for digest in digests]
        if keys:
            with self.state.env.begin(db=self._db, write=True) as txn:
                for key in keys:
                    txn.delete(key)
