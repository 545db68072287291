"""The Azure Blob Storage store (``azure://container/prefix``), on ``azure-storage-blob``.

How it keeps the :class:`~pivot.core.remote._store.BlobStore` contract:

- Uploads are hashed before a byte leaves and sent with ``overwrite=False``, which the SDK turns
  into ``If-None-Match: *``: an existing blob is never rewritten (``409 BlobAlreadyExists`` or
  ``412`` mean "already there"). A blob is visible only once complete: up to
  :data:`SINGLE_PUT` bytes in one ``Put Blob``, larger ones as staged blocks that stay invisible
  until ``Put Block List`` commits them (carrying the same condition).
- Downloads write into the path they are given, hashing as the bytes arrive.
- The SDK's errors leave as one-line :class:`RemoteError`\\ s; those that doom every blob
  (unreachable, credentials, no such container) as :class:`RemoteUnavailableError`.
- Every request has a connect and read timeout; azure-core's retry policy (429, 5xx, dropped
  connections) makes :data:`ATTEMPTS` attempts. :meth:`check` uses a client that makes one.

Where and as whom (``docs/remote.md``): with neither ``account`` nor ``endpoint_url``
configured, ``AZURE_STORAGE_CONNECTION_STRING`` gives both. Otherwise the service is
``endpoint_url`` (an emulator, a private endpoint) or ``https://<account>.blob.core.windows.net``,
and the credential is ``AZURE_STORAGE_KEY``, else ``AZURE_STORAGE_SAS_TOKEN``, else
``DefaultAzureCredential`` when the optional ``azure-identity`` package is installed. The
container client (one ``requests`` session, its pool sized for the transfer threads) is shared
by every thread; it is made on first use.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pivot.core.remote._location import AZURE_CONNECTION_STRING, RemoteLocation
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
    from azure.storage.blob import ContainerClient

CONNECT_TIMEOUT = 3.0
READ_TIMEOUT = 30.0
ATTEMPTS = 5
CHECK_LIST_KEYS = 1000  # the connectivity check lists this many blobs (one page)
SINGLE_PUT = 16 << 20  # up to this size: one Put Blob; above: blocks of BLOCK_SIZE
BLOCK_SIZE = 16 << 20
_EXISTS_CODES = {"BlobAlreadyExists", "ConditionNotMet"}
_AUTH_CODES = {
    "AuthenticationFailed",
    "AuthorizationFailure",
    "AuthorizationPermissionMismatch",
    "InvalidAuthenticationInfo",
    "NoAuthenticationInformation",
}


class AzureBlobStore:
    """A :class:`~pivot.core.remote._store.BlobStore` on one Azure container and prefix."""

    def __init__(self, location: RemoteLocation, *, jobs: int = 16) -> None:
        try:
            import azure.storage.blob  # noqa: F401  (fail now, in one line, if missing)
        except ImportError:
            raise MissingDependencyError(
                f"{location.describe()} needs the Azure Blob Storage client, which is not "
                "installed; install pivot[azure] (pip install 'pivot[azure]')"
            ) from None
        self.location = location
        self.jobs = jobs
        self.complete_listing: set[str] | None = None
        self._client: ContainerClient | None = None
        self._session: Any = None
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
            if self._session is not None:
                self._session.close()
                self._session = None

    # -- the client ---------------------------------------------------------------------------

    def _open(self) -> ContainerClient:
        with self._lock:
            if self._client is None:
                import requests
                from azure.core.pipeline.transport import RequestsTransport

                session = requests.Session()
                adapter = requests.adapters.HTTPAdapter(pool_maxsize=self.jobs + 16)
                session.mount("https://", adapter)
                session.mount("http://", adapter)
                self._session = session
                transport = RequestsTransport(session=session, session_owner=False)
                self._client = _container_client(self.location, ATTEMPTS, transport=transport)
            return self._client

    def _errors(self) -> contextlib.AbstractContextManager[None]:
        """Keep the contract: the SDK's errors leave as one-line RemoteErrors."""
        return one_line_errors(self.location, translate, _is_local)

    # -- queries ------------------------------------------------------------------------------

    def check(self) -> None:
        """Fail fast, in one line, unless the container can be listed; when the first page of
        blobs is all of them, :attr:`complete_listing` holds them."""
        with self._errors():
            probe = _container_client(self.location, 0)
            try:
                pages = probe.list_blobs(
                    name_starts_with=self.location.files_prefix,
                    results_per_page=CHECK_LIST_KEYS,
                ).by_page()
                names = [blob.name for blob in next(pages, [])]
                complete = pages.continuation_token is None  # type: ignore[attr-defined]
            finally:
                probe.close()
        if complete:
            self.complete_listing = {
                digest for name in names if (digest := self.location.digest_of(name)) is not None
            }

    def exists(self, digest: str) -> bool:
        with self._errors():
            return bool(self._open().get_blob_client(self.location.key(digest)).exists())

    def list_shard(self, shard: str) -> tuple[set[str], int]:
        prefix = f"{self.location.files_prefix}{shard}/"
        with self._errors():
            pages = self._open().list_blobs(name_starts_with=prefix).by_page()
            return shard_listing(shard, prefix, ([blob.name for blob in page] for page in pages))

    # -- transfers ----------------------------------------------------------------------------

    def upload(
        self, source: Path, digest: str, on_bytes: ByteCallback, *, replace: bool = False
    ) -> bool:
        """Upload ``source`` as blob ``digest`` unless it is there; hashed first, so a corrupt
        local blob is never published (:class:`BlobCorruptError`). ``replace`` overwrites an
        object stored under the name (a repair: ``pivot push --force``)."""
        handle, size = verified_source(source, digest, SINGLE_PUT)
        with handle:
            reader = ProgressReader(handle, on_bytes)
            with self._errors():
                from azure.core.exceptions import ResourceExistsError, ResourceModifiedError

                try:
                    self._open().upload_blob(
                        self.location.key(digest),
                        reader,  # type: ignore[arg-type]  # any binary file object will do
                        length=size,
                        overwrite=replace,
                        max_concurrency=1,
                    )
                except (ResourceExistsError, ResourceModifiedError) as exc:
                    if _code(exc) not in _EXISTS_CODES:
                        reader.take_back()
                        raise
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
            from azure.core.exceptions import ResourceNotFoundError

            with open(target, "wb") as handle:
                writer = HashingWriter(handle, on_bytes)
                try:
                    stream = self._open().download_blob(
                        self.location.key(digest), max_concurrency=1
                    )
                    for chunk in stream.chunks():
                        writer.write(chunk)
                except ResourceNotFoundError as exc:
                    writer.take_back()
                    if _code(exc) == "ContainerNotFound":
                        raise
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
            self._open().upload_blob(self.location.run_key(key), data, overwrite=True)

    def get_run(self, key: str) -> bytes | None:
        with self._errors():
            from azure.core.exceptions import ResourceNotFoundError

            try:
                data: bytes = self._open().download_blob(self.location.run_key(key)).readall()
            except ResourceNotFoundError as exc:
                if _code(exc) == "ContainerNotFound":
                    raise
                return None
            return data

    def get_object(self, name: str, target: Path) -> bool:
        with self._errors():
            from azure.core.exceptions import ResourceNotFoundError

            try:
                download = self._open().download_blob(self.location.object_key(name))
                with open(target, "wb") as handle:
                    download.readinto(handle)
            except ResourceNotFoundError as exc:
                if _code(exc) == "ContainerNotFound":
                    raise
                return False
            return True

    def delete(self, digests: Sequence[str]) -> None:
        """One request per blob, on a few threads (the batch API is not offered everywhere,
        and these deletes are rare: ``pivot gc --remote``)."""
        if not digests:
            return
        with ThreadPoolExecutor(max_workers=min(self.jobs, 16, len(digests))) as pool:
            for future in [pool.submit(self._delete_one, d) for d in digests]:
                future.result()

    def _delete_one(self, digest: str) -> None:
        with self._errors():
            from azure.core.exceptions import ResourceNotFoundError

            try:
                self._open().delete_blob(self.location.key(digest))
            except ResourceNotFoundError as exc:
                if _code(exc) == "ContainerNotFound":
                    raise


