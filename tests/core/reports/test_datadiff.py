"""The data diff engine and revision reading, on real files in temporary git repositories."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import polars as pl
import pytest
import xxhash
import yaml

from pivot.core.reports.datadiff import DataDiff, compute_data_diff, diff_files, diff_frames
from pivot.core.store.revisions import (
    RevisionReader,
    find_file_at_revision,
    list_files_at_revision,
    read_at_revision,
)
from pivot.exceptions import CacheError, DataDiffError, LockFileError, ProjectError, UsageError
from pivot.render.datadiff import render_json, render_markdown
from tests.helpers import REPO

GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.com",
}


class Repo:
    """A git repository whose project root (holding ``.pivot/``) may be a sub-folder."""

    def __init__(self, top: Path, root: Path) -> None:
        self.top = top
        self.root = root

    def git(self, *args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=self.top, env=GIT_ENV, capture_output=True, text=True, check=True
        ).stdout

    def write(self, rel: str, content: str | bytes) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
        return path

    def commit(self, message: str = "commit") -> None:
        self.git("add", "-A")
        self.git("commit", "-qm", message, "--allow-empty")

    def cache_output(self, stage: str, outs: dict[str, bytes | dict[str, bytes]]) -> None:
        """Record outputs as a pipeline run would: blobs in the cache, a lock naming them.

        A ``dict`` value is a directory output (relative file path -> content). The output
        files are also written to the workspace, and are git-ignored like real outputs.
        """
        entries = []
        for path, content in outs.items():
            if isinstance(content, dict):
                files = []
                for rel, data in sorted(content.items()):
                    files.append({"path": rel, "hash": self.put_blob(data), "size": len(data)})
                    self.write(f"{path}/{rel}", data)
                manifest = json.dumps(files, sort_keys=True).encode()
                entries.append(
                    {
                        "path": path,
                        "hash": xxhash.xxh64(manifest).hexdigest(),
                        "size": sum(len(d) for d in content.values()),
                        "files": files,
                    }
                )
            else:
                self.write(path, content)
                entries.append({"path": path, "hash": self.put_blob(content), "size": len(content)})
        lock = {
            "schema": 1,
            "stage": stage,
            "code": {f"self:{stage}": "0123456789abcdef"},
            "params": {},
            "deps": [],
            "outs": entries,
        }
        self.write(f".pivot/stages/{stage}.lock", yaml.safe_dump(lock, sort_keys=False))
        ignore = self.root / ".gitignore"
        known = ignore.read_text().splitlines() if ignore.exists() else []
        ignore.write_text("\n".join(sorted({*known, *(f"/{p}" for p in outs)})) + "\n")

    def put_blob(self, data: bytes) -> str:
        digest = xxhash.xxh64(data).hexdigest()
        blob = self.root / ".pivot" / "cache" / "files" / digest[:2] / digest[2:]
        blob.parent.mkdir(parents=True, exist_ok=True)
        if not blob.exists():
            blob.write_bytes(data)
            blob.chmod(0o444)
        return digest

    def drop_cache(self) -> None:
        for blob in (self.root / ".pivot" / "cache").rglob("*"):
            if blob.is_file():
                blob.chmod(0o644)
                blob.unlink()


def make_repo(top: Path, sub: str = "") -> Repo:
    top.mkdir(parents=True, exist_ok=True)
    root = top / sub if sub else top
    (root / ".pivot" / "stages").mkdir(parents=True)
    (root / ".pivot" / ".gitignore").write_text("/cache/\n/state.lmdb/\n")
    repo = Repo(top, root)
    repo.git("init", "-q")
    return repo


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return make_repo(tmp_path / "repo")


OLD_CSV = """\
id,name,price,qty
1,apple,1.5,10
2,banana,0.5,20
3,cherry,3.0,
4,date,2.0,7
"""

NEW_CSV = """\
id,name,price,qty
1,apple,1.75,10
3,cherry,3.0,
4,dates,2.0,8
5,elder,4.0,1
"""


def diff_text(repo: Repo, path: str, old: str, new: str, **kwargs: object) -> DataDiff:
    repo.write(path, old)
    repo.commit()
    repo.write(path, new)
    return compute_data_diff(repo.root, path, **kwargs)  # type: ignore[arg-type]


# -- by key -------------------------------------------------------------------------------


class TestByKey:
    def test_added_removed_and_modified_rows_with_changed_cells(self, repo: Repo) -> None:
        diff = diff_text(repo, "data/fruit.csv", OLD_CSV, NEW_CSV, keys=["id"])

        assert diff.status == "changed"
        assert diff.mode == "key"
        assert (diff.old.rows, diff.new.rows) == (4, 4)
        assert diff.old.source == "git"
        assert (diff.counts.added, diff.counts.removed, diff.counts.modified) == (1, 1, 2)
        assert diff.counts.unchanged == 1
        assert [(r.row, r.values) for r in diff.added_rows] == [(4, (5, "elder", 4.0, 1))]
        assert [(r.row, r.values) for r in diff.removed_rows] == [(2, (2, "banana", 0.5, 20))]
        changes = {
            row.key: {c.column: (c.old, c.new) for c in row.changes} for row in diff.modified_rows
        }
        assert changes == {
            (1,): {"price": (1.5, 1.75)},
            (4,): {"name": ("date", "dates"), "qty": (7, 8)},
        }
        assert dict(diff.changed_cells) == {"name": 1, "price": 1, "qty": 1}

    def test_modified_rows_carry_their_unchanged_values(self, repo: Repo) -> None:
        """The TUI shows a modified row whole: every compared column's new value."""
        diff = diff_text(repo, "data/fruit.csv", OLD_CSV, NEW_CSV, keys=["id"])
        assert diff.compared_columns == ("name", "price", "qty")
        assert {row.key: row.values for row in diff.modified_rows} == {
            (1,): ("apple", 1.75, 10),
            (4,): ("dates", 2.0, 8),
        }
        assert "values" not in json.dumps(diff.to_dict()["modified_rows"])

    def test_null_equals_null_but_null_to_value_is_a_change(self, repo: Repo) -> None:
        old = "id,v,w\n1,,x\n2,,y\n"
        new = "id,v,w\n1,,x\n2,5,y\n"
        diff = diff_text(repo, "n.csv", old, new, keys=["id"])
        assert diff.counts.modified == 1
        (row,) = diff.modified_rows
        assert row.key == (2,)
        assert [(c.column, c.old, c.new) for c in row.changes] == [("v", None, 5)]

    def test_compound_key_and_row_positions(self, repo: Repo) -> None:
        old = "a,b,v\nx,1,10\nx,2,20\ny,1,30\n"
        new = "a,b,v\ny,1,30\nx,2,21\nx,1,10\n"
        diff = diff_text(repo, "c.csv", old, new, keys=["a", "b"])
        assert diff.counts.modified == 1
        (row,) = diff.modified_rows
        assert row.key == ("x", 2)
        assert (row.old_row, row.new_row) == (2, 2)

    def test_listings_follow_row_order_on_each_side_when_rows_move(self) -> None:
        """Modified and added rows come in new-file order, removed ones in old-file order;
        the cap keeps the first ones. A null key matches a null key."""
        old = pl.DataFrame({"id": [None, 1, 2, 3, 4, 5, 6], "v": [0, 1, 2, 3, 4, 5, 6]})
        new = pl.DataFrame({"id": [9, 5, 3, 8, 1, None, 7], "v": [9, 50, 30, 8, 10, 0, 7]})
        diff = diff_frames(old, new, keys=["id"], max_rows=2)

        counts = diff.counts
        assert (counts.added, counts.removed, counts.modified, counts.unchanged) == (3, 3, 3, 1)
        assert [(r.key, r.old_row, r.new_row) for r in diff.modified_rows] == [
            ((5,), 6, 2),
            ((3,), 4, 3),
        ]
        assert [r.values for r in diff.added_rows] == [(9, 9), (8, 8)]
        assert [(r.row, r.values) for r in diff.removed_rows] == [(3, (2, 2)), (5, (4, 4))]
        assert diff.truncated

    def test_reorder_only_by_key(self, repo: Repo) -> None:
        diff = diff_text(repo, "r.csv", OLD_CSV, _reverse_rows(OLD_CSV), keys=["id"])
        assert diff.status == "reordered"
        assert diff.counts.moved == 4
        assert diff.counts.modified == 0

    def test_duplicate_key_names_file_and_value(self, repo: Repo) -> None:
        new = OLD_CSV + "3,cherry again,1.0,1\n"
        with pytest.raises(DataDiffError, match=r"duplicate key in dup\.csv \(workspace\): id=3"):
            diff_text(repo, "dup.csv", OLD_CSV, new, keys=["id"])

    def test_duplicate_key_in_old_version(self, repo: Repo) -> None:
        old = OLD_CSV + "1,again,1.0,1\n"
        with pytest.raises(DataDiffError, match=r"dup\.csv at HEAD: id=1 appears 2 times"):
            diff_text(repo, "dup.csv", old, NEW_CSV, keys=["id"])

    def test_key_missing_on_one_side(self, repo: Repo) -> None:
        new = NEW_CSV.replace("id,", "ident,", 1)
        with pytest.raises(
            DataDiffError, match=r"key column 'id' missing from k\.csv \(workspace\)"
        ):
            diff_text(repo, "k.csv", OLD_CSV, new, keys=["id"])

    def test_key_dtype_change_still_matches(self, repo: Repo) -> None:
        old = "id,v\n1,a\n2,b\n"
        new = "id,v\n1,a\n2,c\nx3,d\n"
        diff = diff_text(repo, "t.csv", old, new, keys=["id"])
        assert [t.to_dict() for t in diff.schema.type_changes] == [
            {"name": "id", "old": "Int64", "new": "String"}
        ]
        assert (diff.counts.added, diff.counts.modified, diff.counts.unchanged) == (1, 1, 1)


