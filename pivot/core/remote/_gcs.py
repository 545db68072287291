"""The Google Cloud Storage blob store (``gs://bucket/prefix``), on ``google-cloud-storage``.

How it keeps the :class:`~pivot.core.remote._store.BlobStore` contract:

- Uploads are hashed before a byte leaves, and carry ``ifGenerationMatch=0``: GCS creates the
  object only if no live object has that name (``412`` means "already there"), and an object
  becomes visible only once its upload is complete, whether it went up in one request (up to
  8 MiB) or as a resumable upload.
- Downloads write into the path they are given, hashing as the bytes arrive.
- The SDK's errors leave as one-line :class:`RemoteError`\\ s; those that doom every blob
  (unreachable, credentials, no such bucket) as :class:`RemoteUnavailableError`.
- Every request has a connect and read timeout; retries (the SDK's policy for 429, 5xx and
  dropped connections) give up after :data:`RETRY_DEADLINE` seconds. :meth:`check` makes one
  request and does not retry, so a dead endpoint fails in seconds.

Credentials: Application Default Credentials (``GOOGLE_APPLICATION_CREDENTIALS``, ``gcloud auth
application-default login``, the metadata server on Google Cloud). With ``endpoint_url`` set (an
emulator) requests are anonymous unless ``GOOGLE_APPLICATION_CREDENTIALS`` names a key file.
The client (one ``requests`` session with a pool sized for the transfer threads) is shared by
every thread, as the SDK's own transfer manager does. It is made on first use, since finding
credentials may mean network requests.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pivot.core.remote._location import RemoteLocation
from pivot.core.remote._store import ByteCallback, one_line_errors, shard_listing
from pivot.core.remote._streams import HashingWriter, ProgressReader, verified_source
from pivot.exceptions import (
    BlobCorruptError,
    BlobMissingError,
    MissingDependencyError,
    RemoteError,
    RemoteUnavailableError,
)

if TYPE_CHECKING:
    from google.cloud.storage import Bucket, Client

CONNECT_TIMEOUT = 3.0
READ_TIMEOUT = 30.0
RETRY_DEADLINE = 30.0  # seconds of retries per request before a blob counts as failed
CHECK_LIST_KEYS = 1000  # the connectivity check lists this many blobs (one page)
SMALL_LIMIT = 8 << 20  # up to this size: one request (the SDK's multipart upload)
CHUNK_SIZE = 16 << 20  # resumable upload chunks (a multiple of 256 KiB)
_TIMEOUT = (CONNECT_TIMEOUT, READ_TIMEOUT)
_SCOPE = "https://www.googleapis.com/auth/devstorage.read_write"


def _missing_extra(location: RemoteLocation) -> MissingDependencyError:
    return MissingDependencyError(
        f"{location.describe()} needs the Google Cloud Storage client, which is not installed; "
        "install pivot[gcs] (pip install 'pivot[gcs]')"
    )


class GcsBlobStore:
    """A :class:`~pivot.core.remote._store.BlobStore` on one GCS bucket and prefix."""

    def __init__(self, location: RemoteLocation, *, jobs: int = 16) -> None:
        try:
            import google.cloud.storage  # noqa: F401  (fail now, in one line, if missing)
        except ImportError:
            raise _missing_extra(location) from None
        from google.cloud.storage.retry import DEFAULT_RETRY

        self.location = location
        self.jobs = jobs
        self.complete_listing: set[str] | None = None
        self._retry = DEFAULT_RETRY.with_timeout(RETRY_DEADLINE)
        self._client: Client | None = None
        self._bucket: Bucket | None = None
        self._lock = threading.Lock()

    def describe(self) -> str:
        return self.location.describe()

    def identity(self) -> str:
        return self.location.identity

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None
                self._bucket = None

    # -- the client ---------------------------------------------------------------------------

    def _open(self) -> Bucket:
        with self._lock:
            if self._bucket is None:
                self._client = _make_client(self.location, self.jobs)
                self._bucket = self._client.bucket(self.location.bucket)
            return self._bucket

    def _errors(self) -> contextlib.AbstractContextManager[None]:
        """Keep the contract: the SDK's errors leave as one-line RemoteErrors."""
        return one_line_errors(self.location, translate, _is_local)

    # -- queries ------------------------------------------------------------------------------

    def check(self) -> None:
        """Fail fast, in one line, unless the bucket can be listed; when the first page of
        blobs is all of them, :attr:`complete_listing` holds them."""
        with self._errors():
            bucket = self._open()
            blobs = bucket.list_blobs(
                prefix=self.location.files_prefix,
                max_results=CHECK_LIST_KEYS,
                timeout=(CONNECT_TIMEOUT, 10.0),
                retry=None,
            )
            page = next(iter(blobs.pages), None)
            names = [blob.name for blob in page] if page is not None else []
            if blobs.next_page_token is None:
                self.complete_listing = {
                    digest
                    for name in names
                    if (digest := self.location.digest_of(name)) is not None
                }

    def exists(self, digest: str) -> bool:
        with self._errors():
            blob = self._open().blob(self.location.key(digest))
            return bool(blob.exists(timeout=_TIMEOUT, retry=self._retry))

    def list_shard(self, shard: str) -> tuple[set[str], int]:
        prefix = f"{self.location.files_prefix}{shard}/"
        with self._errors():
            blobs = self._open().list_blobs(prefix=prefix, timeout=_TIMEOUT, retry=self._retry)
            return shard_listing(
                shard, prefix, ([blob.name for blob in page] for page in blobs.pages)
            )

    # -- transfers ----------------------------------------------------------------------------

    def upload(
        self, source: Path, digest: str, on_bytes: ByteCallback, *, replace: bool = False
    ) -> bool:
        """Upload ``source`` as blob ``digest`` unless it is there; hashed first, so a corrupt
        local blob is never published (:class:`BlobCorruptError`). ``replace`` overwrites an
        object stored under the name (a repair: ``pivot push --force``)."""
        handle, size = verified_source(source, digest, SMALL_LIMIT)
        with handle:
            reader = ProgressReader(handle, on_bytes)
            with self._errors():
                from google.api_core.exceptions import PreconditionFailed

                blob = self._open().blob(
                    self.location.key(digest),
                    chunk_size=None if size <= SMALL_LIMIT else CHUNK_SIZE,
                )
                try:
                    blob.upload_from_file(
                        reader,
                        size=size,
                        content_type="application/octet-stream",
                        if_generation_match=None if replace else 0,
                        timeout=_TIMEOUT,
                        retry=self._retry,
                    )
                except PreconditionFailed:
                    reader.finish(size)
                    return False  # someone (maybe us, earlier) stored it already
                except BaseException:
                    reader.take_back()
                    raise
            reader.finish(size)
            return True

    def download(self, digest: str, size: int | None, target: Path, on_bytes: ByteCallback) -> None:
        """Write blob ``digest`` into ``target``, hashing what arrives."""
        with self._errors():
            from google.api_core.exceptions import NotFound

            blob = self._open().blob(self.location.key(digest))
            with open(target, "wb") as handle:
                writer = HashingWriter(handle, on_bytes)
                try:
                    blob.download_to_file(
                        writer, raw_download=True, timeout=_TIMEOUT, retry=self._retry
                    )
                except NotFound:
                    writer.take_back()
                    raise BlobMissingError(f"blob {digest} is not on {self.describe()}") from None
                except BaseException:
                    writer.take_back()
                    raise
        actual = writer.hexdigest()
        if actual != digest:
            raise BlobCorruptError(
                f"remote object {self.location.key(digest)} on {self.describe()} is corrupt "
                f"(its bytes hash to {actual}, not {digest}); it was not stored locally"
            )

    def put_run(self, key: str, data: bytes) -> None:
        with self._errors():
            blob = self._open().blob(self.location.run_key(key))
            blob.upload_from_string(
                data, content_type="application/json", timeout=_TIMEOUT, retry=self._retry
            )

    def get_run(self, key: str) -> bytes | None:
        with self._errors():
            from google.api_core.exceptions import NotFound

            blob = self._open().blob(self.location.run_key(key))
            try:
                data: bytes = blob.download_as_bytes(timeout=_TIMEOUT, retry=self._retry)
            except NotFound:
                return None
            return data

    def get_object(self, name: str, target: Path) -> bool:
        with self._errors():
            from google.api_core.exceptions import NotFound

            blob = self._open().blob(self.location.object_key(name))
            try:
                with open(target, "wb") as handle:
                    blob.download_to_file(
                        handle, raw_download=True, timeout=_TIMEOUT, retry=self._retry
                    )
            except NotFound:
                return False
            return True

    def delete(self, digests: Sequence[str]) -> None:
        """One request per blob, on a few threads: the JSON API's batch endpoint is not
        offered by every server that speaks GCS (fake-gcs-server answers it wrongly)."""
        if not digests:
            return
        with ThreadPoolExecutor(max_workers=min(self.jobs, 16, len(digests))) as pool:
            for future in [pool.submit(self._delete_one, d) for d in digests]:
                future.result()

    def _delete_one(self, digest: str) -> None:
        with self._errors():
            from google.api_core.exceptions import NotFound

            blob = self._open().blob(self.location.key(digest))
            with contextlib.suppress(NotFound):
                blob.delete(timeout=_TIMEOUT, retry=self._retry)


