"""`pivot data diff` and `pivot data get`, run as real processes in temporary git projects."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import polars as pl
import pytest
import xxhash
import yaml

from tests.helpers import TempProject

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


def pivot(
    project: TempProject, *args: str, check: int | None = 0
) -> subprocess.CompletedProcess[str]:
    """``python -m pivot ARGS`` in the project, as a real subprocess."""
    return project.pivot(*args, check=check)


def assert_one_line_error(proc: subprocess.CompletedProcess[str], code: int, *needles: str) -> None:
    assert proc.returncode == code, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def cache_output(
    project: TempProject, stage: str, path: str, files: dict[str, bytes] | bytes
) -> None:
    """Record an output as a pipeline run would: blobs in the cache and a stage lock file.

    ``files`` is the content of a file output, or {relative path: content} for a directory.
    """

    def put(data: bytes) -> str:
        digest = xxhash.xxh64(data).hexdigest()
        blob = project.root / ".pivot" / "cache" / "files" / digest[:2] / digest[2:]
        blob.parent.mkdir(parents=True, exist_ok=True)
        if not blob.exists():
            blob.write_bytes(data)
            blob.chmod(0o444)
        return digest

    out: dict[str, object]
    if isinstance(files, bytes):
        (project.root / path).parent.mkdir(parents=True, exist_ok=True)
        (project.root / path).write_bytes(files)
        out = {"path": path, "hash": put(files), "size": len(files)}
    else:
        entries = []
        for rel, data in sorted(files.items()):
            target = project.root / path / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            entries.append({"path": rel, "hash": put(data), "size": len(data)})
        manifest = json.dumps(entries).encode()
        out = {
            "path": path,
            "hash": xxhash.xxh64(manifest).hexdigest(),
            "size": sum(len(d) for d in files.values()),
            "files": entries,
        }
    lock = {"schema": 1, "stage": stage, "code": {}, "params": {}, "deps": [], "outs": [out]}
    project.write(f".pivot/stages/{stage}.lock", yaml.safe_dump(lock, sort_keys=False))
    (project.root / ".gitignore").write_text(f"/{path}\n")


def drop_cache(project: TempProject) -> None:
    for blob in (project.root / ".pivot" / "cache").rglob("*"):
        if blob.is_file():
            blob.chmod(0o644)
            blob.unlink()


@pytest.fixture
def fruit(project: TempProject) -> TempProject:
    """data/fruit.csv committed as OLD_CSV, NEW_CSV in the workspace."""
    project.write("data/fruit.csv", OLD_CSV)
    project.commit_all("fruit")
    project.write("data/fruit.csv", NEW_CSV)
    return project


# -- data diff ----------------------------------------------------------------------------


class TestDiff:
    def test_by_key_as_text(self, fruit: TempProject) -> None:
        out = pivot(fruit, "data", "diff", "data/fruit.csv", "--key", "id").stdout
        assert "data/fruit.csv" in out
        assert "by key id" in out
        assert "1 added, 1 removed, 2 modified, 1 unchanged" in out
        assert "1.5 → 1.75" in out
        assert "date → dates" in out
        assert "elder" in out and "banana" in out
        assert "\x1b[" not in out  # plain when piped

    def test_json_follows_the_documented_schema(self, fruit: TempProject) -> None:
        proc = pivot(fruit, "data", "diff", "data/fruit.csv", "--key", "id", "--json")
        document = json.loads(proc.stdout)
        assert document["schema_version"] == 1
        (entry,) = document["files"]
        assert set(entry) == {
            "path", "format", "status", "mode", "keys", "old", "new", "schema", "rows",
            "changed_cells", "summary_only", "summary_reason", "max_rows", "truncated",
            "added_rows", "removed_rows", "modified_rows",
        }  # fmt: skip
        assert entry["old"]["source"] == "git" and entry["old"]["label"] == "HEAD"
        assert len(entry["old"]["revision"]) == 40
        assert entry["new"]["source"] == "workspace"
        assert entry["rows"] == {
            "added": 1,
            "removed": 1,
            "modified": 2,
            "unchanged": 1,
            "moved": None,
        }
        assert entry["added_rows"] == [
            {"row": 4, "values": {"id": 5, "name": "elder", "price": 4.0, "qty": 1}}
        ]
        assert entry["modified_rows"][0] == {
            "key": {"id": 1},
            "old_row": 1,
            "new_row": 1,
            "changes": {"price": {"old": 1.5, "new": 1.75}},
        }
        assert entry["max_rows"] == 1000

    def test_markdown(self, fruit: TempProject) -> None:
        out = pivot(fruit, "data", "diff", "data/fruit.csv", "--key", "id", "--md").stdout
        assert out.startswith("### `data/fruit.csv`")
        assert "| id | name | price | qty |" in out
        assert "| 4 | date → dates |  | 7 → 8 |" in out

    def test_paths_are_relative_to_the_current_folder(self, fruit: TempProject) -> None:
        out = pivot(fruit, "-C", "data", "data", "diff", "fruit.csv", "--key", "id").stdout
        assert "1 added, 1 removed, 2 modified" in out

    def test_without_key_compares_by_position(self, fruit: TempProject) -> None:
        out = pivot(fruit, "data", "diff", "data/fruit.csv").stdout
        assert "by position" in out
        assert "0 added, 0 removed, 4 modified" in out

    def test_reordered_only(self, project: TempProject) -> None:
        project.write("r.csv", OLD_CSV)
        project.commit_all()
        header, *rows = OLD_CSV.strip().splitlines()
        project.write("r.csv", "\n".join([header, *reversed(rows)]) + "\n")
        out = pivot(project, "data", "diff", "r.csv").stdout
        assert "reordered only: same 4 rows, 4 moved" in out

    def test_schema_change(self, project: TempProject) -> None:
        project.write("s.csv", "id,a,b\n1,x,1\n")
        project.commit_all()
        project.write("s.csv", "id,a,c\n1,x,1.5\n")
        out = pivot(project, "data", "diff", "s.csv", "--key", "id").stdout
        assert "+ c (Float64)" in out
        assert "- b (Int64)" in out

    def test_parquet_at_an_older_revision(self, project: TempProject) -> None:
        frame = pl.DataFrame({"id": [1, 2, 3], "v": [1.0, 2.0, 3.0]})
        frame.write_parquet(project.root / "t.parquet")
        project.commit_all("one")
        frame.with_columns(pl.col("v") * 2).write_parquet(project.root / "t.parquet")
        project.commit_all("two")
        frame.with_columns(pl.col("v") * 3).write_parquet(project.root / "t.parquet")
        proc = pivot(
            project, "data", "diff", "t.parquet", "--key", "id", "--rev", "HEAD~1", "--json"
        )
        entry = json.loads(proc.stdout)["files"][0]
        assert entry["format"] == "parquet"
        assert entry["old"]["label"] == "HEAD~1"
        assert entry["modified_rows"][2]["changes"]["v"] == {"old": 3.0, "new": 9.0}

    def test_max_rows_caps_the_listing(self, project: TempProject) -> None:
        project.write("m.csv", "id,v\n" + "".join(f"{i},0\n" for i in range(10)))
        project.commit_all()
        project.write("m.csv", "id,v\n" + "".join(f"{i},1\n" for i in range(10)))
        out = pivot(project, "data", "diff", "m.csv", "--key", "id", "--max-rows", "2").stdout
        assert "modified rows (2 of 10)" in out
        assert "8 more modified rows not shown" in out

    def test_summary_only(self, fruit: TempProject) -> None:
        out = pivot(fruit, "data", "diff", "data/fruit.csv", "--key", "id", "--summary").stdout
        assert "1 added, 1 removed, 2 modified" in out
        assert "summary only (requested)" in out
        assert "elder" not in out

    def test_several_targets(self, fruit: TempProject) -> None:
        fruit.write("other.csv", "a\n1\n")
        proc = pivot(fruit, "data", "diff", "data/fruit.csv", "other.csv", "--json")
        files = json.loads(proc.stdout)["files"]
        assert [(f["path"], f["status"]) for f in files] == [
            ("data/fruit.csv", "changed"),
            ("other.csv", "added"),
        ]

    def test_pipeline_output_from_the_cache_at_an_older_commit(self, project: TempProject) -> None:
        cache_output(project, "clean", "out/clean.csv", OLD_CSV.encode())
        project.commit_all("first run")
        cache_output(project, "clean", "out/clean.csv", NEW_CSV.encode())
        project.commit_all("second run")
        proc = pivot(
            project, "data", "diff", "out/clean.csv", "--rev", "HEAD~1", "--key", "id", "--json"
        )
        entry = json.loads(proc.stdout)["files"][0]
        assert entry["old"]["source"] == "cache"
        assert entry["rows"]["modified"] == 2


class TestDiffErrors:
    def test_unparsable_file(self, fruit: TempProject) -> None:
        fruit.write("data/fruit.csv", OLD_CSV + "9,too,many,fields,here\n")
        proc = pivot(fruit, "data", "diff", "data/fruit.csv", check=None)
        assert_one_line_error(proc, 2, "cannot read data/fruit.csv (workspace) as csv")

    def test_key_missing_on_one_side(self, fruit: TempProject) -> None:
        proc = pivot(fruit, "data", "diff", "data/fruit.csv", "--key", "sku", check=None)
        assert_one_line_error(proc, 2, "key column 'sku' missing from data/fruit.csv at HEAD")

    def test_duplicate_keys(self, fruit: TempProject) -> None:
        fruit.write("data/fruit.csv", NEW_CSV + "5,elder twice,1.0,1\n")
        proc = pivot(fruit, "data", "diff", "data/fruit.csv", "--key", "id", check=None)
        assert_one_line_error(proc, 2, "duplicate key in data/fruit.csv (workspace): id=5")

    def test_binary_file(self, fruit: TempProject) -> None:
        (fruit.root / "data" / "fruit.csv").write_bytes(b"\x00\x01\x02binary\xff")
        proc = pivot(fruit, "data", "diff", "data/fruit.csv", check=None)
        assert_one_line_error(proc, 2, "looks like a binary file")

    def test_unknown_revision(self, fruit: TempProject) -> None:
        proc = pivot(fruit, "data", "diff", "data/fruit.csv", "--rev", "nope", check=None)
        assert_one_line_error(proc, 2, "unknown git revision 'nope'")

    def test_json_and_md_together(self, fruit: TempProject) -> None:
        proc = pivot(fruit, "data", "diff", "data/fruit.csv", "--json", "--md", check=None)
        assert_one_line_error(proc, 2, "--json and --md")

    def test_missing_cache_blob(self, project: TempProject) -> None:
        cache_output(project, "clean", "out/clean.csv", OLD_CSV.encode())
        project.commit_all()
        drop_cache(project)
        proc = pivot(project, "data", "diff", "out/clean.csv", check=None)
        assert_one_line_error(proc, 1, "not in the local cache", "pivot pull clean")


# -- data get -----------------------------------------------------------------------------


class TestGet:
    def test_file_from_git_at_head_minus_one(self, fruit: TempProject) -> None:
        fruit.commit_all("new fruit")
        proc = pivot(fruit, "data", "get", "data/fruit.csv", "--rev", "HEAD~1", "-o", "old.csv")
        assert (fruit.root / "old.csv").read_text() == OLD_CSV
        assert "data/fruit.csv @ HEAD~1 [git] -> old.csv" in proc.stderr

    def test_default_destination_is_the_current_folder_and_never_clobbers(
        self, fruit: TempProject
    ) -> None:
        pivot(fruit, "data", "get", "data/fruit.csv", "--rev", "HEAD")
        assert (fruit.root / "fruit.csv").read_text() == OLD_CSV
        proc = pivot(fruit, "-C", "data", "data", "get", "fruit.csv", "--rev", "HEAD", check=None)
        assert_one_line_error(proc, 2, "fruit.csv already exists", "--force")
        assert (fruit.root / "data" / "fruit.csv").read_text() == NEW_CSV
        pivot(fruit, "-C", "data", "data", "get", "fruit.csv", "--rev", "HEAD", "--force")
        assert (fruit.root / "data" / "fruit.csv").read_text() == OLD_CSV

    def test_stage_output_from_the_cache(self, project: TempProject) -> None:
        cache_output(project, "clean", "out/clean.csv", OLD_CSV.encode())
        project.commit_all("first run")
        cache_output(project, "clean", "out/clean.csv", NEW_CSV.encode())
        project.commit_all("second run")
        proc = pivot(project, "data", "get", "out/clean.csv", "--rev", "HEAD~1", "-o", "v1.csv")
        assert (project.root / "v1.csv").read_text() == OLD_CSV
        assert "[cache]" in proc.stderr
        mode = (project.root / "v1.csv").stat().st_mode
        assert mode & 0o200, "the copy must be writable, unlike the cache blob"

    def test_directory_output(self, project: TempProject) -> None:
        cache_output(project, "split", "parts", {"a.csv": b"a\n1\n", "sub/b.csv": b"b\n2\n"})
        project.commit_all()
        pivot(project, "data", "get", "parts", "--rev", "HEAD", "-o", "restored")
        assert (project.root / "restored" / "parts" / "a.csv").read_bytes() == b"a\n1\n"
        assert (project.root / "restored" / "parts" / "sub" / "b.csv").read_bytes() == b"b\n2\n"

    def test_to_stdout(self, fruit: TempProject) -> None:
        proc = pivot(fruit, "data", "get", "data/fruit.csv", "--rev", "HEAD", "-o", "-")
        assert proc.stdout == OLD_CSV

    def test_content_in_neither_git_nor_cache(self, project: TempProject) -> None:
        cache_output(project, "clean", "out/clean.csv", OLD_CSV.encode())
        project.commit_all()
        drop_cache(project)
        proc = pivot(
            project, "data", "get", "out/clean.csv", "--rev", "HEAD", "-o", "x.csv", check=None
        )
        assert_one_line_error(proc, 1, "out/clean.csv at HEAD", "pivot pull")
        assert not (project.root / "x.csv").exists()

    def test_unknown_path(self, fruit: TempProject) -> None:
        proc = pivot(fruit, "data", "get", "nope.csv", "--rev", "HEAD", check=None)
        assert_one_line_error(proc, 2, "nope.csv does not exist at HEAD")


def test_help_lists_both_commands(project: TempProject) -> None:
    out = pivot(project, "data", "--help").stdout
    assert "diff" in out and "get" in out


class TestPlainGitRepository:
    """`pivot data` needs git and the files, not `pivot init`."""

    @pytest.fixture
    def repo(self, tmp_path: Path) -> TempProject:
        repo = TempProject(tmp_path / "repo")
        repo.root.mkdir()
        repo.git("init", "-q")
        repo.write("data/fruit.csv", OLD_CSV)
        repo.commit_all("fruit")
        repo.write("data/fruit.csv", NEW_CSV)
        return repo

    def test_diff_from_a_sub_folder(self, repo: TempProject) -> None:
        args = ("-C", "data", "data", "diff", "fruit.csv", "--key", "id", "--json")
        (entry,) = json.loads(pivot(repo, *args).stdout)["files"]
        assert entry["path"] == "data/fruit.csv" and entry["old"]["source"] == "git"
        assert entry["rows"]["modified"] == 2 and entry["rows"]["added"] == 1
        assert not (repo.root / ".pivot").exists()

    def test_text_and_get(self, repo: TempProject) -> None:
        out = pivot(repo, "data", "diff", "data/fruit.csv", "--key", "id", "--no-tui").stdout
        assert "1 added, 1 removed, 2 modified, 1 unchanged" in out
        got = pivot(repo, "data", "get", "data/fruit.csv", "--rev", "HEAD", "-o", "-").stdout
        assert got == OLD_CSV

    def test_other_commands_still_need_a_project(self, repo: TempProject) -> None:
        proc = pivot(repo, "status", check=None)
        assert_one_line_error(proc, 2, "no Pivot project in", "run `pivot init` first")

    def test_outside_git_is_one_clear_error(self, tmp_path: Path) -> None:
        loose = TempProject(tmp_path / "loose")
        loose.write("f.csv", OLD_CSV)
        proc = pivot(loose, "data", "diff", "f.csv", check=None)
        assert_one_line_error(proc, 2, "neither a Pivot project nor a git repository", "git init")