def _reverse_rows(csv: str) -> str:
    header, *rows = csv.strip().splitlines()
    return "\n".join([header, *reversed(rows)]) + "\n"


# -- schema -------------------------------------------------------------------------------


class TestSchema:
    def test_added_removed_and_retyped_columns(self, repo: Repo) -> None:
        old = "id,a,b,c\n1,x,1,5\n2,y,2,6\n"
        new = "id,a,c,d\n1,x,5.0,t\n2,z,6.5,u\n"
        diff = diff_text(repo, "s.csv", old, new, keys=["id"])
        schema = diff.schema
        assert [c.to_dict() for c in schema.added] == [{"name": "d", "dtype": "String"}]
        assert [c.to_dict() for c in schema.removed] == [{"name": "b", "dtype": "Int64"}]
        assert [t.to_dict() for t in schema.type_changes] == [
            {"name": "c", "old": "Int64", "new": "Float64"}
        ]
        # Numeric type change: 5 and 5.0 are equal, 6 and 6.5 are not.
        changes = {r.key: {c.column: (c.old, c.new) for c in r.changes} for r in diff.modified_rows}
        assert changes == {(2,): {"a": ("y", "z"), "c": (6, 6.5)}}
        assert diff.status == "changed"

    def test_type_change_to_string_compares_as_strings(self, repo: Repo) -> None:
        old = "id,v\n1,10\n2,20\n"
        new = "id,v\n1,10\n2,n/a\n"
        diff = diff_text(repo, "s.csv", old, new, keys=["id"])
        assert diff.schema.type_changes[0].to_dict() == {
            "name": "v",
            "old": "Int64",
            "new": "String",
        }
        assert [(r.key, r.changes[0].old, r.changes[0].new) for r in diff.modified_rows] == [
            ((2,), 20, "n/a")
        ]

    def test_column_order_change_alone(self, repo: Repo) -> None:
        diff = diff_text(repo, "o.csv", "a,b\n1,2\n", "b,a\n2,1\n")
        assert diff.schema.order_changed
        assert not diff.schema.changed
        assert diff.counts.modified == 0
        assert diff.status == "changed"


