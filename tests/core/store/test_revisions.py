"""Reading files at a git revision: lock files from history go through the one lock parser."""

from __future__ import annotations

from pathlib import Path

import pytest

from pivot.core.store.cache import Cache
from pivot.core.store.hashing import hash_bytes
from pivot.core.store.lock import OutRecord, StageLock, dump_lock
from pivot.core.store.paths import PivotPaths
from pivot.core.store.revisions import RevisionReader
from pivot.exceptions import CacheError, LockFileError
from tests.helpers import TempProject, make_project

DEEP_LOCK = "schema: 1\nstage: make\nouts: " + "[" * 30000 + "]" * 30000 + "\n"


def _lock_for(path: str, data: bytes) -> str:
    out = OutRecord(path, hash_bytes(data), len(data))
    return dump_lock(StageLock("make", {}, {}, (), (out,)))


@pytest.fixture
def history(tmp_path: Path) -> TempProject:
    """HEAD~1 recorded out.txt ("old") as a cached output; HEAD holds a deeply nested lock."""
    project = make_project(tmp_path / "p")
    old = b"old\n"
    Cache(PivotPaths(project.root).cache).add_bytes(old, hash_bytes(old))
    project.write(".gitignore", "/out.txt\n")
    project.write(".pivot/stages/make.lock", _lock_for("out.txt", old))
    project.commit_all("old")
    project.write(".pivot/stages/make.lock", DEEP_LOCK)
    project.commit_all("deep")
    return project


def test_an_output_is_read_from_the_cache_through_the_lock_at_the_revision(
    history: TempProject,
) -> None:
    found = RevisionReader(history.root, "HEAD~1").find_file("out.txt")
    assert found is not None
    assert (found.source, found.stage) == ("cache", "make")
    assert found.read_bytes() == b"old\n"


def test_a_deeply_nested_lock_at_a_revision_is_an_error_not_a_crash(history: TempProject) -> None:
    with pytest.raises(LockFileError, match=r"\.pivot/stages/make\.lock at HEAD nests too deeply"):
        RevisionReader(history.root, "HEAD").find_file("out.txt")


def test_the_cli_reports_a_deeply_nested_lock_at_a_revision_in_one_line(
    history: TempProject,
) -> None:
    proc = history.pivot("data", "get", "out.txt", "--rev", "HEAD", "-o", "x.txt", check=None)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ")
    assert "nests too deeply" in lines[0]
    assert not (history.root / "x.txt").exists()


def test_a_lock_at_a_revision_gets_the_same_checks_as_a_lock_in_the_workspace(
    history: TempProject,
) -> None:
    escaping = _lock_for("out.txt", b"x").replace("path: out.txt", "path: ../escape.txt")
    history.write(".pivot/stages/make.lock", escaping)
    history.commit_all("escape")
    with pytest.raises(LockFileError, match="not a plain relative path"):
        RevisionReader(history.root, "HEAD").find_file("../escape.txt".replace("../", ""))


def test_a_corrupt_blob_is_never_materialised(history: TempProject, tmp_path: Path) -> None:
    found = RevisionReader(history.root, "HEAD~1").find_file("out.txt")
    assert found is not None and found.cache_path is not None
    blob = found.cache_path
    blob.chmod(0o644)
    blob.write_bytes(b"tampered\n")
    target = tmp_path / "restored.txt"
    with pytest.raises(CacheError, match="is corrupt"):
        found.materialise(target)
    assert not target.exists()
    assert list(tmp_path.glob("*pivot-tmp*")) == []
