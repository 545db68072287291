"""The seam between the transfer logic and the place blobs are kept: :class:`BlobStore`.

push, fetch, pull, ``status --remote``, ``verify --remote``, ``pivot doctor`` and the Dask
remote transport talk to a remote only through this protocol; :func:`open_store` picks the
implementation from the location (``_s3.S3BlobStore`` for ``s3://``, ``_gcs.GcsBlobStore`` for
``gs://``, ``_azure.AzureBlobStore`` for ``azure://``, ``_folder.FolderBlobStore`` for a folder;
the cloud SDKs are imported only then, and a missing optional one is a one-line
:class:`~pivot.exceptions.MissingDependencyError`). Which blobs to move, in what order, on how many threads, and what to remember
about them stays in ``_transfer``; a store only moves and finds single blobs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Protocol

from pivot.core.remote._location import RemoteLocation
from pivot.exceptions import RemoteError

#: Bytes moved since the last call (negative: bytes of an attempt that is being retried).
ByteCallback = Callable[[int], None]

#: The end of a "remote object … is corrupt" message: what repairs the remote.
CORRUPT_REMOTE_HINT = "; repair the remote with `pivot push --force` where a good copy is cached"


@contextlib.contextmanager
def one_line_errors(
    location: RemoteLocation,
    translate: Callable[[BaseException, RemoteLocation], RemoteError],
    is_local: Callable[[BaseException], bool],
) -> Iterator[None]:
    """Keep the contract for a cloud SDK: its errors leave as one-line RemoteErrors
    (``translate``), while RemoteErrors and errors of the caller's own files (``is_local``)
    pass as they are."""
    try:
        yield
    except RemoteError:
        raise
    except Exception as exc:
        if is_local(exc):
            raise
        raise translate(exc, location) from None


def shard_listing(shard: str, prefix: str, pages: Iterable[Iterable[str]]) -> tuple[set[str], int]:
    """The hashes in a cloud listing of ``prefix`` (``…/files/<shard>/``) given as pages of
    object names, and how many pages it took (at least one: the request was made). Names with
    a further ``/`` are not blobs of this layout."""
    found: set[str] = set()
    count = 0
    for page in pages:
        count += 1
        for name in page:
            rest = name[len(prefix) :]
            if rest and "/" not in rest:
                found.add(shard + rest)
    return found, max(count, 1)


class BlobStore(Protocol):
    """Blobs named by their xxhash64 (16 hex digits) on one remote, laid out like the local
    cache (``files/ab/cdef…``).

    The contract push, fetch, pull and the Dask remote transport rely on:

    - **Thread-safe.** One store serves every transfer thread of a command; byte callbacks may
      be called from any of them.
    - **Lazy.** Creating a store does no I/O. :meth:`check` is the first touch; it fails fast,
      in one line, when no blob can succeed.
    - **Errors are one line.** Problems of the remote leave as
      :class:`~pivot.exceptions.RemoteError`: :class:`~pivot.exceptions.RemoteUnavailableError`
      when no other blob can succeed either (unreachable, refused, no such bucket or folder,
      cannot write there), which stops a transfer; :class:`~pivot.exceptions.BlobMissingError`
      and :class:`~pivot.exceptions.BlobCorruptError` for one blob; plain ``RemoteError`` for
      any other failure of one blob. Only the caller's own files (``source``, ``target``) may
      raise a plain :class:`OSError`.
    - **Immutable, all-or-nothing blobs.** :meth:`upload` never makes a partial blob visible
      under its final name, never rewrites a blob that is there already (unless asked to
      ``replace`` it, a repair), and never publishes bytes that do not hash to their name.
    - **Verified downloads.** :meth:`download` writes into the path it is given (a temp file
      the caller renames into its cache) and checks the hash of what arrived.
    """

    @property
    def complete_listing(self) -> set[str] | None:
        """Every hash the remote holds, when :meth:`check` could see them all without extra
        requests (a small S3 remote); None otherwise. Saves one existence check per blob."""
        ...

    def describe(self) -> str:
        """``remote 'origin' (s3://bucket/p at http://host)``: names the remote in messages."""
        ...

    def identity(self) -> str:
        """A stable key for the local index of hashes known to be on this remote."""
        ...

    def check(self) -> None:
        """Raise :class:`~pivot.exceptions.RemoteUnavailableError` unless the remote can be read."""
        ...

    def exists(self, digest: str) -> bool:
        """Whether the remote holds blob ``digest``."""
        ...

    def list_shard(self, shard: str) -> tuple[set[str], int]:
        """The hashes under ``files/<shard>/`` (two hex digits), and how many requests the
        listing took (the caller weighs listing against one :meth:`exists` per hash)."""
        ...

    def upload(
        self, source: Path, digest: str, on_bytes: ByteCallback, *, replace: bool = False
    ) -> bool:
        """Store the bytes of ``source`` as blob ``digest``; False if the remote had it already.

        :class:`~pivot.exceptions.BlobCorruptError` (nothing stored) if ``source`` does not
        hash to ``digest``. On return, True or False, ``on_bytes`` has counted the blob's size
        once, so a progress bar reaches its total. With ``replace``, whatever is stored under
        the name is overwritten (atomically) by these verified bytes, and the answer is True:
        the repair of a remote object found corrupt.
        """
        ...

    def download(self, digest: str, size: int | None, target: Path, on_bytes: ByteCallback) -> None:
        """Write blob ``digest`` (of ``size`` bytes, if known) into ``target``, verified;
        ``on_bytes`` counts what arrived.

        :class:`~pivot.exceptions.BlobMissingError` if the remote lacks it,
        :class:`~pivot.exceptions.BlobCorruptError` if its bytes do not match its name
        (``target`` then holds them: the caller must not keep it).
        """
        ...

    def put_run(self, key: str, data: bytes) -> None:
        """Store run-cache entry ``key`` (a small JSON document; replaced if present)."""
        ...

    def get_run(self, key: str) -> bytes | None:
        """Run-cache entry ``key``, or None if the remote has none."""
        ...

    def get_object(self, name: str, target: Path) -> bool:
        """Write the object ``name`` (a path below the remote's prefix, not a blob of this
        layout: another tool's object, such as a DVC remote's ``files/md5/ab/cdef…``) into
        ``target``, unverified; False if the remote has no such object."""
        ...

    def delete(self, digests: Sequence[str]) -> None:
        """Remove these blobs (``pivot gc``); one that is already gone is not an error. The
        store batches requests as it likes."""
        ...

    def close(self) -> None:
        """Release connections and threads; the store is not used afterwards."""
        ...


def open_store(location: RemoteLocation, *, jobs: int = 16) -> BlobStore:
    """The store for ``location``, sized for ``jobs`` parallel transfers. No I/O yet: call
    :meth:`BlobStore.check` before the first transfer."""
    kind = location.kind
    if kind == "folder":
        from pivot.core.remote._folder import FolderBlobStore

        return FolderBlobStore(location)
    if kind == "gs":
        from pivot.core.remote._gcs import GcsBlobStore

        return GcsBlobStore(location, jobs=jobs)
    if kind == "azure":
        from pivot.core.remote._azure import AzureBlobStore

        return AzureBlobStore(location, jobs=jobs)
    from pivot.core.remote._s3 import S3BlobStore

    return S3BlobStore(location, jobs=jobs)