# -- by position --------------------------------------------------------------------------


class TestByPosition:
    def test_identical(self, repo: Repo) -> None:
        diff = diff_text(repo, "same.csv", OLD_CSV, OLD_CSV)
        assert diff.status == "identical"
        assert diff.counts.unchanged == 4

    def test_reordered_only(self, repo: Repo) -> None:
        diff = diff_text(repo, "r.csv", OLD_CSV, _reverse_rows(OLD_CSV))
        assert diff.status == "reordered"
        assert diff.mode == "position"
        assert diff.counts.moved == 4
        assert diff.modified_rows == ()
        assert "reordered only" in render_markdown([diff])

    def test_same_rows_with_one_changed_is_not_a_reorder(self, repo: Repo) -> None:
        new = _reverse_rows(OLD_CSV).replace("banana", "BANANA")
        diff = diff_text(repo, "r.csv", OLD_CSV, new)
        assert diff.status == "changed"
        assert diff.counts.modified == 4

    def test_row_by_row_then_extra_rows_at_the_end(self, repo: Repo) -> None:
        old = "a,b\n1,x\n2,y\n3,z\n"
        new = "a,b\n1,x\n2,Y\n3,z\n4,w\n5,v\n"
        diff = diff_text(repo, "p.csv", old, new)
        assert (diff.counts.added, diff.counts.removed, diff.counts.modified) == (2, 0, 1)
        (row,) = diff.modified_rows
        assert (row.old_row, row.new_row) == (2, 2)
        assert [(c.column, c.old, c.new) for c in row.changes] == [("b", "y", "Y")]
        assert (diff.compared_columns, row.values) == (("a", "b"), (2, "Y"))
        assert [(r.row, r.values) for r in diff.added_rows] == [(4, (4, "w")), (5, (5, "v"))]
        assert diff.counts.moved is None

    def test_rows_removed_at_the_end(self, repo: Repo) -> None:
        diff = diff_text(repo, "p.csv", "a\n1\n2\n3\n", "a\n1\n")
        assert (diff.counts.removed, diff.counts.modified) == (2, 0)
        assert [r.row for r in diff.removed_rows] == [2, 3]