def _make_client(location: RemoteLocation, jobs: int) -> Client:
    """A client whose connection pool fits ``jobs`` threads, with the remote's credentials."""
    import requests.adapters
    from google.auth.transport.requests import AuthorizedSession
    from google.cloud import storage

    credentials, project = _credentials(location)
    session = AuthorizedSession(credentials)
    adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=jobs + 16)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    options: dict[str, Any] | None = (
        {"api_endpoint": location.endpoint_url} if location.endpoint_url else None
    )
    return storage.Client(
        project=project, credentials=credentials, _http=session, client_options=options
    )


def _credentials(location: RemoteLocation) -> tuple[Any, str | None]:
    """Application Default Credentials; anonymous for an emulator (``endpoint_url`` set and
    no ``GOOGLE_APPLICATION_CREDENTIALS``), which never asks the metadata server."""
    import google.auth
    from google.auth.credentials import AnonymousCredentials
    from google.auth.exceptions import DefaultCredentialsError

    if location.endpoint_url and not os.environ.get("GOOGLE_APPLICATION_CREDENTIALS"):
        return AnonymousCredentials(), None
    try:
        credentials, project = google.auth.default(scopes=[_SCOPE])
    except DefaultCredentialsError:
        raise RemoteUnavailableError(
            f"no Google credentials for {location.describe()}; run `gcloud auth "
            "application-default login` or set GOOGLE_APPLICATION_CREDENTIALS to a service "
            "account key file"
        ) from None
    return credentials, project


