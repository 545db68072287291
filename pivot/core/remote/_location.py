"""Which remote a command talks to, and where it keeps its blobs: :class:`RemoteLocation`.

A remote URL is ``s3://bucket/prefix``, ``gs://bucket/prefix``, ``azure://container/prefix`` or
a folder: an absolute path, ``file:///abs/path``, a path starting with ``~``, or a path relative
to the project root. Either way the blobs sit under ``files/ab/cdef…``, the layout of the local
cache. Resolving a folder to an absolute path happens here, once, so a Dask worker that receives
the location needs no project root.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pivot.core.config import remote_folder
from pivot.core.store.hashing import is_digest
from pivot.exceptions import ConfigError

if TYPE_CHECKING:
    from pivot.core.config import PivotConfig

Kind = Literal["s3", "gs", "azure", "folder"]

#: The config keys each kind of remote uses, beside ``url``.
_KEYS: dict[Kind, tuple[str, ...]] = {
    "s3": ("endpoint_url", "region"),
    "gs": ("endpoint_url",),
    "azure": ("endpoint_url", "account"),
    "folder": (),
}
_WHAT = {"s3": "an s3:// remote", "gs": "a gs:// remote", "azure": "an azure:// remote"}
#: Where Azure's SDK and CLI look for a connection string.
AZURE_CONNECTION_STRING = "AZURE_STORAGE_CONNECTION_STRING"


def azure_connection_endpoint(connection_string: str) -> str | None:
    """The blob endpoint a connection string names (``BlobEndpoint=``, else built from
    ``AccountName=`` and ``EndpointSuffix=``), or None if it names none."""
    fields: dict[str, str] = {}
    for part in connection_string.split(";"):
        key, sep, value = part.partition("=")
        if sep:
            fields[key.strip().lower()] = value.strip()
    if fields.get("blobendpoint"):
        return fields["blobendpoint"].rstrip("/")
    if fields.get("accountname"):
        protocol = fields.get("defaultendpointsprotocol", "https")
        suffix = fields.get("endpointsuffix", "core.windows.net")
        return f"{protocol}://{fields['accountname']}.blob.{suffix}"
    return None


@dataclasses.dataclass(frozen=True)
class RemoteLocation:
    """Where one named remote keeps its blobs: ``s3://bucket/prefix/files/ab/cdef…`` or
    ``<folder>/files/ab/cdef…``.

    A plain value: pickled to Dask workers and used as a dict key. ``bucket`` (an Azure
    container), ``prefix`` and ``endpoint_url`` concern the cloud remotes, ``region`` S3 only,
    ``account`` Azure only; ``folder`` is set for folder remotes only (an absolute path).
    ``account_url`` is the Azure blob service the remote talks to, resolved once here from
    ``endpoint_url``, ``account`` or the connection string in the environment.
    """

    name: str
    url: str
    bucket: str = ""
    prefix: str = ""  # without leading or trailing slash; may be empty
    endpoint_url: str | None = None
    region: str | None = None
    folder: Path | None = None
    account: str | None = None
    account_url: str | None = None
    timeout: float | None = None  # S3 only: seconds of silence before the remote counts as down

    @classmethod
    def parse(
        cls,
        name: str,
        url: str,
        endpoint_url: str | None = None,
        region: str | None = None,
        *,
        account: str | None = None,
        root: Path | None = None,
        timeout: float | None = None,
    ) -> RemoteLocation:
        """The location ``url`` names; a relative folder is taken relative to ``root``."""
        folder = remote_folder(url)
        kind: Kind = "folder" if folder is not None else _scheme(url)
        given = {"endpoint_url": endpoint_url, "region": region, "account": account}
        for key, value in given.items():
            if value is not None and key not in _KEYS[kind]:
                users = ", ".join(
                    f"{k}://" for k, keys in _KEYS.items() if key in keys and k != "folder"
                )
                what = f"a folder ({url})" if folder is not None else f"{_WHAT[kind]} ({url})"
                raise ConfigError(
                    f"remote '{name}' is {what} but has {key} set, which only {users} remotes "
                    f"use; remove it with `pivot config unset remotes.{name}.{key}`"
                )
        if folder is not None:
            if timeout is not None:
                raise ConfigError(
                    f"remote '{name}' is a folder ({url}) but has timeout set, which only s3:// "
                    f"remotes use; remove it with `pivot config unset remotes.{name}.timeout`"
                )
            return cls._folder(name, url, folder, root)
        bucket, _, prefix = url.removeprefix(f"{kind}://").partition("/")
        if not bucket:
            raise ConfigError(f"remote '{name}' has url {url!r}; expected {kind}://bucket/prefix")
        location = cls(
            name,
            url,
            bucket,
            prefix.strip("/"),
            endpoint_url,
            region,
            account=account,
            timeout=timeout,
        )
        if kind == "azure":
            return dataclasses.replace(location, account_url=_azure_account_url(location))
        return location

    @classmethod
    def _folder(cls, name: str, url: str, folder: str, root: Path | None) -> RemoteLocation:
        path = Path(folder).expanduser()
        if not path.is_absolute():
            if root is None:
                raise ConfigError(
                    f"remote '{name}' is a relative folder ({url}) and there is no project to "
                    f"resolve it against; use an absolute path"
                )
            path = root / path
        # `..` and `.` parts go; symlinks stay (resolving one would pin a mount's target).
        return cls(name, url, folder=Path(os.path.normpath(path)))

    @property
    def is_folder(self) -> bool:
        return self.folder is not None

    @property
    def kind(self) -> Kind:
        return "folder" if self.folder is not None else _scheme(self.url)

    @property
    def files_prefix(self) -> str:
        return f"{self.prefix}/files/" if self.prefix else "files/"

    def run_key(self, key: str) -> str:
        """Where run-cache entry ``key`` lives (``runs/ab/cdef…`` beside ``files/``)."""
        return self.object_key(f"runs/{key[:2]}/{key[2:]}")

    def object_key(self, name: str) -> str:
        """The key of object ``name`` (a relative path with slashes) below the prefix: run-cache
        entries, and objects laid out by another tool (a DVC remote)."""
        return f"{self.prefix}/{name}" if self.prefix else name

    def digest_of(self, key: str) -> str | None:
        """The blob hash a listed key names (``<prefix>/files/ab/cdef…``), or None for any other
        key."""
        shard, _, name = key[len(self.files_prefix) :].partition("/")
        digest = shard + name
        return digest if len(shard) == 2 and is_digest(digest) else None

    def key(self, digest: str) -> str:
        """The S3 key of blob ``digest`` (for a folder: its path below :attr:`folder`)."""
        return f"{self.files_prefix}{digest[:2]}/{digest[2:]}"

    @property
    def identity(self) -> str:
        """What the local index of known hashes is keyed by: the same bucket behind two
        endpoints is two remotes; a folder is known by its absolute path."""
        if self.folder is not None:
            return f"folder {self.folder}"
        if self.kind == "azure":
            return f"{self.account_url or 'azure'} {self.url}"
        default = "aws" if self.kind == "s3" else "google"
        return f"{self.endpoint_url or default} {self.url}"

    def describe(self) -> str:
        if self.folder is not None:
            return f"remote '{self.name}' ({self.folder})"
        server = self.account_url if self.kind == "azure" else self.endpoint_url
        where = f" at {server}" if server else ""
        return f"remote '{self.name}' ({self.url}{where})"


def _scheme(url: str) -> Kind:
    for kind in ("s3", "gs", "azure"):
        if url.startswith(f"{kind}://"):
            return kind
    raise ConfigError(
        f"remote url {url!r} is not s3://bucket/prefix, gs://bucket/prefix, "
        "azure://container/prefix or a folder"
    )


def _azure_account_url(location: RemoteLocation) -> str | None:
    """The blob service of an Azure remote: its endpoint_url, its account's public endpoint,
    or the one its connection string names (None: nothing says where; the store explains)."""
    if location.endpoint_url:
        return location.endpoint_url
    if location.account:
        return f"https://{location.account}.blob.core.windows.net"
    connection = os.environ.get(AZURE_CONNECTION_STRING)
    return azure_connection_endpoint(connection) if connection else None


def resolve_remote(
    config: PivotConfig, name: str | None, *, root: Path | None = None
) -> RemoteLocation:
    """The remote called ``name``, else ``default_remote``, else the only one configured.

    ``root`` is the project root, against which a relative folder remote is resolved.
    """
    remotes = config.remotes
    hint = "`pivot config set remotes.origin s3://bucket/prefix`"
    if name is None:
        name = config.default_remote
        if name is None:
            if len(remotes) == 1:
                name = next(iter(remotes))
            elif not remotes:
                raise ConfigError(f"no remote is configured; add one with {hint}")
            else:
                raise ConfigError(
                    f"several remotes are configured ({', '.join(sorted(remotes))}) and no default; "
                    "pick one with -r NAME or `pivot config set default_remote NAME`"
                )
    remote = remotes.get(name)
    if remote is None:
        known = ", ".join(sorted(remotes)) or "none"
        raise ConfigError(
            f"remote '{name}' is not configured (remotes: {known}); add it with {hint.replace('origin', name)}"
        )
    if remote.url is None:
        raise ConfigError(
            f"remote '{name}' has no url; set it with `pivot config set remotes.{name} s3://bucket/prefix`"
        )
    return RemoteLocation.parse(
        name,
        remote.url,
        remote.endpoint_url,
        remote.region,
        account=remote.account,
        root=root,
        timeout=remote.timeout,
    )