# -- formats ------------------------------------------------------------------------------


FRAME_OLD = pl.DataFrame({"id": [1, 2, 3], "v": [1.0, 2.0, None], "s": ["a", "b", "c"]})
FRAME_NEW = pl.DataFrame({"id": [1, 2, 4], "v": [1.0, 2.5, 4.0], "s": ["a", "b", "d"]})


@pytest.mark.parametrize(
    ("name", "write"),
    [
        ("t.parquet", lambda f, p: f.write_parquet(p)),
        ("t.tsv", lambda f, p: f.write_csv(p, separator="\t")),
        ("t.json", lambda f, p: f.write_json(p)),
        ("t.jsonl", lambda f, p: f.write_ndjson(p)),
        ("t.ndjson", lambda f, p: f.write_ndjson(p)),
    ],
)
def test_every_format_by_key(repo: Repo, name: str, write: object) -> None:
    assert callable(write)
    write(FRAME_OLD, repo.root / name)
    repo.commit()
    write(FRAME_NEW, repo.root / name)
    diff = compute_data_diff(repo.root, name, keys=["id"])
    assert (diff.counts.added, diff.counts.removed, diff.counts.modified) == (1, 1, 1)
    assert diff.modified_rows[0].changes[0].to_dict() == {"old": 2.0, "new": 2.5}


def test_parquet_keeps_rich_types(repo: Repo) -> None:
    import datetime as dt

    old = pl.DataFrame({"id": [1, 2], "day": [dt.date(2024, 1, 1), dt.date(2024, 1, 2)]})
    new = old.with_columns(
        pl.when(pl.col("id") == 2).then(dt.date(2025, 5, 5)).otherwise("day").alias("day")
    )
    old.write_parquet(repo.root / "d.parquet")
    repo.commit()
    new.write_parquet(repo.root / "d.parquet")
    diff = compute_data_diff(repo.root, "d.parquet", keys=["id"])
    assert diff.old.columns[1].dtype == "Date"
    document = json.loads(render_json([diff]))
    assert document["files"][0]["modified_rows"][0]["changes"] == {
        "day": {"old": "2024-01-02", "new": "2025-05-05"}
    }