def _container_client(location: RemoteLocation, attempts: int, **options: Any) -> ContainerClient:
    """A client for the remote's container, its service and credential found as the module
    docstring says; ``attempts`` = 0 makes one attempt per request."""
    from azure.storage.blob import ContainerClient

    settings: dict[str, Any] = {
        "connection_timeout": CONNECT_TIMEOUT,
        "read_timeout": READ_TIMEOUT,
        "retry_total": attempts,
        "max_single_put_size": SINGLE_PUT,
        "max_block_size": BLOCK_SIZE,
        **options,
    }
    if not location.endpoint_url and not location.account:
        connection = os.environ.get(AZURE_CONNECTION_STRING)
        if not connection:
            raise RemoteUnavailableError(
                f"{location.describe()} names no storage account; set "
                f"{AZURE_CONNECTION_STRING}, or `pivot config set remotes.{location.name}.account "
                "ACCOUNT` and give it a credential (AZURE_STORAGE_KEY, AZURE_STORAGE_SAS_TOKEN, "
                "or azure-identity)"
            )
        return ContainerClient.from_connection_string(connection, location.bucket, **settings)
    account_url = location.account_url or ""
    return ContainerClient(
        account_url, location.bucket, credential=_credential(location), **settings
    )


def _credential(location: RemoteLocation) -> Any:
    key = os.environ.get("AZURE_STORAGE_KEY")
    if key:
        return {"account_name": location.account or _account_in(location), "account_key": key}
    sas = os.environ.get("AZURE_STORAGE_SAS_TOKEN")
    if sas:
        return sas
    try:
        from azure.identity import DefaultAzureCredential
    except ImportError:
        raise RemoteUnavailableError(
            f"no Azure credentials for {location.describe()}; set AZURE_STORAGE_KEY or "
            "AZURE_STORAGE_SAS_TOKEN, or install azure-identity to sign in with "
            "DefaultAzureCredential (az login, managed identity, AZURE_CLIENT_ID/…)"
        ) from None
    return DefaultAzureCredential()


