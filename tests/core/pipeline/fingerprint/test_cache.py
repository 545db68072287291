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
    cached = load_cached_fingerprint(fingerprint_cache_entry(fp))
    assert cached is not None and not cached.refreshed
    loaded = cached.fingerprint
    assert loaded == fp
    assert loaded.file_stats == fp.file_stats
    assert "pkg:polars" in loaded.manifest


def test_loading_does_no_parsing(fp_project: FpProject, monkeypatch: pytest.MonkeyPatch) -> None:
    blob = fingerprint_cache_entry(_fingerprint(fp_project))

    def no_parsing(*args: object, **kwargs: object) -> ast.Module:
        raise AssertionError("a cached fingerprint must load without parsing")

    monkeypatch.setattr(ast, "parse", no_parsing)
    assert load_cached_fingerprint(blob) is not None


def test_touching_a_file_keeps_the_entry_with_the_new_stat(fp_project: FpProject) -> None:
    fp = _fingerprint(fp_project)
    blob = fingerprint_cache_entry(fp)
    os.utime(fp_project.root / "helpers.py")  # new mtime, same content
    cached = load_cached_fingerprint(blob, str(fp_project.root))
    assert cached is not None and cached.refreshed
    assert cached.fingerprint == fp
    stat = next(s for s in cached.fingerprint.file_stats if s.path.endswith("helpers.py"))
    assert stat.mtime_ns == (fp_project.root / "helpers.py").stat().st_mtime_ns


def test_editing_another_definition_keeps_the_entry(fp_project: FpProject) -> None:
    """Only the statements behind the names a fingerprint read matter: a new function above
    the one it uses moves that one's source lines, nothing else."""
    fp = _fingerprint(fp_project)
    blob = fingerprint_cache_entry(fp)
    fp_project.edit("helpers.py", "def scale", "def unused():\n    return 1\n\n\ndef scale")
    cached = load_cached_fingerprint(blob, str(fp_project.root))
    assert cached is not None and cached.refreshed
    assert cached.fingerprint.manifest == fp.manifest
    fresh = fp_project.fingerprint()
    assert cached.fingerprint.sources == fresh.sources  # lines moved with the text
    assert fresh.sources["func:helpers.scale"].line == fp.sources["func:helpers.scale"].line + 4


def test_a_comment_inside_a_read_definition_recomputes(fp_project: FpProject) -> None:
    # The hash would not change, but the text `explain` shows would be stale.
    blob = fingerprint_cache_entry(_fingerprint(fp_project))
    fp_project.edit("helpers.py", "* 2", "* 2  # doubled")
    assert load_cached_fingerprint(blob, str(fp_project.root)) is None


def test_editing_a_read_definition_invalidates(fp_project: FpProject) -> None:
    blob = fingerprint_cache_entry(_fingerprint(fp_project))
    fp_project.edit("helpers.py", "* 2", "* 3")
    assert load_cached_fingerprint(blob, str(fp_project.root)) is None


def test_deleting_a_file_invalidates(fp_project: FpProject) -> None:
    blob = fingerprint_cache_entry(_fingerprint(fp_project))
    (fp_project.root / "helpers.py").unlink()
    assert load_cached_fingerprint(blob) is None


def test_replacing_a_file_is_checked_by_content(fp_project: FpProject) -> None:
    blob = fingerprint_cache_entry(_fingerprint(fp_project))
    helpers = fp_project.root / "helpers.py"
    st = helpers.stat()
    replacement = fp_project.root / "helpers.py.new"
    replacement.write_bytes(helpers.read_bytes())
    os.utime(replacement, ns=(st.st_atime_ns, st.st_mtime_ns))
    os.replace(replacement, helpers)  # same bytes, size and mtime; another inode
    assert load_cached_fingerprint(blob) is None  # without the project root: recomputed
    cached = load_cached_fingerprint(blob, str(fp_project.root))
    assert cached is not None and cached.refreshed


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
    assert load_cached_fingerprint(blob, str(fp_project.root)) is None


def test_racy_entries_stay_valid_while_the_bytes_are_the_same(fp_project: FpProject) -> None:
    fp = _fingerprint(fp_project, aged=False)
    cached = load_cached_fingerprint(fingerprint_cache_entry(fp))
    assert cached is not None and cached.fingerprint == fp


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
    cached = load_cached_fingerprint(blob)
    assert cached is not None and cached.fingerprint == fp
    source.write_text("X = 2\n", encoding="utf-8")
    assert load_cached_fingerprint(blob) is None


@pytest.mark.parametrize(
    "pipeline",
    [
        "import consts\n\nLIMIT = consts.N * 10\n\n\ndef train(x):\n    return min(x, LIMIT)\n",
        "from consts import *\n\n\ndef train(x):\n    return min(x, N)\n",
    ],
    ids=["computed-from-a-module", "star-import"],
)
def test_the_module_a_constant_came_from_invalidates(fp_project: FpProject, pipeline: str) -> None:
    """The walk reads the value, not consts.py's source; the entry must still depend on it."""
    fp_project.write_all({"consts.py": "N = 3\n", "pipeline.py": pipeline})
    _age([fp_project.root / "consts.py", fp_project.root / "pipeline.py"])
    fp = fp_project.fingerprint()
    assert any(path.endswith("consts.py") for path in fp.files)
    blob = fingerprint_cache_entry(fp)
    fp_project.edit("consts.py", "N = 3", "N = 4")
    assert load_cached_fingerprint(blob, str(fp_project.root)) is None
    assert fp_project.fingerprint().manifest != fp.manifest