def test_header_only_csv_has_no_types_to_compare(repo: Repo) -> None:
    diff = diff_text(repo, "h.csv", "id,v\n", "id,v\n1,2\n", keys=["id"])
    assert diff.schema.type_changes == ()
    assert diff.counts.added == 1


def test_nested_json_values(repo: Repo) -> None:
    old = '[{"id": 1, "tags": ["a"], "p": {"x": 1}}, {"id": 2, "tags": ["b"], "p": {"x": 2}}]'
    new = '[{"id": 1, "tags": ["a"], "p": {"x": 1}}, {"id": 2, "tags": ["b", "c"], "p": {"x": 2}}]'
    diff = diff_text(repo, "n.json", old, new, keys=["id"])
    (row,) = diff.modified_rows
    assert [(c.column, c.old, c.new) for c in row.changes] == [("tags", ["b"], ["b", "c"])]
    assert row.to_dict(diff.keys)["changes"] == {"tags": {"old": ["b"], "new": ["b", "c"]}}


def test_text_rendering(repo: Repo) -> None:
    import io

    from rich.console import Console

    from pivot.render.datadiff import render_text

    diff = diff_text(repo, "t.csv", OLD_CSV, NEW_CSV, keys=["id"])
    buffer = io.StringIO()
    render_text([diff], Console(file=buffer, width=200))
    out = buffer.getvalue()
    assert "t.csv  HEAD " in out and "→ workspace · csv · by key id" in out
    assert "rows    4 → 4" in out
    assert "+ added rows (1)" in out and "- removed rows (1)" in out
    assert "~ modified rows (2)" in out
    assert "date → dates" in out


# -- bad input ----------------------------------------------------------------------------


