"""Source texts survive in the store so `explain` can diff a helper against its old version."""

from __future__ import annotations

from pathlib import Path

import pytest

from pivot.core.pipeline.fingerprint import SourceRecord, SourceStore, code_diff
from tests.core.pipeline.fingerprint.conftest import FpProject

HELPERS = """
THRESHOLD = 0.5


def scale(x):
    y = x * 2
    return y + THRESHOLD
"""
PIPELINE = "from helpers import scale\n\n\ndef train(x):\n    return scale(x)\n"


def test_records_round_trip_under_their_hash(fp_project: FpProject, tmp_path: Path) -> None:
    fp_project.write_all({"helpers.py": HELPERS, "pipeline.py": PIPELINE})
    fp = fp_project.fingerprint()
    store = SourceStore(tmp_path / "code")
    assert store.put_many(fp.sources, fp.manifest) == len(fp.sources)
    for key, record in fp.sources.items():
        digest = fp.manifest[key]
        assert (tmp_path / "code" / digest[:2] / digest[2:]).is_file()
        assert store.get(digest) == record
        assert digest in store
    assert store.put_many(fp.sources, fp.manifest) == 0  # already there: nothing rewritten
    leftovers = [p for p in (tmp_path / "code").rglob("*") if p.name.startswith(".tmp")]
    assert leftovers == []


def test_records_without_a_hash_or_with_a_version_are_skipped(tmp_path: Path) -> None:
    store = SourceStore(tmp_path)
    record = SourceRecord("pkg:polars", "", 0, "")
    assert store.put_many({"pkg:polars": record, "gone": record}, {"pkg:polars": "2.1.0"}) == 0
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "digest", ["", "../../etc/passwd", "ABCDEF0123456789", "0123", "0123456789abcdef0"]
)
def test_malformed_hashes_are_never_paths(tmp_path: Path, digest: str) -> None:
    store = SourceStore(tmp_path)
    assert store.get(digest) is None
    assert digest not in store
    with pytest.raises(ValueError):
        store.path_for(digest)


def test_corrupt_entries_read_as_missing(tmp_path: Path) -> None:
    store = SourceStore(tmp_path)
    digest = "0123456789abcdef"
    store.put(digest, SourceRecord("func:a.b", "a.py", 1, "def b():\n    pass\n"))
    store.path_for(digest).write_text("{not json", encoding="utf-8")
    assert store.get(digest) is None
    store.path_for(digest).write_text('{"key": "x"}', encoding="utf-8")
    assert store.get(digest) is None


def _edit_and_diff(fp_project: FpProject, tmp_path: Path, old: str, new: str) -> tuple[str, str]:
    fp_project.write_all({"helpers.py": HELPERS, "pipeline.py": PIPELINE})
    before = fp_project.fingerprint()
    store = SourceStore(tmp_path / "code")
    store.put_many(before.sources, before.manifest)
    fp_project.edit("helpers.py", old, new)
    after = fp_project.fingerprint()
    key = "func:helpers.scale"
    assert before.manifest[key] != after.manifest[key]
    fresh = code_diff(
        key, before.manifest[key], after.manifest[key], store, current=after.sources[key]
    )
    store.put_many(after.sources, after.manifest)
    stored = code_diff(key, before.manifest[key], after.manifest[key], store)
    return fresh, stored


def test_code_diff_shows_the_changed_lines_with_file_positions(
    fp_project: FpProject, tmp_path: Path
) -> None:
    fresh, stored = _edit_and_diff(fp_project, tmp_path, "y = x * 2", "y = x * 3")
    assert (
        fresh
        == stored
        == (
            "--- a/helpers.py:4 (func:helpers.scale)\n"
            "+++ b/helpers.py:4 (func:helpers.scale)\n"
            "@@ -4,3 +4,3 @@\n"
            " def scale(x):\n"
            "-    y = x * 2\n"
            "+    y = x * 3\n"
            "     return y + THRESHOLD\n"
        )
    )


def test_code_diff_follows_code_that_moved(fp_project: FpProject, tmp_path: Path) -> None:
    fresh, _ = _edit_and_diff(
        fp_project,
        tmp_path,
        "def scale(x):\n    y = x * 2",
        "# moved\n\ndef scale(x):\n    y = x + 2",
    )
    assert fresh.splitlines()[:3] == [
        "--- a/helpers.py:4 (func:helpers.scale)",
        "+++ b/helpers.py:6 (func:helpers.scale)",
        "@@ -4,3 +6,3 @@",
    ]


def test_code_diff_without_old_source_says_so(tmp_path: Path) -> None:
    current = SourceRecord("func:helpers.scale", "helpers.py", 3, "def scale(x):\n    return x\n")
    text = code_diff(
        "func:helpers.scale",
        "0123456789abcdef",
        "fedcba9876543210",
        SourceStore(tmp_path),
        current=current,
    )
    assert text.startswith("--- func:helpers.scale (old source not available)\n+++ b/helpers.py:3")
    assert "    def scale(x):" in text


def test_code_diff_of_added_removed_and_versioned_keys(tmp_path: Path) -> None:
    store = SourceStore(tmp_path)
    record = SourceRecord("func:m.f", "m.py", 1, "def f():\n    return 1\n")
    store.put("0123456789abcdef", record)
    added = code_diff("func:m.f", None, "0123456789abcdef", store)
    assert added.splitlines() == [
        "--- /dev/null (new)",
        "+++ b/m.py:1 (func:m.f)",
        "+def f():",
        "+    return 1",
    ]
    removed = code_diff("func:m.f", "0123456789abcdef", None, store)
    assert removed.splitlines()[0] == "--- a/m.py:1 (func:m.f)"
    assert "-    return 1" in removed
    assert code_diff("pkg:polars", "1.0.0", "2.1.0", store) == "pkg:polars: 1.0.0 -> 2.1.0\n"
    assert (
        code_diff("func:m.f", "0123456789abcdef", "0123456789abcdef", store)
        == "func:m.f: unchanged\n"
    )
    assert "(new source not available)" in code_diff(
        "func:m.f", "0123456789abcdef", "fedcba9876543210", store
    )


def test_code_diff_of_a_value_whose_text_did_not_change(tmp_path: Path) -> None:
    store = SourceStore(tmp_path)
    record = SourceRecord("const:m.X", "m.py", 1, "X = compute()\n")
    store.put("0123456789abcdef", record)
    text = code_diff("const:m.X", "0123456789abcdef", "fedcba9876543210", store, current=record)
    assert "source text unchanged" in text


def test_unwritable_store_is_a_typed_error(tmp_path: Path) -> None:
    from pivot.core.pipeline.fingerprint import FingerprintError

    blocker = tmp_path / "code"
    blocker.write_text("a file where a directory should be", encoding="utf-8")
    with pytest.raises(FingerprintError, match="cannot write code source"):
        SourceStore(blocker).put("0123456789abcdef", SourceRecord("k", "", 0, "x"))
