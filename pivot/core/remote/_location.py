"""Which remote a command talks to, and where it keeps its blobs: :class:`RemoteLocation`.

A remote URL is ``s3://bucket/prefix``; the blobs sit under ``files/ab/cdef…``, the layout of
the local cache. No boto3 here: a location is a plain value, also shipped to Dask workers.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from pivot.exceptions import ConfigError

if TYPE_CHECKING:
    from pivot.core.config import PivotConfig


@dataclasses.dataclass(frozen=True)
class RemoteLocation:
    """Where one named remote keeps its blobs: ``s3://bucket/prefix/files/ab/cdef…``.

    A plain value: pickled to Dask workers and used as a dict key.
    """

    name: str
    url: str
    bucket: str
    prefix: str  # without leading or trailing slash; may be empty
    endpoint_url: str | None = None
    region: str | None = None

    @classmethod
    def parse(
        cls, name: str, url: str, endpoint_url: str | None = None, region: str | None = None
    ) -> RemoteLocation:
        rest = url.removeprefix("s3://")
        bucket, _, prefix = rest.partition("/")
        if not bucket or not url.startswith("s3://"):
            raise ConfigError(f"remote '{name}' has url {url!r}; expected s3://bucket/prefix")
        return cls(name, url, bucket, prefix.strip("/"), endpoint_url, region)

    @property
    def files_prefix(self) -> str:
        return f"{self.prefix}/files/" if self.prefix else "files/"

    def key(self, digest: str) -> str:
        return f"{self.files_prefix}{digest[:2]}/{digest[2:]}"

    @property
    def identity(self) -> str:
        """What the local index of known hashes is keyed by: the same bucket behind two
        endpoints is two remotes."""
        return f"{self.endpoint_url or 'aws'} {self.url}"

    def describe(self) -> str:
        where = f" at {self.endpoint_url}" if self.endpoint_url else ""
        return f"remote '{self.name}' ({self.url}{where})"


def resolve_remote(config: PivotConfig, name: str | None) -> RemoteLocation:
    """The remote called ``name``, else ``default_remote``, else the only one configured."""
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
    return RemoteLocation.parse(name, remote.url, remote.endpoint_url, remote.region)