class TestBadInput:
    def test_unparsable_csv(self, repo: Repo) -> None:
        with pytest.raises(DataDiffError, match=r"cannot read bad\.csv \(workspace\) as csv"):
            diff_text(repo, "bad.csv", "a,b\n1,2\n", "a,b\n1,2\n3,4,5,6\n")

    def test_binary_content(self, repo: Repo) -> None:
        repo.write("bin.csv", "a\n1\n")
        repo.commit()
        repo.write("bin.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
        with pytest.raises(DataDiffError, match=r"bin\.csv \(workspace\) looks like a binary file"):
            compute_data_diff(repo.root, "bin.csv")

    def test_not_parquet(self, repo: Repo) -> None:
        with pytest.raises(DataDiffError, match="is not a Parquet file"):
            diff_text(repo, "x.parquet", "a\n1\n", "a\n2\n")

    def test_json_that_is_not_records(self, repo: Repo) -> None:
        with pytest.raises(DataDiffError, match="not a JSON array of records"):
            diff_text(repo, "x.json", "[]", '{"a": 1}')

    def test_broken_json(self, repo: Repo) -> None:
        with pytest.raises(DataDiffError, match=r"cannot read x\.jsonl \(workspace\) as jsonl"):
            diff_text(repo, "x.jsonl", '{"a": 1}\n', '{"a": 1}\n{"a": \n')

    def test_unsupported_extension(self, repo: Repo) -> None:
        with pytest.raises(DataDiffError, match=r"unsupported data format \(extension '\.png'\)"):
            diff_text(repo, "x.png", "a", "b")

    def test_file_in_neither_place(self, repo: Repo) -> None:
        repo.commit()
        with pytest.raises(
            DataDiffError, match=r"ghost\.csv exists neither in the workspace nor at HEAD"
        ):
            compute_data_diff(repo.root, "ghost.csv")

    def test_unknown_revision(self, repo: Repo) -> None:
        repo.write("a.csv", "a\n1\n")
        repo.commit()
        with pytest.raises(UsageError, match="unknown git revision 'nope'"):
            compute_data_diff(repo.root, "a.csv", rev="nope")

    def test_not_a_git_repository(self, tmp_path: Path) -> None:
        (tmp_path / "p" / ".pivot").mkdir(parents=True)
        with pytest.raises(ProjectError, match="not inside a git repository"):
            compute_data_diff(tmp_path / "p", "a.csv")


# -- listing limits and output forms ------------------------------------------------------


def test_max_rows_caps_listing_but_not_counts(repo: Repo) -> None:
    old = "id,v\n" + "".join(f"{i},{i}\n" for i in range(100))
    new = "id,v\n" + "".join(f"{i},{i + (i % 2)}\n" for i in range(120))
    diff = diff_text(repo, "m.csv", old, new, keys=["id"], max_rows=3)
    assert (diff.counts.added, diff.counts.modified) == (20, 50)
    assert [r.row for r in diff.added_rows] == [101, 102, 103]
    assert [r.key for r in diff.modified_rows] == [(1,), (3,), (5,)]
    assert diff.truncated
    assert json.loads(render_json([diff]))["files"][0]["truncated"] is True


def test_summary_only_counts_without_rows(repo: Repo) -> None:
    diff = diff_text(repo, "s.csv", OLD_CSV, NEW_CSV, keys=["id"], summary=True)
    assert diff.summary_only
    assert (diff.counts.added, diff.counts.removed, diff.counts.modified) == (1, 1, 2)
    assert (diff.added_rows, diff.removed_rows, diff.modified_rows) == ((), (), ())
    assert dict(diff.changed_cells) == {"name": 1, "price": 1, "qty": 1}


def test_summary_turns_on_past_the_size_threshold(
    repo: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pivot.core.reports.datadiff as datadiff

    monkeypatch.setattr(datadiff, "SUMMARY_THRESHOLD_BYTES", 10)
    diff = diff_text(repo, "s.csv", OLD_CSV, NEW_CSV, keys=["id"])
    assert diff.summary_only
    assert diff.summary_reason is not None and "--no-summary" in diff.summary_reason
    forced = compute_data_diff(repo.root, "s.csv", keys=["id"], summary=False)
    assert not forced.summary_only and forced.modified_rows


def test_json_document_is_strict_json(repo: Repo) -> None:
    old = pl.DataFrame({"id": [1, 2], "x": [1.0, float("nan")]})
    new = pl.DataFrame({"id": [1, 2], "x": [float("inf"), 2.0]})
    old.write_parquet(repo.root / "n.parquet")
    repo.commit()
    new.write_parquet(repo.root / "n.parquet")
    text = render_json([compute_data_diff(repo.root, "n.parquet", keys=["id"])])
    document = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-JSON {c}"))
    assert document["schema_version"] == 1
    changes = {
        tuple(r["key"].values()): r["changes"]["x"] for r in document["files"][0]["modified_rows"]
    }
    assert changes == {(1,): {"old": 1.0, "new": "Infinity"}, (2,): {"old": "NaN", "new": 2.0}}


def test_file_added_since_revision(repo: Repo) -> None:
    repo.commit()
    repo.write("new.csv", OLD_CSV)
    diff = compute_data_diff(repo.root, "new.csv", keys=["id"])
    assert diff.status == "added"
    assert diff.old.source == "missing"
    assert diff.counts.added == 4


def test_file_deleted_since_revision(repo: Repo) -> None:
    repo.write("gone.csv", OLD_CSV)
    repo.commit()
    (repo.root / "gone.csv").unlink()
    diff = compute_data_diff(repo.root, "gone.csv")
    assert diff.status == "deleted"
    assert diff.counts.removed == 4


def test_diff_files_without_git(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text(OLD_CSV)
    (tmp_path / "b.csv").write_text(NEW_CSV)
    diff = diff_files(tmp_path / "a.csv", tmp_path / "b.csv", keys=["id"])
    assert diff.counts.modified == 2


# -- revisions: git and cache -------------------------------------------------------------


class TestRevisions:
    def test_reads_git_from_a_project_in_a_subfolder(self, tmp_path: Path) -> None:
        repo = make_repo(tmp_path / "top", sub="proj")
        repo.write("data/a.csv", "a\n1\n")
        repo.commit()
        repo.write("data/a.csv", "a\n2\n")
        repo.commit()
        assert read_at_revision(repo.root, "data/a.csv", "HEAD~1") == b"a\n1\n"
        assert read_at_revision(repo.root, "./data/a.csv", "HEAD") == b"a\n2\n"
        found = find_file_at_revision(repo.root, "data/a.csv", "HEAD")
        assert found is not None and found.source == "git"

    def test_output_from_the_cache_at_an_older_commit(self, repo: Repo) -> None:
        repo.cache_output("clean", {"out/clean.csv": OLD_CSV.encode()})
        repo.commit("first run")
        repo.cache_output("clean", {"out/clean.csv": NEW_CSV.encode()})
        repo.commit("second run")
        assert "out/clean.csv" not in repo.git("ls-files")

        assert read_at_revision(repo.root, "out/clean.csv", "HEAD~1") == OLD_CSV.encode()
        assert read_at_revision(repo.root, "out/clean.csv", "HEAD") == NEW_CSV.encode()
        found = find_file_at_revision(repo.root, "out/clean.csv", "HEAD~1")
        assert found is not None
        assert (found.source, found.stage) == ("cache", "clean")

        diff = compute_data_diff(repo.root, "out/clean.csv", rev="HEAD~1", keys=["id"])
        assert diff.old.source == "cache"
        assert (diff.counts.added, diff.counts.removed, diff.counts.modified) == (1, 1, 2)

    def test_file_inside_a_directory_output(self, repo: Repo) -> None:
        repo.cache_output("split", {"parts": {"a.csv": b"x\n1\n", "sub/b.csv": b"x\n2\n"}})
        repo.commit()
        assert read_at_revision(repo.root, "parts/sub/b.csv", "HEAD") == b"x\n2\n"
        listed = list_files_at_revision(repo.root, "parts", "HEAD")
        assert sorted(f.path for f in listed) == ["parts/a.csv", "parts/sub/b.csv"]
        assert find_file_at_revision(repo.root, "parts/missing.csv", "HEAD") is None

    def test_git_directory_listing(self, repo: Repo) -> None:
        repo.write("d/one.csv", "a\n1\n")
        repo.write("d/two/three.csv", "a\n3\n")
        repo.commit()
        listed = list_files_at_revision(repo.root, "d", "HEAD")
        assert sorted(f.path for f in listed) == ["d/one.csv", "d/two/three.csv"]

    def test_missing_blob_says_pivot_pull(self, repo: Repo) -> None:
        repo.cache_output("clean", {"out/clean.csv": OLD_CSV.encode()})
        repo.commit()
        repo.drop_cache()
        with pytest.raises(
            CacheError, match=r"stage 'clean'.*not in the local cache.*pivot pull clean"
        ):
            read_at_revision(repo.root, "out/clean.csv", "HEAD")
        with pytest.raises(CacheError, match="pivot pull"):
            compute_data_diff(repo.root, "out/clean.csv", keys=["id"])

    def test_corrupt_blob(self, repo: Repo) -> None:
        repo.cache_output("clean", {"out/clean.csv": OLD_CSV.encode()})
        repo.commit()
        digest = xxhash.xxh64(OLD_CSV.encode()).hexdigest()
        blob = repo.root / ".pivot" / "cache" / "files" / digest[:2] / digest[2:]
        blob.chmod(0o644)
        blob.write_bytes(b"tampered")
        with pytest.raises(CacheError, match="corrupt"):
            read_at_revision(repo.root, "out/clean.csv", "HEAD")

    def test_path_in_neither_git_nor_locks(self, repo: Repo) -> None:
        repo.write("a.csv", "a\n")
        repo.commit()
        with pytest.raises(ProjectError, match=r"nope\.csv does not exist at HEAD"):
            read_at_revision(repo.root, "nope.csv", "HEAD")

    def test_broken_lock_file(self, repo: Repo) -> None:
        repo.write(".pivot/stages/bad.lock", "outs: [: nope\n")
        repo.commit()
        with pytest.raises(LockFileError, match=r"\.pivot/stages/bad\.lock at HEAD"):
            read_at_revision(repo.root, "out.csv", "HEAD")

    def test_path_escaping_the_project(self, repo: Repo) -> None:
        repo.commit()
        with pytest.raises(ProjectError, match="not a path inside the project"):
            RevisionReader(repo.root).find_file("../x.csv")


# -- the documented JSON schema -----------------------------------------------------------

DOCS = REPO / "docs" / "data-diff.md"


def documented_schema() -> dict[str, object]:
    text = DOCS.read_text()
    section = text[text.index("## JSON schema") :]
    block = section[
        section.index("```json") + len("```json") : section.index(
            "```\n", section.index("```json") + 7
        )
    ]
    schema = json.loads(block)
    assert isinstance(schema, dict)
    return schema


def check(
    value: object, schema: dict[str, object], root: dict[str, object], where: str = "$"
) -> None:
    """A small JSON Schema checker for the keywords the documented schema uses.

    Stricter than JSON Schema in one way: an object whose schema lists ``properties`` may not
    carry undocumented keys, so the documentation cannot fall behind the output.
    """
    ref = schema.get("$ref")
    if isinstance(ref, str):
        target: object = root
        for part in ref.removeprefix("#/").split("/"):
            assert isinstance(target, dict)
            target = target[part]
        assert isinstance(target, dict)
        check(value, target, root, where)
        return
    types: dict[str, type | tuple[type, ...]] = {
        "object": dict, "array": list, "string": str, "boolean": bool, "null": type(None),
        "integer": int, "number": (int, float),
    }  # fmt: skip
    if "type" in schema:
        declared = schema["type"]
        allowed = [str(t) for t in declared] if isinstance(declared, list) else [str(declared)]
        ok = any(
            isinstance(value, types[t])
            and not (t in ("integer", "number") and isinstance(value, bool))
            for t in allowed
        )
        assert ok, f"{where}: {value!r} is not {allowed}"
    if "const" in schema:
        assert value == schema["const"], where
    if "enum" in schema:
        assert value in schema["enum"], f"{where}: {value!r} not in {schema['enum']}"  # type: ignore[operator]
    if isinstance(value, dict):
        for key in schema.get("required", []):  # type: ignore[attr-defined]
            assert key in value, f"{where}: missing {key}"
        props = schema.get("properties")
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            if isinstance(props, dict) and key in props:
                check(item, props[key], root, f"{where}.{key}")
            elif isinstance(extra, dict):
                check(item, extra, root, f"{where}.{key}")
            else:
                assert not isinstance(props, dict), f"{where}: undocumented key {key!r}"
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            check(item, schema["items"], root, f"{where}[{index}]")  # type: ignore[arg-type]


def test_json_output_matches_the_documented_schema(repo: Repo) -> None:
    schema = documented_schema()
    diffs = [
        diff_text(
            repo, "k.csv", OLD_CSV, NEW_CSV.replace("qty", "amount"), keys=["id"], max_rows=1
        ),
        diff_text(repo, "p.csv", "a,b\n1,x\n2,y\n", "a,b\n1,x\n2,z\n3,w\n"),
        diff_text(repo, "r.csv", OLD_CSV, _reverse_rows(OLD_CSV)),
        diff_text(repo, "s.csv", OLD_CSV, NEW_CSV, keys=["id"], summary=True),
    ]
    repo.write("added.jsonl", '{"a": 1, "d": "2024-01-01"}\n')
    diffs.append(compute_data_diff(repo.root, "added.jsonl"))
    document = json.loads(render_json(diffs))
    check(document, schema, schema)
    assert {f["status"] for f in document["files"]} == {"changed", "reordered", "added"}
