"""``pivot gc --remote``: remove the blobs on a remote that nothing recent refers to."""

from __future__ import annotations

import dataclasses

from pivot.core.project import Project
from pivot.core.remote._transfer import _parallel, _Session
from pivot.core.store.gc import KeepSet

#: Every shard of the layout ``files/ab/…``.
_SHARDS = [f"{i:02x}" for i in range(256)]


@dataclasses.dataclass(frozen=True)
class RemoteGcResult:
    remote: str  # how the remote is named in messages
    removed: int
    kept: int
    dry_run: bool

    def to_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)


def sweep_remote(
    project: Project, keep: KeepSet, *, remote: str | None, jobs: int, dry_run: bool
) -> RemoteGcResult:
    """List the remote shard by shard and delete what ``keep`` does not hold (and forget it in
    the index of hashes known to be there, so a later push uploads it again if needed)."""
    with _Session(project, remote, jobs) as session:
        store = session.store
        found: set[str] = set()
        errors: list[Exception] = []

        def collect(shard: str, value: tuple[set[str], int] | Exception) -> None:
            if isinstance(value, Exception):
                errors.append(value)
            else:
                found.update(value[0])

        _parallel(store.list_shard, _SHARDS, jobs, collect)
        if errors:
            raise errors[0]
        garbage = sorted(found - keep.blobs)
        if garbage and not dry_run:
            session.index.discard(garbage)  # first: a blob the index names must be there
            store.delete(garbage)
        return RemoteGcResult(store.describe(), len(garbage), len(found) - len(garbage), dry_run)
