"""The S3 blob store: one boto3 client, shared by every worker thread, that moves single blobs.

How it keeps the :class:`~pivot.core.remote._store.BlobStore` contract:

- :meth:`S3BlobStore.upload` never makes a partial object visible under the final key. Small
  blobs go up in one ``PutObject`` (S3 shows an object only once it is complete) with
  ``If-None-Match: *`` so an existing object is never rewritten (412 means "already there");
  large ones go up as a multipart upload, which appears only on completion.
- :meth:`S3BlobStore.download` writes to the path it is given (a temp file) and checks the
  xxhash64 of what arrived; the caller renames it into the cache only afterwards.
- botocore's errors leave as :class:`RemoteError` with one line (via :func:`translate`);
  :func:`is_fatal` tells which of them mean "stop everything" (unreachable, credentials,
  bucket: :class:`RemoteUnavailableError`) rather than "this blob".
- A server that stops answering (paused, wedged, a dead peer behind a live load balancer)
  stops the command after ``remotes.<name>.timeout`` seconds (:data:`DEFAULT_TIMEOUT`): a
  request that got no answer, or could send no bytes, for that long (:func:`is_silence`) is
  not retried, by botocore, by s3transfer or here.
  Retrying it would multiply the wait by the attempts of each layer (before this rule a
  paused server held a small download for 15 timeouts of 30 s) for a server that, more
  often than not, is simply gone.

boto3 is imported here and only here, when a store is created, so that commands which never
touch the remote (and ``pivot --help``) do not pay its 300 ms import.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import xxhash

from pivot.core.remote._location import RemoteLocation
from pivot.core.remote._store import (
    CORRUPT_REMOTE_HINT,
    ByteCallback,
    one_line_errors,
    shard_listing,
)
from pivot.core.store.hashing import CHUNK, hash_bytes, hash_file
from pivot.exceptions import (
    BlobCorruptError,
    BlobMissingError,
    RemoteError,
    RemoteUnavailableError,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from s3transfer.manager import TransferManager

SMALL_LIMIT = 16 << 20  # up to this size: one PutObject / GetObject; above: multipart / ranged
PART_SIZE = 16 << 20
CONNECT_TIMEOUT = 3.0  # at most; a smaller remotes.<name>.timeout lowers it
DEFAULT_TIMEOUT = 30.0  # seconds without an answer before the remote counts as down
CHECK_LIST_KEYS = 1000  # the connectivity check lists this many blobs (one page)
_DELETE_BATCH = 1000  # keys per DeleteObjects request (the S3 limit)
STREAM_ATTEMPTS = 3  # our own retries of a download whose body broke off mid-stream


# -- errors -----------------------------------------------------------------------------------

_AUTH_CODES = {
    "AccessDenied",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InvalidToken",
    "ExpiredToken",
    "TokenRefreshRequired",
    "AuthorizationHeaderMalformed",
    "403",
}
_MISSING_CODES = {"404", "NoSuchKey", "NotFound"}


def _error_code(exc: BaseException) -> str | None:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        if code:
            return str(code)
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return str(status) if status else None
    return None


def _unwrap(exc: BaseException) -> BaseException:
    """s3transfer wraps the error that ended a transfer; look at the original."""
    last = getattr(exc, "last_exception", None)
    return last if isinstance(last, BaseException) else exc


def is_connection_error(exc: BaseException) -> bool:
    from botocore import exceptions as bce

    exc = _unwrap(exc)
    return isinstance(
        exc, bce.ConnectionError | bce.HTTPClientError | ConnectionError | TimeoutError
    )


def is_fatal(exc: BaseException) -> bool:
    """True when no other blob can succeed either: stop the whole transfer."""
    from botocore import exceptions as bce

    if isinstance(exc, RemoteError):
        return isinstance(exc, RemoteUnavailableError)
    exc = _unwrap(exc)
    if isinstance(
        exc, bce.NoCredentialsError | bce.PartialCredentialsError | bce.CredentialRetrievalError
    ):
        return True
    if is_connection_error(exc):
        return True
    code = _error_code(exc)
    return code in _AUTH_CODES or code == "NoSuchBucket"


def translate(exc: BaseException, location: RemoteLocation) -> RemoteError:
    """One line for the user: what failed, where, what to do."""
    from botocore import exceptions as bce

    if isinstance(exc, RemoteError):
        return exc
    exc = _unwrap(exc)
    desc = location.describe()
    message: str
    if isinstance(
        exc, bce.NoCredentialsError | bce.PartialCredentialsError | bce.CredentialRetrievalError
    ):
        message = (
            f"no usable AWS credentials for {desc} ({exc}); set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, or AWS_PROFILE (Pivot uses boto3's standard credential chain)"
        )
    elif is_connection_error(exc):
        hint = (
            f"check that the server is up and remotes.{location.name}.endpoint_url is right"
            if location.endpoint_url
            else "check the network connection"
        )
        timeout = location.timeout or DEFAULT_TIMEOUT
        if is_silence(exc):
            message = (
                f"{desc} stopped answering (nothing for {timeout:g}s); check that the server is "
                f"up and not overloaded, or allow it more time with "
                f"`pivot config set remotes.{location.name}.timeout SECONDS`"
            )
        else:
            message = f"cannot reach {desc} ({_connection_reason(exc, timeout)}); {hint}"
    else:
        code = _error_code(exc)
        if code in _AUTH_CODES:
            message = (
                f"{desc} refused the request ({code}); check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY "
                f"or AWS_PROFILE and that they may read and write {location.url}"
            )
        elif code == "NoSuchBucket":
            message = (
                f"bucket '{location.bucket}' does not exist on {desc}; create it or fix "
                f"`pivot config set remotes.{location.name} s3://bucket/prefix`"
            )
        else:
            message = f"{desc} failed: {_first_line(exc)}"
    return RemoteUnavailableError(message) if is_fatal(exc) else RemoteError(message)


def _connection_reason(exc: BaseException, timeout: float) -> str:
    """'connection refused' rather than botocore's URL-laden sentence."""
    from botocore import exceptions as bce

    if isinstance(exc, bce.ConnectTimeoutError):
        return f"no connection within {min(CONNECT_TIMEOUT, timeout):g}s"
    if isinstance(exc, bce.ConnectionClosedError | bce.ResponseStreamingError):
        return "the connection broke off"
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc, getattr(exc, "kwargs", {}).get("error")]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, OSError) and current.strerror:
            return current.strerror[:1].lower() + current.strerror[1:]
        todo += [current.__cause__, current.__context__]
    return _first_line(exc)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def is_silence(exc: BaseException) -> bool:
    """True when the server took nothing or said nothing for the whole timeout: a read that
    timed out, or a body whose sending timed out (botocore calls that a closed connection;
    the socket's ``TimeoutError`` is inside)."""
    from botocore import exceptions as bce

    exc = _unwrap(exc)
    if isinstance(exc, bce.ReadTimeoutError):
        return True
    if not isinstance(exc, bce.ConnectionClosedError):
        return False
    seen: set[int] = set()
    todo: list[Any] = [exc.kwargs.get("error")]
    while todo:
        current = todo.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        if isinstance(current, TimeoutError):
            return True
        seen.add(id(current))
        todo += [*current.args, current.__cause__, current.__context__]
    return False