# -- errors -----------------------------------------------------------------------------------


def _is_local(exc: BaseException) -> bool:
    """An OSError of the caller's own files rather than of the network."""
    import requests

    return isinstance(exc, OSError) and not isinstance(
        exc, requests.RequestException | ConnectionError | TimeoutError
    )


def _is_connection_error(exc: BaseException) -> bool:
    import requests
    import urllib3
    from google.auth.exceptions import TransportError

    return isinstance(
        exc,
        requests.ConnectionError
        | requests.Timeout
        | urllib3.exceptions.HTTPError
        | TransportError
        | ConnectionError
        | TimeoutError,
    )


def _status(exc: BaseException) -> int | None:
    code = getattr(exc, "code", None)
    if isinstance(code, int):
        return code
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    return status if isinstance(status, int) else None


def translate(exc: BaseException, location: RemoteLocation) -> RemoteError:
    """One line for the user: what failed, where, what to do."""
    from google.auth.exceptions import DefaultCredentialsError, RefreshError

    desc = location.describe()
    status = _status(exc)
    if isinstance(exc, RefreshError | DefaultCredentialsError):
        return RemoteUnavailableError(
            f"no usable Google credentials for {desc} ({_first_line(exc)}); run `gcloud auth "
            "application-default login` or set GOOGLE_APPLICATION_CREDENTIALS"
        )
    if _is_connection_error(exc):
        hint = (
            f"check that the server is up and remotes.{location.name}.endpoint_url is right"
            if location.endpoint_url
            else "check the network connection"
        )
        return RemoteUnavailableError(f"cannot reach {desc} ({_connection_reason(exc)}); {hint}")
    if status in (401, 403):
        return RemoteUnavailableError(
            f"{desc} refused the request ({status}); check GOOGLE_APPLICATION_CREDENTIALS or "
            f"`gcloud auth application-default login`, and that they may read and write {location.url}"
        )
    if status == 404:  # a missing blob is answered before this; here it is the bucket
        return RemoteUnavailableError(
            f"bucket '{location.bucket}' does not exist on {desc}; create it or fix "
            f"`pivot config set remotes.{location.name} gs://bucket/prefix`"
        )
    return RemoteError(f"{desc} failed: {_first_line(exc)}")


def _connection_reason(exc: BaseException) -> str:
    """'connection refused' rather than urllib3's sentence full of object reprs."""
    import requests

    if isinstance(exc, requests.ConnectTimeout):
        return f"no connection within {CONNECT_TIMEOUT:.0f}s"
    if isinstance(exc, requests.ReadTimeout):
        return f"no answer within {READ_TIMEOUT:.0f}s"
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, OSError) and current.strerror:
            return current.strerror[:1].lower() + current.strerror[1:]
        todo += [current.__cause__, current.__context__, getattr(current, "reason", None)]
        todo += [arg for arg in current.args if isinstance(arg, BaseException)]
    return _first_line(exc)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
