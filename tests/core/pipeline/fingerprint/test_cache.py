"""Cached fingerprints load with a stat per file, and stop loading when a file changes."""

from __future__ import annotations

import ast
import json
import os
import time
from pathlib import Path

import pytest

from pivot.core.pipeline.fingerprint import (
    CodeFingerprint,
    fingerprint_cache_entry,
    load_cached_fingerprint,
)
from tests.core.pipeline.fingerprint.conftest import FpProject

HELPERS = "import polars as pl\n\n\ndef scale(x):\n    return pl.lit(x) * 2\n"
PIPELINE = "from helpers import scale\n\n\ndef train(x):\n    return scale(x)\n"
HOUR_NS = 3600 * 10**9


def _age(paths: list[Path]) -> None:
    """Make files look edited an hour ago, so reading them now is not racy."""
    past = time.time_ns() - HOUR_NS
    for path in paths:
        os.utime(path, ns=(past, past))


def _fingerprint(fp_project: FpProject, *, aged: bool = True) -> CodeFingerprint:
    fp_project.write_all({"helpers.py": HELPERS, "pipeline.py": PIPELINE})
    if aged:
        _age([fp_project.root / "helpers.py", fp_project.root / "pipeline.py"])
    return fp_project.fingerprint()


def test_round_trip(fp_project: FpProject) -> None:
    fp = _fingerprint(fp_project)
    loaded = load_cached_fingerprint(fingerprint_cache_entry(fp))
    assert loaded == fp
    assert loaded is not None and loaded.file_stats == fp.file_stats
    assert "pkg:polars" in loaded.manifest


def test_loading_does_no_parsing(fp_project: FpProject, monkeypatch: pytest.MonkeyPatch) -> None:
    blob = fingerprint_cache_entry(_fingerprint(fp_project))

    def no_parsing(*args: object, **kwargs: object) -> ast.Module:
        raise AssertionError("a cached fingerprint must load without parsing")

    monkeypatch.setattr(ast, "parse", no_parsing)
    assert load_cached_fingerprint(blob) is not None


def test_touching_a_file_invalidates(fp_project: FpProject) -> None:
    blob = fingerprint_cache_entry(_fingerprint(fp_project))
    os.utime(fp_project.root / "helpers.py")  # new mtime, same content
    assert load_cached_fingerprint(blob) is None


def test_editing_a_file_invalidates(fp_project: FpProject) -> None:
    blob = fingerprint_cache_entry(_fingerprint(fp_project))
    fp_project.edit("helpers.py", "* 2", "* 3")
    assert load_cached_fingerprint(blob) is None


def test_deleting_a_file_invalidates(fp_project: FpProject) -> None:
    blob = fingerprint_cache_entry(_fingerprint(fp_project))
    (fp_project.root / "helpers.py").unlink()
    assert load_cached_fingerprint(blob) is None


def test_replacing_a_file_invalidates(fp_project: FpProject) -> None:
    blob = fingerprint_cache_entry(_fingerprint(fp_project))
    helpers = fp_project.root / "helpers.py"
    st = helpers.stat()
    replacement = fp_project.root / "helpers.py.new"
    replacement.write_bytes(helpers.read_bytes())
    os.utime(replacement, ns=(st.st_atime_ns, st.st_mtime_ns))
    os.replace(replacement, helpers)  # same bytes, size and mtime; another inode
    assert load_cached_fingerprint(blob) is None


def test_same_size_edit_within_the_same_tick_is_caught(fp_project: FpProject) -> None:
    # Files written just now are "racy": an edit that keeps size and mtime (coarse timestamp
    # filesystems, or two writes in one clock tick) must still invalidate the entry.
    fp = _fingerprint(fp_project, aged=False)
    assert all(stat.racy for stat in fp.file_stats)
    blob = fingerprint_cache_entry(fp)
    helpers = fp_project.root / "helpers.py"
    st = helpers.stat()
    helpers.write_text(HELPERS.replace("* 2", "* 3"), encoding="utf-8")
    os.utime(helpers, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert helpers.stat().st_size == st.st_size
    assert load_cached_fingerprint(blob) is None


def test_racy_entries_stay_valid_while_the_bytes_are_the_same(fp_project: FpProject) -> None:
    fp = _fingerprint(fp_project, aged=False)
    assert load_cached_fingerprint(fingerprint_cache_entry(fp)) == fp


def test_package_version_change_invalidates(fp_project: FpProject) -> None:
    data = json.loads(fingerprint_cache_entry(_fingerprint(fp_project)))
    data["manifest"]["pkg:polars"] = "0.0.1"
    assert load_cached_fingerprint(json.dumps(data).encode()) is None


def test_entries_from_another_python_are_ignored(fp_project: FpProject) -> None:
    data = json.loads(fingerprint_cache_entry(_fingerprint(fp_project)))
    data["python"] = "2.7"
    assert load_cached_fingerprint(json.dumps(data).encode()) is None


@pytest.mark.parametrize(
    "blob",
    [b"", b"not json", b"[]", b"{}", b'{"format": 1}', b"\xff\xfe", b'{"format": 1, "stats": 3}'],
)
def test_corrupt_blobs_are_not_entries(blob: bytes) -> None:
    assert load_cached_fingerprint(blob) is None


def test_handmade_fingerprints_are_validated_by_content(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text("X = 1\n", encoding="utf-8")
    fp = CodeFingerprint({"const:m.X": "0123456789abcdef"}, {}, (), (str(source),))
    blob = fingerprint_cache_entry(fp)
    assert load_cached_fingerprint(blob) == fp
    source.write_text("X = 2\n", encoding="utf-8")
    assert load_cached_fingerprint(blob) is None
