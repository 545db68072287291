"""Per-stage lock files: ``.pivot/stages/<stage>.lock``.

A lock records what a stage's last successful run consumed and produced: its code manifest,
effective params, and the hashes of its deps and outs; when the outputs were restored from an
earlier run instead (the run cache), its ``origin`` says so. It holds nothing about time or
machine, so two identical runs anywhere write byte-identical locks (and git merges stay quiet).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from pivot.core.store.atomic import is_temp_path, write_text_atomic
from pivot.core.store.hashing import FileEntry, is_digest
from pivot.core.store.paths import LOCK_SUFFIX
from pivot.core.store.safe_yaml import load_yaml
from pivot.core.store.state import DB_LOCKS, StateDB, stat_key
from pivot.exceptions import LockFileError

SCHEMA = 1
#: The ``origin`` of a lock whose outputs came from the run cache instead of running.
RESTORED = "restored from an earlier run"

_Dumper: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
#: First path parts an output may never have: Pivot's own folder, and git's (a hook written
#: there would run code on the next git command).
_RESERVED = frozenset({".pivot", ".git"})


def _checked_digest(value: Any, what: str) -> str:
    digest = str(value)
    if not is_digest(digest):
        raise ValueError(f"{what} has hash {digest!r}, not 16 hex digits")
    return digest


def _checked_rel(path: str, what: str, *, top: bool) -> str:
    """``path`` if it is a normalized relative posix path that stays where it belongs: inside
    the project (and out of .pivot/ and .git/) for an output, inside its folder for a folder's
    file. Lock files come from git, so their paths are checked before anything is written."""
    parts = path.split("/")
    if not path or path.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"{what} '{path}' is not a plain relative path inside the project")
    if top and parts[0] in _RESERVED:
        raise ValueError(f"{what} '{path}' is inside {parts[0]}/, which no output may write to")
    return path


@dataclasses.dataclass(frozen=True)
class DepRecord:
    path: str
    hash: str


@dataclasses.dataclass(frozen=True)
class OutRecord:
    path: str
    hash: str
    size: int
    files: tuple[FileEntry, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"path": self.path, "hash": self.hash, "size": self.size}
        if self.files is not None:
            data["files"] = [entry.to_dict() for entry in self.files]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OutRecord:
        """Parse one ``outs`` entry; ValueError for a path that leaves the project (or, for a
        folder's file, its folder) or a hash that is not a blob name."""
        path = _checked_rel(str(data["path"]), "output path", top=True)
        files = data.get("files")
        return cls(
            path=path,
            hash=_checked_digest(data["hash"], f"output '{path}'"),
            size=int(data.get("size", 0)),
            files=None
            if files is None
            else tuple(
                FileEntry(
                    _checked_rel(str(f["path"]), f"file of folder output '{path}'", top=False),
                    _checked_digest(f["hash"], f"file '{path}/{f['path']}'"),
                    int(f["size"]),
                )
                for f in files
            ),
        )

    def blob_hashes(self) -> list[str]:
        """The cache blobs this output needs: its own, or one per file of a folder."""
        if self.files is not None:
            return [entry.hash for entry in self.files]
        return [self.hash]


@dataclasses.dataclass(frozen=True)
class StageLock:
    stage: str
    code: dict[str, str]
    params: dict[str, Any]
    deps: tuple[DepRecord, ...]
    outs: tuple[OutRecord, ...]
    #: How the outputs came to be, when the stage did not run: :data:`RESTORED` for outputs
    #: taken from an earlier run on the same inputs (the run cache). None when it ran.
    origin: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "schema": SCHEMA,
            "stage": self.stage,
            "code": {key: self.code[key] for key in sorted(self.code)},
            "params": _sorted(self.params),
            "deps": [
                {"path": d.path, "hash": d.hash} for d in sorted(self.deps, key=lambda d: d.path)
            ],
            "outs": [o.to_dict() for o in sorted(self.outs, key=lambda o: o.path)],
        }
        if self.origin is not None:
            data["origin"] = self.origin
        return data

    @classmethod
    def from_dict(cls, data: Any, source: str = "lock") -> StageLock:
        try:
            if not isinstance(data, dict):
                raise TypeError("not a mapping")
            if data.get("schema") != SCHEMA:
                raise ValueError(f"unknown schema {data.get('schema')!r}")
            return cls(
                stage=str(data["stage"]),
                code={str(k): str(v) for k, v in (data.get("code") or {}).items()},
                params=dict(data.get("params") or {}),
                deps=tuple(
                    DepRecord(str(d["path"]), _checked_digest(d["hash"], f"dep '{d['path']}'"))
                    for d in data.get("deps") or []
                ),
                outs=tuple(OutRecord.from_dict(o) for o in data.get("outs") or []),
                origin=None if data.get("origin") is None else str(data["origin"]),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise LockFileError(
                f"lock file {source} is malformed ({exc}); restore it from git or delete it to "
                "re-run the stage"
            ) from exc

    def dep_hashes(self) -> dict[str, str]:
        return {d.path: d.hash for d in self.deps}

    def out_records(self) -> dict[str, OutRecord]:
        return {o.path: o for o in self.outs}


def _sorted(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _sorted(value[k]) for k in sorted(value, key=str)}
    if isinstance(value, list | tuple):
        return [_sorted(v) for v in value]
    return value


def dump_lock(lock: StageLock) -> str:
    """The lock as YAML text; LockFileError for a file name that is not valid UTF-8, which a
    text file cannot hold (Pivot refuses such names in folder outputs rather than mangle them)."""
    try:
        return yaml.dump(lock.to_dict(), Dumper=_Dumper, sort_keys=False, default_flow_style=False)
    except UnicodeEncodeError:
        raise LockFileError(_not_utf8(lock)) from None


def _not_utf8(lock: StageLock) -> str:
    for out in lock.outs:
        for rel in [out.path, *(f"{out.path}/{entry.path}" for entry in out.files or ())]:
            try:
                rel.encode("utf-8")
            except UnicodeEncodeError:
                return (
                    f"stage '{lock.stage}': output '{out.path}' holds a file whose name is not "
                    f"valid UTF-8 ({os.fsencode(rel)!r}); lock files record names as text, so "
                    "rename it"
                )
    return f"stage '{lock.stage}': its lock holds text that is not valid UTF-8"


#: Lines git writes into a file it could not merge.
_CONFLICT = re.compile(r"^(<{7}|>{7}) ", re.MULTILINE)
#: The advice an error about an unreadable lock ends with, replaced in its warning.
_ADVICE = re.compile(r"(;|, or) (restore it from git or )?delete it to re-run the stage$")


def _as_warning(message: str) -> str:
    """An unreadable-lock error as a warning: the stage re-runs by itself, no advice needed."""
    if message.endswith("the stage will re-run"):
        return message
    return _ADVICE.sub("", message) + "; the stage will re-run"


def parse_lock(text: str, source: str = "lock") -> StageLock:
    try:
        data = load_yaml(text)
    except yaml.YAMLError as exc:
        raise LockFileError(
            f"lock file {source} is not valid YAML ({str(exc).splitlines()[0]}); restore it "
            "from git or delete it to re-run the stage"
        ) from exc
    except RecursionError:
        raise LockFileError(
            f"lock file {source} nests too deeply to be a lock; restore it from git or delete "
            "it to re-run the stage"
        ) from None
    return StageLock.from_dict(data, source)


class LockStore:
    """The folder of lock files.

    With a state database, parsed locks are cached as JSON keyed by the file's stat: parsing
    YAML costs ~1 ms per lock, which adds up across hundreds of stages on every `status`.
    """

    def __init__(
        self,
        folder: Path,
        state: StateDB | None = None,
        on_problem: Callable[[str], None] | None = None,
    ) -> None:
        self.folder = folder
        self.state = state
        #: Told once per unreadable lock (a warning line; the TUI shows a notification).
        self.on_problem = on_problem
        #: Stage -> why its lock could not be read, for everything read so far.
        self.problems: dict[str, str] = {}

    def path_for(self, stage: str) -> Path:
        return self.folder / f"{stage}{LOCK_SUFFIX}"

    def read(self, stage: str) -> StageLock | None:
        """The stage's lock; None when it has none, or when it cannot be read.

        A lock is only a record of the last run, so one that cannot be read (a git merge
        conflict, a truncated write, garbage) is a warning, and the stage is treated as never
        run: it re-runs, or comes back from the run cache. A lock the OS refuses to read (no
        permission) still stops the command. Only ``gc`` needs :meth:`read_strict`, since it
        must not delete what an unreadable lock may refer to.
        """
        try:
            return self.read_strict(stage)
        except LockFileError as exc:
            if isinstance(exc.__cause__, OSError):
                raise  # no permission, a folder in its place: the machine's problem, not the record's
            message = _as_warning(str(exc))
            if self.problems.get(stage) != message:
                self.problems[stage] = message
                if self.on_problem is not None:
                    self.on_problem(message)
            return None

    def read_strict(self, stage: str) -> StageLock | None:
        """The stage's lock, None when it has none; LockFileError when it cannot be read."""
        path = self.path_for(stage)
        try:
            st = path.stat()
        except FileNotFoundError:
            return None
        if self.state is not None:
            cached = self.state.get(DB_LOCKS, stage.encode())
            key = stat_key(st)
            if cached is not None and cached[: len(key)] == key:
                return StageLock.from_dict(json.loads(cached[len(key) :]), str(path))
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except UnicodeDecodeError as exc:
            raise LockFileError(
                f"lock file {path} is not text; delete it to re-run the stage"
            ) from exc
        except OSError as exc:  # unreadable, or a folder in its place
            raise LockFileError(
                f"cannot read lock file {path} ({exc.strerror}); fix its permissions, or "
                "delete it to re-run the stage"
            ) from exc
        if _CONFLICT.search(text):
            raise LockFileError(f"merge conflict in {path}: the stage will re-run")
        lock = parse_lock(text, str(path))
        if lock.stage != stage:
            raise LockFileError(
                f"lock file {path} belongs to stage '{lock.stage}'; restore it from git or "
                "delete it to re-run the stage"
            )
        self._remember(path, lock)
        return lock

    def _remember(self, path: Path, lock: StageLock) -> None:
        if self.state is None:
            return
        try:
            st = path.stat()
        except FileNotFoundError:
            return
        payload = stat_key(st) + json.dumps(lock.to_dict(), default=str).encode()
        self.state.put_many(DB_LOCKS, [(lock.stage.encode(), payload)])

    def write(self, lock: StageLock) -> None:
        path = self.path_for(lock.stage)
        write_text_atomic(path, dump_lock(lock))
        self._remember(path, lock)

    def stages(self) -> list[str]:
        """Stages with a lock file. A temp file a killed write left behind (it keeps the
        ``.lock`` suffix) is not a lock: reading it would stop `checkout` and `push`."""
        if not self.folder.is_dir():
            return []
        # A composed stage ``demo/clean`` has its lock in a folder: ``demo/clean.lock``.
        return sorted(
            p.relative_to(self.folder).as_posix()[: -len(LOCK_SUFFIX)]
            for p in self.folder.rglob(f"*{LOCK_SUFFIX}")
            if not is_temp_path(p) and p.is_file()
        )
