"""Which remote a command talks to, and where it keeps its blobs: :class:`RemoteLocation`.

A remote URL is ``s3://bucket/prefix`` or a folder: an absolute path, ``file:///abs/path``, a
path starting with ``~``, or a path relative to the project root. Either way the blobs sit
under ``files/ab/cdef…``, the layout of the local cache. Resolving a folder to an absolute path
happens here, once, so a Dask worker that receives the location needs no project root.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import TYPE_CHECKING

from pivot.core.config import remote_folder
from pivot.exceptions import ConfigError

if TYPE_CHECKING:
    from pivot.core.config import PivotConfig


@dataclasses.dataclass(frozen=True)
class RemoteLocation:
    """Where one named remote keeps its blobs: ``s3://bucket/prefix/files/ab/cdef…`` or
    ``<folder>/files/ab/cdef…``.

    A plain value: pickled to Dask workers and used as a dict key. ``bucket``, ``prefix``,
    ``endpoint_url`` and ``region`` concern S3 remotes only; ``folder`` is set for folder
    remotes only (an absolute path).
    """

    name: str
    url: str
    bucket: str = ""
    prefix: str = ""  # without leading or trailing slash; may be empty
    endpoint_url: str | None = None
    region: str | None = None
    folder: Path | None = None
    timeout: float | None = None  # S3 only: seconds of silence before the remote counts as down

    @classmethod
    def parse(
        cls,
        name: str,
        url: str,
        endpoint_url: str | None = None,
        region: str | None = None,
        *,
        root: Path | None = None,
        timeout: float | None = None,
    ) -> RemoteLocation:
        """The location ``url`` names; a relative folder is taken relative to ``root``."""
        folder = remote_folder(url)
        if folder is not None:
            if timeout is not None:
                raise ConfigError(
                    f"remote '{name}' is a folder ({url}) but has timeout set, which only s3:// "
                    f"remotes use; remove it with `pivot config unset remotes.{name}.timeout`"
                )
            return cls._folder(name, url, folder, endpoint_url, region, root)
        rest = url.removeprefix("s3://")
        bucket, _, prefix = rest.partition("/")
        if not bucket or not url.startswith("s3://"):
            raise ConfigError(f"remote '{name}' has url {url!r}; expected s3://bucket/prefix")
        return cls(name, url, bucket, prefix.strip("/"), endpoint_url, region, timeout=timeout)

    @classmethod
    def _folder(
        cls,
        name: str,
        url: str,
        folder: str,
        endpoint_url: str | None,
        region: str | None,
        root: Path | None,
    ) -> RemoteLocation:
        if endpoint_url is not None or region is not None:
            key = "endpoint_url" if endpoint_url is not None else "region"
            raise ConfigError(
                f"remote '{name}' is a folder ({url}) but has {key} set, which only s3:// "
                f"remotes use; remove it with `pivot config unset remotes.{name}.{key}`"
            )
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
    def files_prefix(self) -> str:
        return f"{self.prefix}/files/" if self.prefix else "files/"

    def run_key(self, key: str) -> str:
        """Where run-cache entry ``key`` lives (``runs/ab/cdef…`` beside ``files/``)."""
        runs = f"{self.prefix}/runs/" if self.prefix else "runs/"
        return f"{runs}{key[:2]}/{key[2:]}"

    def key(self, digest: str) -> str:
        """The S3 key of blob ``digest`` (for a folder: its path below :attr:`folder`)."""
        return f"{self.files_prefix}{digest[:2]}/{digest[2:]}"

    @property
    def identity(self) -> str:
        """What the local index of known hashes is keyed by: the same bucket behind two
        endpoints is two remotes; a folder is known by its absolute path."""
        if self.folder is not None:
            return f"folder {self.folder}"
        return f"{self.endpoint_url or 'aws'} {self.url}"

    def describe(self) -> str:
        if self.folder is not None:
            return f"remote '{self.name}' ({self.folder})"
        where = f" at {self.endpoint_url}" if self.endpoint_url else ""
        return f"remote '{self.name}' ({self.url}{where})"


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
        name, remote.url, remote.endpoint_url, remote.region, root=root, timeout=remote.timeout
    )