def _account_in(location: RemoteLocation) -> str:
    """The account an endpoint serves: ``http://127.0.0.1:10000/devstoreaccount1`` (an
    emulator's path) or ``https://ACCOUNT.blob.core.windows.net`` (the host's first label)."""
    parts = urlsplit(location.account_url or "")
    path = parts.path.strip("/")
    return path.split("/")[0] if path else (parts.hostname or "").split(".")[0]


# -- errors -----------------------------------------------------------------------------------


def _is_local(exc: BaseException) -> bool:
    """An OSError of the caller's own files rather than of the network."""
    import requests

    return isinstance(exc, OSError) and not isinstance(
        exc, requests.RequestException | ConnectionError | TimeoutError
    )


def translate(exc: BaseException, location: RemoteLocation) -> RemoteError:
    """One line for the user: what failed, where, what to do."""
    from azure.core.exceptions import (
        ClientAuthenticationError,
        HttpResponseError,
        ServiceRequestError,
        ServiceResponseError,
    )

    desc = location.describe()
    code = _code(exc)
    status = getattr(exc, "status_code", None)
    if isinstance(exc, ServiceRequestError | ServiceResponseError | ConnectionError):
        hint = (
            f"check that the server is up and remotes.{location.name}.endpoint_url is right"
            if location.endpoint_url
            else "check the network connection and the account name"
        )
        return RemoteUnavailableError(f"cannot reach {desc} ({_connection_reason(exc)}); {hint}")
    if code == "ContainerNotFound":
        return RemoteUnavailableError(
            f"container '{location.bucket}' does not exist on {desc}; create it or fix "
            f"`pivot config set remotes.{location.name} azure://container/prefix`"
        )
    if isinstance(exc, ClientAuthenticationError) or code in _AUTH_CODES or status in (401, 403):
        return RemoteUnavailableError(
            f"{desc} refused the request ({code or status or _first_line(exc)}); check "
            f"{AZURE_CONNECTION_STRING}, AZURE_STORAGE_KEY or AZURE_STORAGE_SAS_TOKEN, and that "
            f"they may read and write {location.url}"
        )
    if isinstance(exc, HttpResponseError):
        return RemoteError(f"{desc} failed: {code or status} {_first_line(exc)}")
    return RemoteError(f"{desc} failed: {_first_line(exc)}")


def _code(exc: BaseException) -> str | None:
    """The service's error code (``BlobNotFound``); the SDK gives an enum member or a str."""
    code = getattr(exc, "error_code", None)
    value = getattr(code, "value", code)
    return str(value) if value else None


def _connection_reason(exc: BaseException) -> str:
    """'connection refused' rather than the SDK's sentence full of object reprs."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, TimeoutError) or "timeout" in type(current).__name__.lower():
            return f"no answer within {CONNECT_TIMEOUT:.0f}s"
        if isinstance(current, OSError) and current.strerror:
            return current.strerror[:1].lower() + current.strerror[1:]
        todo += [current.__cause__, current.__context__, getattr(current, "inner_exception", None)]
        todo += [getattr(current, "reason", None)]
        todo += [arg for arg in current.args if isinstance(arg, BaseException)]
    return _first_line(exc)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
