"""The run cache: what each stage produced from each set of inputs it ever ran on.

One entry per successful run, at ``.pivot/cache/runs/ab/cdef…``, named by a hash of the
stage's name, code manifest, effective params, dep hashes and output paths (:func:`run_key`),
holding the output records of that run. When a stage is stale but an entry for its current
inputs exists and the blobs of those outputs are cached, the planner restores them instead
of running (reverting a param re-trains nothing). Entries are local to the machine, like the
blobs they point to; ``pivot gc`` bounds them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import xxhash

from pivot.core.store.atomic import is_temp_path, write_bytes_atomic
from pivot.core.store.hashing import is_digest
from pivot.core.store.lock import OutRecord, StageLock

__all__ = ["RunCache", "entry_bytes", "lock_key", "parse_entry", "run_key"]

_SCHEMA = 1


def run_key(
    stage: str,
    code: Mapping[str, str],
    params: Mapping[str, Any],
    deps: Mapping[str, str],
    outs: Sequence[str],
) -> str:
    """The entry name for a run of ``stage`` on these inputs (deterministic across machines)."""
    canonical = json.dumps(
        {
            "schema": _SCHEMA,
            "stage": stage,
            "code": dict(sorted(code.items())),
            "params": params,
            "deps": dict(sorted(deps.items())),
            "outs": sorted(outs),
        },
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return xxhash.xxh64(canonical.encode("utf-8")).hexdigest()


def lock_key(lock: StageLock) -> str:
    """The entry name for the run a lock records."""
    return run_key(
        lock.stage,
        lock.code,
        lock.params,
        lock.dep_hashes(),
        [out.path for out in lock.outs],
    )


def entry_bytes(lock: StageLock) -> bytes:
    """The entry for the run ``lock`` records: its stage and output records, as JSON."""
    return json.dumps(
        {"stage": lock.stage, "outs": [out.to_dict() for out in lock.outs]}, sort_keys=True
    ).encode("utf-8")


def parse_entry(data: bytes) -> tuple[OutRecord, ...] | None:
    """The output records of an entry; None for bytes that are not one (paths and hashes are
    checked as a lock's are, since entries may come from a remote)."""
    try:
        parsed = json.loads(data)
        return tuple(OutRecord.from_dict(out) for out in parsed["outs"])
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


class RunCache:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path_for(self, key: str) -> Path:
        return self.folder / key[:2] / key[2:]

    def record(self, lock: StageLock) -> str:
        """Remember the outputs of the run ``lock`` records; returns the entry's key."""
        key = lock_key(lock)
        self.store(key, entry_bytes(lock))
        return key

    def store(self, key: str, data: bytes) -> None:
        """Write entry ``key`` (unless it already holds exactly ``data``)."""
        path = self.path_for(key)
        try:
            if path.read_bytes() == data:
                return
        except FileNotFoundError:
            pass
        write_bytes_atomic(path, data)

    def lookup(self, key: str) -> tuple[OutRecord, ...] | None:
        """The outputs of an earlier run with this key; None if there is none (or its entry
        cannot be read: an entry is only a shortcut, so a broken one is simply ignored)."""
        try:
            return parse_entry(self.path_for(key).read_bytes())
        except OSError:
            return None

    def entries(self) -> Iterator[tuple[str, Path]]:
        """Every entry as (key, path)."""
        if not self.folder.is_dir():
            return
        for shard in sorted(os.scandir(self.folder), key=lambda e: e.name):
            if not shard.is_dir() or len(shard.name) != 2:
                continue
            for entry in sorted(os.scandir(shard.path), key=lambda e: e.name):
                key = shard.name + entry.name
                if is_digest(key) and not is_temp_path(Path(entry.path)):
                    yield key, Path(entry.path)
