"""`pivot import` and `pivot update` from a real DVC repository (DVC from tests/dvc_tool.py).

The source is made by DVC itself: `dvc add` of a file and a folder, a `dvc.yaml` stage writing a
file and a folder, `dvc push` to a folder remote named by a relative path in `.dvc/config`, and
git commits. The consumer is a Pivot project that imports from it, runs a stage on the import,
pushes it to its own remote and is cloned.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.dvc_tool import dvc, make_dvc_source
from tests.helpers import TempProject, make_project

CONSUMER_PIPELINE = """
from typing import Annotated

import pivot
from pivot import loaders


def count(images: Annotated[str, pivot.Dep("images/one.txt", loaders.Text())]) -> Annotated[
    str, pivot.Out("count.txt", loaders.Text())
]:
    return images.strip() + "!"


pipeline = pivot.Pipeline("consumer")
pipeline.register(count)
"""


@pytest.fixture
def source(tmp_path: Path, dvc_env: dict[str, str]) -> TempProject:
    return make_dvc_source(tmp_path / "dvc-source", dvc_env)


@pytest.fixture
def consumer(tmp_path: Path) -> TempProject:
    return make_project(tmp_path / "consumer")


def _import(consumer: TempProject, *args: str, check: int = 0) -> subprocess.CompletedProcess[str]:
    return consumer.pivot("import", "../dvc-source", *args, check=check)


def test_added_data_and_stage_outputs_come_over_byte_for_byte(
    source: TempProject, consumer: TempProject
) -> None:
    _import(consumer, "data/raw.csv")
    _import(consumer, "data/images", "--out", "images")
    _import(consumer, "out/prepared.csv")
    _import(consumer, "out/feat/b.txt", "--out", "b.txt")

    assert consumer.read("raw.csv") == source.read("data/raw.csv")
    assert consumer.read("images/one.txt") == "one" and consumer.read("images/two.txt") == "two"
    assert consumer.read("prepared.csv") == "A,B\n1,2\n"
    assert consumer.read("b.txt") == "feature b"
    manifest = yaml.safe_load(consumer.read("images.pvt"))
    assert [f["path"] for f in manifest["files"]] == ["one.txt", "two.txt"]
    assert manifest["import"]["repo"] == "../dvc-source"
    assert manifest["import"]["path"] == "data/images"
    head = source.git("rev-parse", "HEAD").strip()
    assert manifest["import"]["commit"] == head
    assert consumer.pivot("verify").returncode == 0


def test_an_import_is_a_dep_that_is_pushed_pulled_and_updated(
    source: TempProject, consumer: TempProject, tmp_path: Path, dvc_env: dict[str, str]
) -> None:
    _import(consumer, "data/images", "--out", "images")
    consumer.write("pipeline.py", CONSUMER_PIPELINE)
    assert consumer.statuses() == {"count": "ran"}
    assert consumer.statuses() == {"count": "skipped"}

    source.write("data/images/one.txt", "ONE, edited")
    source.write("data/images/three.txt", "three")
    dvc(source, dvc_env, "add", "-q", "data/images")
    dvc(source, dvc_env, "push", "-q")
    source.commit_all("more images")
    status = consumer.pivot("--no-tui", "status", "--imports").stdout
    assert "behind" in status and "images" in status

    updated = consumer.pivot("update", "images").stdout
    assert "3 files" in updated
    assert consumer.read("images/three.txt") == "three"
    assert consumer.statuses() == {"count": "ran"}
    assert consumer.read("count.txt") == "ONE, edited!"

    _import(consumer, "data/images", "--rev", "HEAD~1", "--out", "old_images")
    assert sorted(p.name for p in (consumer.root / "old_images").iterdir()) == [
        "one.txt",
        "two.txt",
    ]

    (tmp_path / "consumer-remote").mkdir()
    consumer.pivot("config", "set", "remotes.origin", str(tmp_path / "consumer-remote"))
    consumer.pivot("push")
    consumer.commit_all("imports")
    clone = TempProject(tmp_path / "clone")
    subprocess.run(
        ["git", "clone", "-q", str(consumer.root), str(clone.root)], check=True, timeout=60
    )
    clone.pivot("pull")
    assert clone.read("images/one.txt") == "ONE, edited"
    assert clone.statuses() == {"count": "skipped"}


def test_what_cannot_be_imported_is_one_line_and_writes_nothing(
    source: TempProject, consumer: TempProject, tmp_path: Path
) -> None:
    in_git = _import(consumer, "dvc.yaml", check=2).stderr
    assert "committed to git" in in_git and len(in_git.strip().splitlines()) == 1
    metric = _import(consumer, "out/metrics.json", check=2).stderr
    assert "cache: false" in metric and len(metric.strip().splitlines()) == 1
    unknown = _import(consumer, "data/nothing.csv", check=2).stderr
    assert "neither an output in a dvc.lock nor data of a .dvc file" in unknown

    # a corrupt object on the DVC remote is refused; nothing enters the workspace
    lock = yaml.safe_load(source.read("data/raw.csv.dvc"))
    md5 = lock["outs"][0]["md5"]
    blob = tmp_path / "dvc-remote" / "files" / "md5" / md5[:2] / md5[2:]
    blob.chmod(0o644)
    blob.write_text("tampered")
    corrupt = _import(consumer, "data/raw.csv", check=1).stderr
    assert "corrupt" in corrupt and len(corrupt.strip().splitlines()) == 1
    assert not (consumer.root / "raw.csv").exists()
    assert not (consumer.root / "raw.csv.pvt").exists()

    blob.unlink()
    missing = _import(consumer, "data/raw.csv", check=1).stderr
    assert "dvc push" in missing and len(missing.strip().splitlines()) == 1
    assert not (consumer.root / "raw.csv.pvt").exists()

    # --remote: a remote of the source's .dvc/config, else a folder or URL, else an error
    _import(consumer, "data/images", "--remote", "store", "--out", "named")
    _import(consumer, "data/images", "--remote", str(tmp_path / "dvc-remote"), "--out", "given")
    assert consumer.read("named/one.txt") == consumer.read("given/one.txt") == "one"
    nowhere = _import(consumer, "data/images", "--remote", "nowhere", check=2).stderr
    assert "no remote 'nowhere' in ../dvc-source's .dvc/config" in nowhere

    # the whole DVC remote gone (an unmounted share): one line naming it, nothing written
    shutil.rmtree(tmp_path / "dvc-remote")
    dead = _import(consumer, "data/images", check=1).stderr
    assert "the DVC remote of ../dvc-source" in dead and "--remote" in dead
    assert len(dead.strip().splitlines()) == 1
    assert not (consumer.root / "images").exists()


def test_progress_hears_of_each_file_of_a_folder(
    source: TempProject, consumer: TempProject
) -> None:
    """What the CLI's progress bar draws on a terminal: one snapshot per file, then done."""
    from pivot.core.project import Project
    from pivot.core.remote import Phase, TransferProgress
    from pivot.core.run.imports import import_data

    snapshots: list[TransferProgress] = []
    result = import_data(
        Project(consumer.root), "../dvc-source", "data/images", "images", progress=snapshots.append
    )

    assert result.files == 2 and result.fetched == 3  # the folder's listing and its two files
    done = [s for s in snapshots if s.phase is Phase.TRANSFERRING and s.current is not None]
    assert sorted(s.current for s in done if s.current) == ["one.txt", "two.txt"]
    assert snapshots[-1].phase is Phase.DONE
    assert snapshots[-1].files_done == snapshots[-1].files_total == 2
    assert snapshots[-1].bytes_done == len("one") + len("two")


def test_an_update_downloads_only_the_objects_that_changed(
    source: TempProject, consumer: TempProject, dvc_env: dict[str, str]
) -> None:
    from pivot.core.project import Project
    from pivot.core.run.imports import import_data, update

    project = Project(consumer.root)
    first = import_data(project, "../dvc-source", "data/images", "images")
    assert first.fetched == 3  # the listing and both files

    source.write("data/images/two.txt", "TWO, edited")
    dvc(source, dvc_env, "add", "-q", "data/images")
    dvc(source, dvc_env, "push", "-q")
    source.commit_all("one image edited")

    (moved,) = update(project, ["images"])
    assert moved.changed and moved.fetched == 2  # the new listing and the edited file
    assert consumer.read("images/two.txt") == "TWO, edited"
    back = import_data(project, "../dvc-source", "data/images", "old", rev="HEAD~1")
    assert back.fetched == 1  # only the listing: both files' bytes are in the cache
    assert consumer.read("old/two.txt") == "two"
