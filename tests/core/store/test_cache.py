"""The content-addressed cache and the hashes that name its blobs.

A blob is named by the xxhash64 of its bytes and lives at ``files/<2 hex>/<14 hex>``; it is
written through a temp file, made read-only, and checked against its name whenever it is read
back, so a corrupt blob never reaches the workspace.
"""

from __future__ import annotations

import os
import random
import stat
from pathlib import Path

import pytest

from pivot.core.store.artifacts import ArtifactHasher
from pivot.core.store.cache import Cache
from pivot.core.store.hashing import (
    CHUNK,
    FileEntry,
    hash_bytes,
    hash_file,
    manifest_hash,
    walk_files,
)
from pivot.core.store.lock import is_digest
from pivot.exceptions import CacheError

DATA = b"hello\n"
DIGEST = "e4c191d091bd8853"  # xxhash64 of DATA


@pytest.fixture
def cache(tmp_path: Path) -> Cache:
    return Cache(tmp_path / "cache")


def corrupt(cache: Cache, digest: str, data: bytes) -> None:
    """Overwrite a blob in place, as a disk error or a careless hand would."""
    blob = cache.blob_path(digest)
    os.chmod(blob, stat.S_IRUSR | stat.S_IWUSR)
    blob.write_bytes(data)


def files_under(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


# -- hashes ------------------------------------------------------------------------------------


def test_a_hash_is_the_xxhash64_of_the_bytes_as_16_lowercase_hex_digits() -> None:
    assert hash_bytes(b"") == "ef46db3751d8e999"
    assert hash_bytes(DATA) == DIGEST
    assert is_digest(DIGEST)


def test_a_file_is_hashed_by_streaming_its_bytes(tmp_path: Path) -> None:
    data = random.Random(1).randbytes(2 * CHUNK + 17)  # three chunks, the last one short
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    assert hash_file(path) == hash_bytes(data)


ENTRIES = [FileEntry("a.txt", "1" * 16, 1), FileEntry("sub/b.txt", "2" * 16, 2)]


def test_a_folder_manifest_hash_does_not_depend_on_entry_order() -> None:
    assert manifest_hash(ENTRIES) == manifest_hash(list(reversed(ENTRIES)))


def test_a_folder_manifest_hash_is_stable_across_processes_and_versions() -> None:
    """Lock files and remotes hold it: it must never change for the same entries."""
    assert manifest_hash([]) == "ccab0b28617f1f56"
    assert manifest_hash(ENTRIES) == hash_bytes(
        b'[["a.txt","1111111111111111",1],["sub/b.txt","2222222222222222",2]]'
    )


@pytest.mark.parametrize(
    "changed",
    [
        FileEntry("c.txt", "1" * 16, 1),  # renamed
        FileEntry("a.txt", "3" * 16, 1),  # other bytes
        FileEntry("a.txt", "1" * 16, 5),  # other size
    ],
    ids=["path", "hash", "size"],
)
def test_a_folder_manifest_hash_changes_with_any_file_path_hash_or_size(
    changed: FileEntry,
) -> None:
    assert manifest_hash([changed, ENTRIES[1]]) != manifest_hash(ENTRIES)


def test_walk_files_lists_every_regular_file_as_a_sorted_relative_posix_path(
    tmp_path: Path,
) -> None:
    for rel in ("b.txt", "a/z.txt", "a/b/c.txt", ".hidden"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(rel)
    (tmp_path / "empty").mkdir()
    assert walk_files(tmp_path) == [".hidden", "a/b/c.txt", "a/z.txt", "b.txt"]


def test_a_folder_hash_ignores_mtimes_and_equals_the_manifest_of_its_files(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "shards"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "b.txt").write_bytes(b"bb")
    (folder / "a.txt").write_bytes(b"a")
    record = ArtifactHasher(tmp_path, None).hash_path("shards")
    assert record is not None and record.files is not None
    assert [e.path for e in record.files] == ["a.txt", "sub/b.txt"]
    assert record.size == 3
    assert record.hash == manifest_hash(
        [FileEntry("a.txt", hash_bytes(b"a"), 1), FileEntry("sub/b.txt", hash_bytes(b"bb"), 2)]
    )
    for path in folder.rglob("*.txt"):
        os.utime(path, ns=(1, 1))
    assert ArtifactHasher(tmp_path, None).hash_path("shards") == record


# -- adding blobs ------------------------------------------------------------------------------


def test_a_blob_lives_under_files_in_a_folder_named_by_its_first_two_hex_digits(
    cache: Cache,
) -> None:
    assert cache.add_bytes(DATA, DIGEST) is True
    assert cache.blob_path(DIGEST) == cache.root / "files" / "e4" / "c191d091bd8853"
    assert cache.blob_path(DIGEST).read_bytes() == DATA
    assert cache.has(DIGEST)


def test_a_blob_is_read_only(cache: Cache) -> None:
    cache.add_bytes(DATA, DIGEST)
    mode = stat.S_IMODE(cache.blob_path(DIGEST).stat().st_mode)
    assert mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH) == 0


def test_adding_a_file_copies_it_and_leaves_the_source_alone(cache: Cache, tmp_path: Path) -> None:
    source = tmp_path / "out.txt"
    source.write_bytes(DATA)
    assert cache.add_file(source, DIGEST) is True
    source.write_bytes(b"edited")  # the blob is a copy, not a link
    assert cache.blob_path(DIGEST).read_bytes() == DATA
    assert os.access(source, os.W_OK)


def test_adding_a_blob_already_there_is_a_no_op_that_returns_false(cache: Cache) -> None:
    cache.add_bytes(DATA, DIGEST)
    calls: list[Path] = []
    assert cache.add_written(DIGEST, calls.append) is False
    assert cache.add_bytes(DATA, DIGEST) is False
    assert calls == []  # the writer is not even asked


def test_add_written_lets_the_caller_fill_a_temp_file_renamed_into_place(cache: Cache) -> None:
    seen: list[Path] = []

    def download(tmp: Path) -> None:
        seen.append(tmp)
        tmp.write_bytes(DATA)

    assert cache.add_written(DIGEST, download) is True
    assert seen[0] != cache.blob_path(DIGEST) and seen[0].parent == cache.blob_path(DIGEST).parent
    assert not seen[0].exists()
    assert files_under(cache.files) == ["e4/c191d091bd8853"]


def test_a_failed_write_leaves_neither_a_blob_nor_a_temp_file(cache: Cache) -> None:
    def broken(tmp: Path) -> None:
        tmp.write_bytes(DATA[:2])
        raise OSError("connection reset")

    with pytest.raises(OSError, match="connection reset"):
        cache.add_written(DIGEST, broken)
    assert not cache.has(DIGEST)
    assert files_under(cache.files) == []


@pytest.mark.parametrize(
    "digest",
    ["../../../etc/passwd", "E4C191D091BD8853", "e4c191d091bd885", "e4c191d091bd8853/", ""],
)
def test_a_name_that_is_not_a_digest_never_becomes_a_cache_path(cache: Cache, digest: str) -> None:
    with pytest.raises(CacheError, match="not a blob hash"):
        cache.blob_path(digest)


# -- reading blobs back ------------------------------------------------------------------------


def test_restore_writes_an_ordinary_writable_copy_of_the_blob(cache: Cache, tmp_path: Path) -> None:
    cache.add_bytes(DATA, DIGEST)
    target = tmp_path / "work" / "data" / "out.txt"
    cache.restore(DIGEST, target)
    assert target.read_bytes() == DATA
    target.write_bytes(b"changed")  # not a link into the cache
    assert cache.verify(DIGEST)


def test_restoring_a_blob_not_in_the_cache_is_a_cache_error(cache: Cache, tmp_path: Path) -> None:
    with pytest.raises(CacheError, match="is not in the cache"):
        cache.restore(DIGEST, tmp_path / "out.txt")
    assert not (tmp_path / "out.txt").exists()


def test_verify_checks_the_bytes_against_the_name(cache: Cache) -> None:
    assert not cache.verify(DIGEST)  # missing
    cache.add_bytes(DATA, DIGEST)
    assert cache.verify(DIGEST)
    corrupt(cache, DIGEST, b"HELLO\n")
    assert not cache.verify(DIGEST)


def test_a_corrupt_blob_is_detected_on_restore_removed_and_never_written_to_the_workspace(
    cache: Cache, tmp_path: Path
) -> None:
    cache.add_bytes(DATA, DIGEST)
    corrupt(cache, DIGEST, b"HELLO\n")  # same size, other bytes
    target = tmp_path / "out.txt"
    target.write_bytes(b"what the user has")
    with pytest.raises(CacheError, match=f"cache blob {DIGEST} .* is corrupt"):
        cache.restore(DIGEST, target)
    assert target.read_bytes() == b"what the user has"
    assert not cache.has(DIGEST)  # quarantined: the next run re-creates it
    assert [p.name for p in tmp_path.iterdir() if p.name != "cache"] == ["out.txt"]


def test_a_blob_can_be_added_again_after_it_was_quarantined(cache: Cache, tmp_path: Path) -> None:
    cache.add_bytes(DATA, DIGEST)
    corrupt(cache, DIGEST, b"junk")
    cache.quarantine(DIGEST)
    cache.quarantine(DIGEST)  # twice is fine
    assert cache.add_bytes(DATA, DIGEST) is True
    cache.restore(DIGEST, tmp_path / "out.txt")
    assert (tmp_path / "out.txt").read_bytes() == DATA
