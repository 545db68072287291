"""`pivot import` and `pivot update` between two local repositories with folder remotes.

The source pushes to its own folder remote; the consumer imports from it, uses the import as a
dep, pushes it to its own remote, and a fresh clone of the consumer pulls it from there.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from tests.helpers import TempProject, make_project, pivot_env
from tests.import_sources import Source, make_consumer, make_source


def _folder_remote(folder: Path) -> Callable[[TempProject], None]:
    def configure(project: TempProject) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        project.pivot("config", "set", "remotes.origin", str(folder))

    return configure


@pytest.fixture
def source(tmp_path: Path) -> Source:
    return make_source(tmp_path / "source", _folder_remote(tmp_path / "source-remote"))


@pytest.fixture
def consumer(tmp_path: Path) -> TempProject:
    return make_consumer(tmp_path / "consumer", _folder_remote(tmp_path / "consumer-remote"))


def _manifest(project: TempProject, path: str) -> dict[str, object]:
    data = yaml.safe_load(project.read(path + ".pvt"))
    assert isinstance(data, dict)
    return data


def _one_error(proc: subprocess.CompletedProcess[str]) -> str:
    """The single line a failed command prints, checked to be exactly one line."""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]


def test_import_at_a_branch_a_tag_and_head_1(source: Source, consumer: TempProject) -> None:
    out = consumer.pivot("import", "../source", "out/clean.txt", "--rev", "main").stdout
    assert out.startswith("imported    clean.txt (16 B) from ../source out/clean.txt at main")
    assert consumer.read("clean.txt") == "GAMMA\nDELTA\nEPS\n"
    consumer.pivot("import", "../source", "out/clean.txt", "--rev", "v1", "-o", "old/tagged.txt")
    assert consumer.read("old/tagged.txt") == "ALPHA\nBETA\n"
    consumer.pivot("import", "../source", "out/clean.txt", "--rev", "HEAD~1", "-o", "prev.txt")
    assert consumer.read("prev.txt") == "ALPHA\nBETA\n"

    manifest = _manifest(consumer, "clean.txt")
    assert manifest["path"] == "clean.txt"
    assert manifest["import"] == {
        "repo": "../source",
        "path": "out/clean.txt",
        "rev": "main",
        "commit": source.commit("main"),
    }
    assert _manifest(consumer, "old/tagged.txt")["import"]["commit"] == source.commit("v1")  # type: ignore[index]
    assert _manifest(consumer, "prev.txt")["import"]["rev"] == "HEAD~1"  # type: ignore[index]
    # The data is gitignored, the manifests are not.
    consumer.commit_all("imports")
    tracked = consumer.git("ls-files").split()
    assert {"clean.txt.pvt", "old/tagged.txt.pvt", "prev.txt.pvt"} <= set(tracked)
    assert not {"clean.txt", "old/tagged.txt", "prev.txt"} & set(tracked)


def test_import_and_update_print_json(source: Source, consumer: TempProject) -> None:
    imported = json.loads(
        consumer.pivot("import", "../source", "out/parts", "--rev", "v1", "--json").stdout
    )
    assert imported["path"] == "parts" and imported["manifest"] == "parts.pvt"
    assert imported["source"] == {
        "repo": "../source",
        "path": "out/parts",
        "rev": "v1",
        "commit": source.commit("v1"),
    }
    assert imported["previous"] is None and imported["changed"] is True
    assert imported["files"] == 2 and imported["fetched"] == 2
    source.release("zeta\n")
    same = json.loads(consumer.pivot("update", "--json").stdout)["imports"]
    assert [(row["path"], row["changed"]) for row in same] == [("parts", False)]
    moved = json.loads(consumer.pivot("update", "parts", "--rev", "main", "--json").stdout)
    (row,) = moved["imports"]
    assert row["previous"] == source.commit("v1") and row["source"]["commit"] == source.commit()


def test_folders_files_inside_folders_and_tracked_data(
    source: Source, consumer: TempProject
) -> None:
    consumer.pivot("import", "../source", "out/parts", "--rev", "v1")
    assert sorted(p.name for p in (consumer.root / "parts").iterdir()) == [
        "line0.txt",
        "line1.txt",
    ]
    assert (consumer.root / "parts/line1.txt").read_text() == "BETA"
    consumer.pivot("import", "../source", "out/parts/line2.txt", "-o", "third.txt")
    assert consumer.read("third.txt") == "EPS"
    consumer.pivot("import", "../source", "data/extra.txt")
    assert consumer.read("extra.txt") == "extra for gamma\ndelta\neps\n"
    # No --rev: the source's HEAD, recorded without a rev.
    assert "rev" not in _manifest(consumer, "extra.txt")["import"]  # type: ignore[operator]


def test_a_stage_uses_an_import_and_reruns_after_update(
    source: Source, consumer: TempProject
) -> None:
    consumer.pivot("import", "../source", "out/clean.txt", "--rev", "main")
    assert consumer.statuses() == {"shout": "ran"}
    assert consumer.read("shout.txt") == "GAMMA\nDELTA\nEPS!"
    consumer.commit_all("import")

    # Nothing moved: status --imports says current, update says so too, nothing re-runs.
    rows = json.loads(consumer.pivot("status", "--json", "--imports").stdout)["imports"]
    assert [(r["path"], r["status"]) for r in rows] == [("clean.txt", "current")]
    assert consumer.pivot("update").stdout.startswith("up to date  clean.txt")
    assert consumer.statuses() == {"shout": "skipped"}

    new = source.release("zeta\n")
    rows = json.loads(consumer.pivot("status", "--json", "--imports").stdout)["imports"]
    assert rows[0]["status"] == "behind" and rows[0]["latest"] == new
    plain = consumer.pivot("status", "--imports").stdout
    assert "behind   import clean.txt <- ../source main" in plain
    # Plain status never asks the source.
    assert "imports" not in json.loads(consumer.pivot("status", "--json").stdout)

    out = consumer.pivot("update", "clean.txt").stdout
    assert out.startswith("updated     clean.txt (5 B) from ../source out/clean.txt at main")
    assert consumer.read("clean.txt") == "ZETA\n"
    assert _manifest(consumer, "clean.txt")["import"]["commit"] == new  # type: ignore[index]
    assert consumer.statuses() == {"shout": "ran"}
    assert consumer.read("shout.txt") == "ZETA!"


def test_a_tag_stays_on_update_until_rev_moves_it(source: Source, consumer: TempProject) -> None:
    consumer.pivot("import", "../source", "out/clean.txt", "--rev", "v1")
    source.release("zeta\n")
    assert consumer.pivot("update").stdout.startswith("up to date  clean.txt")
    assert consumer.read("clean.txt") == "ALPHA\nBETA\n"
    consumer.pivot("update", "clean.txt.pvt", "--rev", "main")
    assert consumer.read("clean.txt") == "ZETA\n"
    manifest = _manifest(consumer, "clean.txt")["import"]
    assert manifest["rev"] == "main" and manifest["commit"] == source.commit("main")  # type: ignore[index]


def test_push_and_a_fresh_clone_pulls_the_import_from_its_own_remote(
    source: Source, consumer: TempProject, tmp_path: Path
) -> None:
    consumer.pivot("import", "../source", "out/parts", "--rev", "v1")
    consumer.pivot("import", "../source", "out/clean.txt")
    pushed = consumer.pivot("push").stdout
    assert "3 files" in pushed  # clean.txt and the two files of parts
    consumer.commit_all("imports")
    # The source and its remote are gone: the clone needs nothing but its own remote.
    shutil.rmtree(source.root)
    shutil.rmtree(tmp_path / "source-remote")
    subprocess.run(
        ["git", "clone", "-q", str(consumer.root), str(tmp_path / "clone")],
        check=True,
        env=pivot_env(),
    )
    clone = TempProject(tmp_path / "clone")
    status = clone.pivot("status", check=2)
    assert "'clean.txt', tracked by clean.txt.pvt but not in the workspace" in _one_error(status)
    clone.pivot("pull")
    assert clone.read("clean.txt") == "GAMMA\nDELTA\nEPS\n"
    assert clone.read("parts/line0.txt") == "ALPHA"
    assert clone.statuses() == {"shout": "ran"}
    # An unreachable source is a row of status --imports, not a failure.
    rows = json.loads(clone.pivot("status", "--json", "--imports").stdout)["imports"]
    assert {row["status"] for row in rows} == {"unreachable"}
    assert "does not exist" in rows[0]["detail"]


def test_modified_imported_data_shows_in_status_and_checkout_restores_it(
    source: Source, consumer: TempProject
) -> None:
    consumer.pivot("import", "../source", "out/clean.txt")
    consumer.write("clean.txt", "edited\n")
    out = consumer.pivot("status").stdout
    assert "modified imported clean.txt" in out and "pivot checkout --force clean.txt" in out
    consumer.pivot("checkout", "--force", "clean.txt")
    assert consumer.read("clean.txt") == "GAMMA\nDELTA\nEPS\n"
    refused = consumer.pivot("track", "clean.txt", check=2)
    assert "it is imported from ../source; `pivot update clean.txt`" in _one_error(refused)


def test_the_remote_option_names_a_remote_of_this_project_or_a_url(
    source: Source, consumer: TempProject, tmp_path: Path
) -> None:
    shared = tmp_path / "source-remote"
    mirror = tmp_path / "mirror-remote"

    def move_to_mirror() -> None:
        shutil.copytree(shared, mirror, dirs_exist_ok=True)
        shutil.rmtree(shared)
        shared.mkdir()

    move_to_mirror()
    consumer.pivot("config", "set", "remotes.mirror", str(mirror))
    consumer.pivot("import", "../source", "out/clean.txt", "--remote", "mirror")
    assert consumer.read("clean.txt") == "GAMMA\nDELTA\nEPS\n"
    consumer.pivot("import", "../source", "out/parts", "--rev", "v1", "--remote", str(mirror))
    assert _manifest(consumer, "parts")["import"]["remote"] == str(mirror)  # type: ignore[index]
    # update fetches from the recorded remote too.
    source.release("zeta\n")
    move_to_mirror()
    consumer.pivot("update", "parts", "--rev", "main")
    assert sorted(p.name for p in (consumer.root / "parts").iterdir()) == ["line0.txt"]
    assert consumer.read("parts/line0.txt") == "ZETA"


# -- errors: one line each, non-zero ---------------------------------------------------------


def test_a_source_that_is_missing_not_git_or_unreachable(
    consumer: TempProject, tmp_path: Path
) -> None:
    missing = consumer.pivot("import", "../nowhere", "out/clean.txt", check=1)
    assert "cannot import from ../nowhere" in _one_error(missing)
    (tmp_path / "plain").mkdir()
    plain = consumer.pivot("import", "../plain", "out/clean.txt", check=1)
    assert "is not a git repository" in _one_error(plain)
    unreachable = consumer.pivot("import", "http://127.0.0.1:9/x.git", "out/clean.txt", check=1)
    assert "cannot reach http://127.0.0.1:9/x.git" in _one_error(unreachable)
    assert not (consumer.root / "clean.txt.pvt").exists()


def test_an_unknown_revision(source: Source, consumer: TempProject) -> None:
    proc = consumer.pivot("import", "../source", "out/clean.txt", "--rev", "v9", check=2)
    assert "unknown revision 'v9' in ../source" in _one_error(proc)


def test_a_path_that_is_not_data_of_the_source(source: Source, consumer: TempProject) -> None:
    absent = consumer.pivot("import", "../source", "out/nothing.txt", check=2)
    assert "'out/nothing.txt' is not in ../source at HEAD" in _one_error(absent)
    committed = consumer.pivot("import", "../source", "pipeline.py", "-o", "p.py", check=2)
    assert "'pipeline.py' is a file committed to git" in _one_error(committed)
    inside = consumer.pivot("import", "../source", "out/parts/line9.txt", check=2)
    assert "'out/parts/line9.txt' is not in ../source" in _one_error(inside)


def test_a_source_that_is_not_a_pivot_project(consumer: TempProject, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    repo = TempProject(other)
    repo.git("init", "-q")
    repo.write("x.txt", "x")
    repo.commit_all("x")
    proc = consumer.pivot("import", "../other", "x.txt", check=2)
    assert "../other at HEAD" in _one_error(proc) and "is not a Pivot project" in proc.stderr


def test_a_source_without_a_remote(source: Source, consumer: TempProject) -> None:
    source.project.pivot("config", "unset", "remotes.origin")
    source.project.commit_all("no remote")
    proc = consumer.pivot("import", "../source", "out/clean.txt", check=2)
    assert "configures no remote in its committed .pivot/config.yaml" in _one_error(proc)


def test_an_unreachable_source_remote(
    source: Source, consumer: TempProject, tmp_path: Path
) -> None:
    shutil.rmtree(tmp_path / "source-remote")
    proc = consumer.pivot("import", "../source", "out/clean.txt", check=1)
    line = _one_error(proc)
    assert line.startswith("error: the remote of ../source at HEAD (")
    assert "the folder does not exist" in line and line.endswith("or pass --remote NAME_OR_URL")
    named = consumer.pivot("import", "../source", "out/clean.txt", "--remote", "nope", check=2)
    assert "no remote 'nope' in ../source" in _one_error(named)
    assert not (consumer.root / "clean.txt").exists()


def test_a_blob_missing_on_the_source_remote(
    source: Source, consumer: TempProject, tmp_path: Path
) -> None:
    files = tmp_path / "source-remote" / "files"
    shutil.rmtree(files)
    files.mkdir()
    proc = consumer.pivot("import", "../source", "out/clean.txt", check=1)
    line = _one_error(proc)
    assert "'out/clean.txt' of ../source at HEAD" in line and "push it from ../source" in line
    assert not (consumer.root / "clean.txt").exists()
    assert not (consumer.root / "clean.txt.pvt").exists()


def test_bad_targets(source: Source, consumer: TempProject) -> None:
    consumer.pivot("import", "../source", "out/clean.txt")
    again = consumer.pivot("import", "../source", "out/clean.txt", check=2)
    assert "'clean.txt' is imported from ../source already" in _one_error(again)
    taken = consumer.pivot("import", "../source", "out/clean.txt", "-o", "pipeline.py", check=2)
    assert "'pipeline.py' exists already" in _one_error(taken)
    not_import = consumer.pivot("update", "pipeline.py", check=2)
    assert "'pipeline.py' is not an import" in _one_error(not_import)


def test_outside_a_project(source: Source, tmp_path: Path) -> None:
    nowhere = make_project(tmp_path / "fresh")
    shutil.rmtree(nowhere.root / ".pivot")
    proc = nowhere.pivot("import", "../source", "out/clean.txt", check=2)
    assert "no Pivot project" in _one_error(proc)


def test_a_malformed_import_section_is_one_line(source: Source, consumer: TempProject) -> None:
    consumer.pivot("import", "../source", "out/clean.txt")
    text = consumer.read("clean.txt.pvt")
    consumer.write("clean.txt.pvt", text.replace("commit: ", "commit: zz"))
    proc = consumer.pivot("update", check=2)
    line = _one_error(proc)
    assert "tracked-data manifest clean.txt.pvt is malformed" in line
    assert "is not a full git commit id" in line