def _no_retry_after_silence(caught_exception: BaseException | None = None, **_: Any) -> bool | None:
    """botocore ``needs-retry`` hook: a request that timed out waiting for the server is not
    retried (False); anything else is left to the standard retry rules (None)."""
    return False if caught_exception is not None and is_silence(caught_exception) else None


def _is_local(exc: BaseException) -> bool:
    """An OSError of the caller's own files (a source to read, a target to write), which the
    store contract lets through as it is, rather than a failure of the remote."""
    from botocore import exceptions as bce

    return (
        isinstance(exc, OSError)
        and not isinstance(exc, bce.BotoCoreError)
        and not is_connection_error(exc)
    )


# -- the store --------------------------------------------------------------------------------


class S3BlobStore:
    """A :class:`~pivot.core.remote._store.BlobStore` on one S3 prefix. Thread-safe: boto3
    clients are."""

    def __init__(self, location: RemoteLocation, *, jobs: int = 16) -> None:
        import boto3
        from botocore.config import Config

        self.location = location
        self.jobs = jobs
        self.timeout = location.timeout or DEFAULT_TIMEOUT
        session = boto3.session.Session()
        s3_options: Any = {"addressing_style": "path"} if location.endpoint_url else {}

        def client(attempts: int) -> S3Client:
            config = Config(
                connect_timeout=min(CONNECT_TIMEOUT, self.timeout),
                read_timeout=self.timeout,
                retries={"mode": "standard", "max_attempts": attempts},
                max_pool_connections=jobs + 16,
                s3=s3_options,
            )
            made = session.client(
                "s3", endpoint_url=location.endpoint_url, region_name=location.region, config=config
            )
            made.meta.events.register_first(
                "needs-retry.s3",
                _no_retry_after_silence,  # type: ignore[arg-type]  # stubs: handlers return None
            )
            return made

        self.client = client(5)
        # The connectivity check must fail in seconds on a dead endpoint, not after minutes of
        # retries: one attempt.
        self._probe = client(1)
        self._conditional_put = True
        self.complete_listing: set[str] | None = None  # every blob, if :meth:`check` saw them all
        self._manager: TransferManager | None = None
        self._manager_lock = threading.Lock()

    def close(self) -> None:
        if self._manager is not None:
            self._manager.shutdown()
            self._manager = None

    def describe(self) -> str:
        return self.location.describe()

    def identity(self) -> str:
        return self.location.identity

    def _errors(self) -> contextlib.AbstractContextManager[None]:
        """Keep the contract: botocore's errors leave as one-line RemoteErrors."""
        return one_line_errors(self.location, translate, _is_local)

    def put_run(self, key: str, data: bytes) -> None:
        with self._errors():
            self.client.put_object(
                Bucket=self.location.bucket, Key=self.location.run_key(key), Body=data
            )

    def get_run(self, key: str) -> bytes | None:
        with self._errors():
            try:
                answer = self.client.get_object(
                    Bucket=self.location.bucket, Key=self.location.run_key(key)
                )
            except Exception as exc:
                if _error_code(exc) in _MISSING_CODES:
                    return None
                raise
            data: bytes = answer["Body"].read()
            return data

    def get_object(self, name: str, target: Path) -> bool:
        with self._errors():
            try:
                self._transfers().download(
                    self.location.bucket, self.location.object_key(name), str(target)
                ).result()
            except Exception as exc:
                if _error_code(exc) in _MISSING_CODES:
                    return False
                raise
            return True

    def delete(self, digests: Sequence[str]) -> None:
        bucket = self.location.bucket
        for start in range(0, len(digests), _DELETE_BATCH):
            batch = digests[start : start + _DELETE_BATCH]
            with self._errors():
                answer = self.client.delete_objects(
                    Bucket=bucket,
                    Delete={
                        "Objects": [{"Key": self.location.key(d)} for d in batch],
                        "Quiet": True,
                    },
                )
            errors = answer.get("Errors") or []
            if errors:
                first = errors[0]
                raise RemoteError(
                    f"{self.describe()}: could not delete {first.get('Key')} "
                    f"({first.get('Code')}: {first.get('Message')}) and "
                    f"{len(errors) - 1} more"
                )

    def _transfers(self) -> TransferManager:
        with self._manager_lock:
            if self._manager is None:
                from s3transfer.manager import TransferConfig, TransferManager

                config = TransferConfig(
                    multipart_threshold=SMALL_LIMIT,
                    multipart_chunksize=PART_SIZE,
                    max_request_concurrency=max(8, self.jobs),
                    num_download_attempts=1,  # a broken stream is retried whole, in _download
                )
                self._manager = TransferManager(self.client, config)
            return self._manager

    # -- queries ------------------------------------------------------------------------------

    def check(self) -> None:
        """Fail fast, with one clear line, if the remote cannot be listed.

        The request lists the first 1,000 blobs; when that is all of them,
        :attr:`complete_listing` holds them and no other existence check is needed.
        """
        try:
            page = self._probe.list_objects_v2(
                Bucket=self.location.bucket,
                Prefix=self.location.files_prefix,
                MaxKeys=CHECK_LIST_KEYS,
            )
        except Exception as exc:
            raise translate(exc, self.location) from None
        if not page.get("IsTruncated"):
            self.complete_listing = {
                digest
                for item in page.get("Contents", [])
                if (digest := self.location.digest_of(item["Key"])) is not None
            }

    def exists(self, digest: str) -> bool:
        with self._errors():
            try:
                self.client.head_object(Bucket=self.location.bucket, Key=self.location.key(digest))
            except Exception as exc:
                if _error_code(exc) in _MISSING_CODES:
                    return False
                raise
            return True

    def list_shard(self, shard: str) -> tuple[set[str], int]:
        """Hashes stored under ``files/<shard>/``, and how many pages the listing took."""
        prefix = f"{self.location.files_prefix}{shard}/"
        with self._errors():
            paginator = self.client.get_paginator("list_objects_v2")
            pages = paginator.paginate(Bucket=self.location.bucket, Prefix=prefix)
            return shard_listing(
                shard,
                prefix,
                ([item["Key"] for item in page.get("Contents", [])] for page in pages),
            )

    # -- transfers ----------------------------------------------------------------------------

    def upload(
        self, source: Path, digest: str, on_bytes: ByteCallback, *, replace: bool = False
    ) -> bool:
        """Upload ``source`` as blob ``digest``; False if the remote already had it.

        The bytes are hashed first, so a corrupt local blob is never published
        (:class:`BlobCorruptError`). ``replace`` overwrites an object already stored under
        the name (a repair: ``pivot push --force``).
        """
        with self._errors():
            return self._upload(source, digest, on_bytes, replace)

    def _upload(self, source: Path, digest: str, on_bytes: ByteCallback, replace: bool) -> bool:
        size = source.stat().st_size
        if size <= SMALL_LIMIT:
            data = source.read_bytes()
            actual = hash_bytes(data)
            if actual != digest:
                raise BlobCorruptError(f"local copy of blob {digest} hashes to {actual}")
            created = self._put(digest, data, replace)
            on_bytes(len(data))
            return created
        actual = hash_file(source)
        if actual != digest:
            raise BlobCorruptError(f"local copy of blob {digest} hashes to {actual}")
        from boto3.s3.transfer import ProgressCallbackInvoker

        future = self._transfers().upload(
            str(source),
            self.location.bucket,
            self.location.key(digest),
            subscribers=[ProgressCallbackInvoker(on_bytes)],
        )
        future.result()
        return True

    def _put(self, digest: str, data: bytes, replace: bool) -> bool:
        key = self.location.key(digest)
        for attempt in range(5):
            try:
                if self._conditional_put and not replace:
                    self.client.put_object(
                        Bucket=self.location.bucket, Key=key, Body=data, IfNoneMatch="*"
                    )
                else:
                    self.client.put_object(Bucket=self.location.bucket, Key=key, Body=data)
                return True
            except Exception as exc:
                code = _error_code(exc)
                if code in ("PreconditionFailed", "412"):
                    return False  # someone (maybe us, earlier) stored it already
                if code in ("NotImplemented", "501"):
                    self._conditional_put = False  # server without conditional writes
                    if self.exists(digest):
                        return False
                    continue
                if code == "ConditionalRequestConflict" and attempt < 4:
                    time.sleep(0.2 * 2**attempt * random.random())  # a concurrent upload of it
                    continue
                raise
        raise RemoteError(f"could not store blob {digest} on {self.location.describe()}")

    def download(self, digest: str, size: int | None, target: Path, on_bytes: ByteCallback) -> None:
        """Download blob ``digest`` into ``target`` and check its hash.

        A body that breaks off mid-stream is retried (botocore retries only the request).
        """
        with self._errors():
            self._download(digest, size, target, on_bytes)

    def _download(
        self, digest: str, size: int | None, target: Path, on_bytes: ByteCallback
    ) -> None:
        from botocore import exceptions as bce

        transient = (  # not ReadTimeoutError: a silent server is down (see the module doc)
            bce.ResponseStreamingError,
            bce.IncompleteReadError,
            bce.ConnectionClosedError,
        )
        for attempt in range(STREAM_ATTEMPTS):
            written = 0

            def count(n: int) -> None:
                nonlocal written
                written += n
                on_bytes(n)

            try:
                actual = self._download_once(digest, size, target, count)
                break
            except Exception as exc:
                on_bytes(-written)
                if _error_code(exc) in _MISSING_CODES:
                    raise BlobMissingError(
                        f"blob {digest} is not on {self.location.describe()}"
                    ) from None
                if (
                    isinstance(_unwrap(exc), transient)
                    and not is_silence(exc)
                    and attempt + 1 < STREAM_ATTEMPTS
                ):
                    time.sleep(0.2 * 2**attempt)
                    continue
                raise
        if actual != digest:
            raise BlobCorruptError(
                f"remote object {self.location.key(digest)} on {self.location.describe()} is corrupt "
                f"(its bytes hash to {actual}, not {digest}); it was not stored locally"
                f"{CORRUPT_REMOTE_HINT}"
            )

    def _download_once(
        self, digest: str, size: int | None, target: Path, on_bytes: ByteCallback
    ) -> str:
        key = self.location.key(digest)
        if size is not None and size > SMALL_LIMIT:
            from boto3.s3.transfer import ProgressCallbackInvoker

            future = self._transfers().download(
                self.location.bucket,
                key,
                str(target),
                subscribers=[ProgressCallbackInvoker(on_bytes)],
            )
            future.result()
            return hash_file(target)
        response = self.client.get_object(Bucket=self.location.bucket, Key=key)
        hasher = xxhash.xxh64()
        with open(target, "wb") as handle:
            for chunk in response["Body"].iter_chunks(CHUNK):
                hasher.update(chunk)
                handle.write(chunk)
                on_bytes(len(chunk))
        return hasher.hexdigest()
