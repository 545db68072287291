"""`pivot track`: raw data versioned by a manifest beside it, shared like a stage output."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from tests.helpers import TempProject, make_project, pivot_env

PIPELINE = """
from pathlib import Path
from typing import Annotated
import pivot
from pivot import loaders

def count(
    raw: Annotated[str, pivot.Dep("data/raw.csv", loaders.Text())],
    images: Annotated[Path, pivot.Dep("data/images", loaders.PathOnly())],
) -> Annotated[dict, pivot.Out("count.json", loaders.JSON())]:
    return {"lines": len(raw.splitlines()), "images": len(list(images.iterdir()))}

pipeline = pivot.Pipeline("p")
pipeline.register(count)
"""


def _with_raw_data(project: TempProject) -> None:
    project.write("pipeline.py", PIPELINE)
    project.write("data/raw.csv", "a\n1\n2\n")
    project.write("data/images/one.txt", "1")
    project.write("data/images/two.txt", "2")


def test_track_writes_a_manifest_beside_the_data_and_gitignores_the_data(
    project: TempProject,
) -> None:
    _with_raw_data(project)
    out = project.pivot("track", "data/raw.csv", "data/images").stdout
    assert "tracked   data/raw.csv (6 B) -> data/raw.csv.pvt" in out
    assert "tracked   data/images (2 B, 2 files) -> data/images.pvt" in out
    manifest = yaml.safe_load(project.read("data/raw.csv.pvt"))
    assert manifest["path"] == "raw.csv" and manifest["size"] == 6
    assert len(manifest["hash"]) == 16
    folder = yaml.safe_load(project.read("data/images.pvt"))
    assert [f["path"] for f in folder["files"]] == ["one.txt", "two.txt"]
    assert project.read("data/.gitignore").splitlines() == ["/raw.csv", "/images"]
    project.commit_all("track")
    tracked = project.git("ls-files").split()
    assert "data/raw.csv.pvt" in tracked and "data/images.pvt" in tracked
    assert "data/raw.csv" not in tracked and "data/images/one.txt" not in tracked
    # Again without an edit: nothing changes, the .gitignore entry is not repeated.
    again = project.pivot("track", "data/raw.csv").stdout
    assert again.startswith("unchanged data/raw.csv")
    assert project.read("data/.gitignore").count("/raw.csv") == 1


def test_status_reports_tracked_data_that_changed_and_track_records_the_edit(
    project: TempProject,
) -> None:
    _with_raw_data(project)
    project.pivot("track", "data/raw.csv", "data/images")
    assert project.statuses() == {"count": "ran"}
    project.write("data/raw.csv", "a\n1\n2\n3\n")
    status = project.pivot("status").stdout
    assert "modified tracked data/raw.csv" in status
    assert "`pivot track data/raw.csv` records the edit" in status
    rows = json.loads(project.pivot("status", "--json").stdout)["tracked"]
    assert {r["path"]: r["status"] for r in rows} == {
        "data/images": "ok",
        "data/raw.csv": "modified",
    }
    before = yaml.safe_load(project.read("data/raw.csv.pvt"))["hash"]
    assert project.pivot("track", "data/raw.csv").stdout.startswith("tracked ")
    assert yaml.safe_load(project.read("data/raw.csv.pvt"))["hash"] != before
    assert "tracked" not in project.pivot("status").stdout.replace("stale", "")
    assert project.statuses() == {"count": "ran"}
    assert json.loads(project.read("count.json")) == {"lines": 4, "images": 2}


def test_checkout_and_verify_cover_tracked_data(project: TempProject) -> None:
    _with_raw_data(project)
    project.pivot("track", "data/raw.csv", "data/images")
    (project.root / "data/raw.csv").unlink()
    shutil.rmtree(project.root / "data/images")
    status = project.pivot("status", "--json", check=2)
    assert "tracked by data/raw.csv.pvt but not in the workspace" in status.stderr
    assert "`pivot checkout data/raw.csv`" in status.stderr
    problems = project.pivot("verify", check=1).stdout
    assert "data/raw.csv.pvt: data/raw.csv: missing from the workspace" in problems
    out = project.pivot("checkout").stdout
    assert "restored     data/raw.csv" in out and "restored     data/images" in out
    assert project.read("data/raw.csv") == "a\n1\n2\n"
    assert project.read("data/images/two.txt") == "2"
    project.pivot("run")
    project.pivot("verify")
    # An edited tracked file is kept unless --force.
    project.write("data/raw.csv", "edited\n")
    assert "modified" in project.pivot("checkout", "data/raw.csv").stdout
    project.pivot("checkout", "data/raw.csv.pvt", "--force")
    assert project.read("data/raw.csv") == "a\n1\n2\n"


def test_a_fresh_clone_pulls_tracked_data_and_runs_nothing(
    project: TempProject, tmp_path: Path
) -> None:
    remote = tmp_path / "remote"
    remote.mkdir()
    _with_raw_data(project)
    project.pivot("config", "set", "remotes.origin", str(remote))
    project.pivot("track", "data/raw.csv", "data/images")
    assert project.statuses() == {"count": "ran"}
    pushed = project.pivot("push").stdout
    assert "4 files" in pushed  # raw.csv, two images, count.json
    project.commit_all("tracked data and a run")

    clone = tmp_path / "clone"
    subprocess.run(
        ["git", "clone", "-q", str(project.root), str(clone)],
        check=True,
        env=pivot_env(),
    )
    other = TempProject(clone)
    assert not (clone / "data/raw.csv").exists()
    other.pivot("pull")
    assert other.read("data/raw.csv") == "a\n1\n2\n"
    assert other.read("data/images/one.txt") == "1"
    assert other.statuses() == {"count": "skipped"}
    # Selecting tracked data by path works for fetch/pull too.
    (clone / "data/raw.csv").unlink()
    other.pivot("pull", "data/raw.csv")
    assert other.read("data/raw.csv") == "a\n1\n2\n"


def test_a_data_only_project_has_status_and_verify(project: TempProject) -> None:
    """A data registry: tracked data and no pipeline.py. Commands about data work; only the
    ones about stages ask for a pipeline."""
    project.write("data/raw.csv", "a\n1\n")
    project.pivot("track", "data/raw.csv")
    assert project.pivot("--no-tui", "status").stdout.splitlines() == ["no stages"]
    assert project.pivot("verify").returncode == 0

    project.write("data/raw.csv", "a\n1\n2\n")
    lines = project.pivot("--no-tui", "status").stdout.splitlines()
    assert lines[0] == "no stages" and "modified" in lines[1] and "data/raw.csv" in lines[1]
    assert "data/raw.csv" in project.pivot("verify", check=1).stdout
    assert "no pipeline.py" in project.pivot("run", check=2).stderr


def test_bad_track_targets_get_one_line_and_change_nothing(project: TempProject) -> None:
    _with_raw_data(project)
    project.pivot("track", "data/images")
    project.pivot("run")
    cases = {
        ("nope.csv",): "cannot track 'nope.csv': it does not exist",
        ("count.json",): "stage 'count' writes 'count.json'",
        ("data/images/one.txt",): "it is inside 'data/images', which is tracked as a whole",
        ("data/raw.csv", "../outside"): "outside the project",
    }
    for args, message in cases.items():
        proc = project.pivot("track", *args, check=None)
        assert proc.returncode != 0, args
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], (args, proc.stderr)
    # The valid path in a refused command was not tracked either.
    assert not (project.root / "data/raw.csv.pvt").exists()


def test_track_from_a_subfolder_takes_paths_relative_to_it(project: TempProject) -> None:
    _with_raw_data(project)
    proc = subprocess.run(
        [sys.executable, "-m", "pivot", "track", "raw.csv"],
        cwd=project.root / "data",
        env=pivot_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    assert "data/raw.csv.pvt" in proc.stdout
    assert (project.root / "data/raw.csv.pvt").is_file()


def test_a_malformed_manifest_is_one_line(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p")
    project.write("data/raw.csv.pvt", "schema: 1\npath: raw.csv\nhash: nothex\nsize: 1\n")
    proc = project.pivot("checkout", check=None)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: tracked-data manifest data/raw.csv.pvt is malformed (output 'data/raw.csv' has "
        "hash 'nothex', not 16 hex digits); restore it from git or run `pivot track` on its "
        "data again"
    ]
