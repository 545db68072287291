"""The LMDB hash cache: a file is re-hashed only when its inode, mtime or size changed.

To see whether a hash came from the cache or from the file's bytes, the tests record a hash
that is deliberately *not* the file's: getting it back means the file was not read.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pivot.core.store.artifacts import ArtifactHasher
from pivot.core.store.hashing import hash_file
from pivot.core.store.state import StateDB
from pivot.exceptions import ProjectError

RECORDED = "0000000000000000"  # a hash no test file has


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "work"
    folder.mkdir()
    (folder / "data.txt").write_text("hello\n")
    return folder


def record(state_db: StateDB, path: Path, digest: str = RECORDED) -> None:
    state_db.record_hashes([(str(path), path.stat(), digest)])


# -- StateDB -----------------------------------------------------------------------------------


def test_a_recorded_hash_is_returned_while_the_stat_is_unchanged(
    state_db: StateDB, root: Path
) -> None:
    path = root / "data.txt"
    record(state_db, path)
    assert state_db.cached_hash(str(path), path.stat()) == RECORDED


def test_a_path_never_recorded_has_no_cached_hash(state_db: StateDB, root: Path) -> None:
    path = root / "data.txt"
    assert state_db.cached_hash(str(path), path.stat()) is None


def test_a_new_mtime_invalidates_the_recorded_hash(state_db: StateDB, root: Path) -> None:
    path = root / "data.txt"
    record(state_db, path)
    mtime = path.stat().st_mtime_ns
    os.utime(path, ns=(mtime + 1, mtime + 1))
    assert state_db.cached_hash(str(path), path.stat()) is None


def test_a_new_size_invalidates_the_recorded_hash(state_db: StateDB, root: Path) -> None:
    path = root / "data.txt"
    record(state_db, path)
    mtime = path.stat().st_mtime_ns
    path.write_text("hello, world\n")
    os.utime(path, ns=(mtime, mtime))  # same mtime: only the size tells
    assert state_db.cached_hash(str(path), path.stat()) is None


def test_a_file_replaced_by_a_rename_is_not_trusted_even_with_same_size_and_mtime(
    state_db: StateDB, root: Path
) -> None:
    path = root / "data.txt"
    record(state_db, path)
    before = path.stat()
    other = root / "other.txt"
    other.write_text("HELLO\n")
    os.utime(other, ns=(before.st_atime_ns, before.st_mtime_ns))
    os.replace(other, path)
    assert path.stat().st_size == before.st_size
    assert state_db.cached_hash(str(path), path.stat()) is None


def test_a_path_longer_than_the_lmdb_key_limit_is_cached_too(state_db: StateDB, root: Path) -> None:
    deep = root.joinpath(*["d" * 100] * 6, "data.txt")
    deep.parent.mkdir(parents=True)
    deep.write_text("deep\n")
    assert len(os.fsencode(deep)) > 511
    record(state_db, deep)
    assert state_db.cached_hash(str(deep), deep.stat()) == RECORDED


# -- ArtifactHasher over the state ---------------------------------------------------------------


def test_an_unchanged_file_is_not_re_hashed_by_a_later_hasher(
    state_db: StateDB, root: Path
) -> None:
    record(state_db, root / "data.txt")
    result = ArtifactHasher(root, state_db).hash_path("data.txt")
    assert result is not None and result.hash == RECORDED


def test_a_touched_file_is_re_hashed(state_db: StateDB, root: Path) -> None:
    path = root / "data.txt"
    record(state_db, path)
    mtime = path.stat().st_mtime_ns
    os.utime(path, ns=(mtime + 10**9, mtime + 10**9))
    result = ArtifactHasher(root, state_db).hash_path("data.txt")
    assert result is not None and result.hash == hash_file(path)


def test_new_hashes_reach_the_state_only_on_flush(state_db: StateDB, root: Path) -> None:
    path = root / "data.txt"
    hasher = ArtifactHasher(root, state_db)
    hasher.hash_path("data.txt")
    assert state_db.cached_hash(str(path), path.stat()) is None
    hasher.flush()
    assert state_db.cached_hash(str(path), path.stat()) == hash_file(path)


def test_a_hash_computed_elsewhere_is_remembered_for_the_file_as_it_is(
    state_db: StateDB, root: Path
) -> None:
    """What a worker hashed while writing an output is not hashed again by the engine."""
    hasher = ArtifactHasher(root, state_db)
    hasher.record(root / "data.txt", RECORDED)
    hasher.flush()
    result = ArtifactHasher(root, state_db).hash_path("data.txt")
    assert result is not None and result.hash == RECORDED


def test_a_missing_path_hashes_to_none(state_db: StateDB, root: Path) -> None:
    hasher = ArtifactHasher(root, state_db)
    assert hasher.hash_path("absent.txt") is None
    assert hasher.hash_path("data.txt/under-a-file") is None


def test_a_folder_rehashes_only_the_file_that_changed(state_db: StateDB, root: Path) -> None:
    (root / "shards").mkdir()
    for name in ("a.txt", "b.txt"):
        (root / "shards" / name).write_text(name)
        record(state_db, root / "shards" / name)
    (root / "shards" / "b.txt").write_text("b, edited")
    result = ArtifactHasher(root, state_db).hash_path("shards")
    assert result is not None and result.files is not None
    assert {e.path: e.hash for e in result.files} == {
        "a.txt": RECORDED,
        "b.txt": hash_file(root / "shards" / "b.txt"),
    }


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_an_unreadable_file_is_one_line_of_project_error(state_db: StateDB, root: Path) -> None:
    path = root / "data.txt"
    path.chmod(0)
    try:
        with pytest.raises(ProjectError, match=r"cannot read .*data\.txt.*fix its permissions"):
            ArtifactHasher(root, state_db).hash_path("data.txt")
    finally:
        path.chmod(0o644)
