"""Share the cache through S3 or a folder: push, fetch, pull, and checks of what the remote holds.

The public surface, for the CLI, the TUI and the engine::

    from pivot.core import remote

    result = remote.push(project, ["train"], remote="origin", jobs=16, progress=callback)
    result = remote.fetch(project)                   # blobs into .pivot/cache only
    result = remote.fetch_from(project, location, records)   # from another repo's remote
    result = remote.pull(project)                    # fetch + write outputs into the workspace
    rows = remote.remote_status(project, stages)     # per output: missing locally / on remote
    rows = remote.verify_remote(project)             # outputs with blobs missing on the remote
    problems = remote.verify_local(project)          # locks, local cache, workspace

Remotes are configured in :mod:`pivot.core.config` (``remotes.<name>.url`` and friends): an
``s3://bucket/prefix`` (credentials from boto3's standard chain), ``gs://bucket/prefix``
(Application Default Credentials), ``azure://container/prefix`` (connection string, key, SAS
or azure-identity) or a folder path. Errors that
stop a whole command raise :class:`~pivot.exceptions.RemoteError` (exit 1) or
:class:`~pivot.exceptions.ConfigError` (exit 2); problems with single blobs are returned in
the results.

Single blobs move through a :class:`BlobStore` (``store = open_store(resolve_remote(config,
name, root=root))``); the Dask remote transport and ``pivot doctor`` use it directly.

Modules: ``_location`` (which remote, and where), ``_store`` (the :class:`BlobStore` protocol
and :func:`open_store`), ``_s3``, ``_gcs``, ``_azure`` and ``_folder`` (its implementations; ``_streams`` wraps files so
the GCS and Azure SDKs report progress), ``_transfer``
(push/fetch/pull orchestration), ``_index`` (the LMDB index of hashes known to be on a
remote), ``_progress`` (typed progress snapshots, drawn by ``pivot.render.progress``),
``_verify`` (local checks). Nothing outside this package imports those modules; boto3 is imported lazily.
"""

from __future__ import annotations

from pivot.core.remote._gc import RemoteGcResult, sweep_remote
from pivot.core.remote._location import RemoteLocation, resolve_remote
from pivot.core.remote._progress import (
    Direction,
    Phase,
    ProgressCallback,
    ProgressTracker,
    TransferProgress,
)
from pivot.core.remote._runs import RemoteRuns
from pivot.core.remote._store import BlobStore, ByteCallback, open_store
from pivot.core.remote._transfer import (
    DEFAULT_JOBS,
    BlobProblem,
    BlobRef,
    PullResult,
    RemoteStatusRow,
    TransferResult,
    fetch,
    fetch_from,
    lock_blobs,
    pull,
    push,
    remote_status,
    select_locks,
    verify_remote,
)
from pivot.core.remote._verify import VerifyProblem, verify_local
from pivot.exceptions import BlobCorruptError, BlobMissingError, RemoteUnavailableError

__all__ = [
    "DEFAULT_JOBS",
    "BlobCorruptError",
    "BlobMissingError",
    "BlobProblem",
    "BlobRef",
    "BlobStore",
    "ByteCallback",
    "Direction",
    "Phase",
    "ProgressCallback",
    "ProgressTracker",
    "PullResult",
    "RemoteGcResult",
    "RemoteLocation",
    "RemoteRuns",
    "RemoteStatusRow",
    "RemoteUnavailableError",
    "TransferProgress",
    "TransferResult",
    "VerifyProblem",
    "fetch",
    "fetch_from",
    "lock_blobs",
    "open_store",
    "pull",
    "push",
    "remote_status",
    "resolve_remote",
    "select_locks",
    "sweep_remote",
    "verify_local",
    "verify_remote",
]
