"""Security: no path from a pipeline, a lock file, config or a revision writes outside the
project or the cache, and no cache blob is used before its hash matches the lock.

Everything is driven through the real CLI. See docs/security.md for the trust model.
"""

from __future__ import annotations

import os
import pickle
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from pivot.core.store.hashing import hash_file
from tests.helpers import TempProject

PIPELINE = """
from typing import Annotated
import pivot
from pivot import loaders

def make(raw: Annotated[str, pivot.Dep("raw.txt", loaders.Text())]) -> Annotated[str, pivot.Out("data/out.txt", loaders.Text())]:
    return raw.upper()

def split(raw: Annotated[str, pivot.Dep("raw.txt", loaders.Text())]) -> Annotated[dict, pivot.DirectoryOut("parts", loaders.Text())]:
    return {"a.txt": raw, "b.txt": raw * 2}

p = pivot.Pipeline("sec")
p.register(make)
p.register(split)
"""


@pytest.fixture
def ran(project: TempProject) -> TempProject:
    project.write("pipeline.py", PIPELINE)
    project.write("raw.txt", "hello\n")
    assert project.statuses() == {"make": "ran", "split": "ran"}
    return project


def _edit_lock(project: TempProject, stage: str, edit: Any) -> None:
    path = project.root / ".pivot" / "stages" / f"{stage}.lock"
    data = yaml.safe_load(path.read_text())
    edit(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def _one_error_line(stderr: str, *needles: str) -> None:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: "), stderr
    for needle in needles:
        assert needle in lines[0], stderr


def _lock_warning(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    """A lock that fails the checks is one warning (its stage re-runs), never a traceback;
    the command may still stop for another reason (push and pull without a remote)."""
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 1, proc.stderr
    assert warnings[0].endswith("the stage will re-run"), proc.stderr
    for needle in needles:
        assert needle in warnings[0], proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


# -- paths from lock files ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    ["../outside.txt", "ABSOLUTE", ".git/hooks/post-checkout", ".pivot/stages/split.lock"],
    ids=["parent", "absolute", "git-hook", "pivot-dir"],
)
def test_lock_output_path_that_escapes_is_refused_by_every_writer(
    ran: TempProject, tmp_path: Path, bad: str
) -> None:
    outside = tmp_path / "outside.txt"
    if bad == "ABSOLUTE":
        bad = str(outside)
    protected = ran.root / ".pivot" / "stages" / "split.lock"
    before = protected.read_bytes()

    def point_elsewhere(data: dict[str, Any]) -> None:
        data["outs"][0]["path"] = bad

    _edit_lock(ran, "make", point_elsewhere)
    (ran.root / "data" / "out.txt").unlink()

    for command in (("checkout", "--force"), ("pull",), ("push",), ("--no-tui", "run")):
        _lock_warning(ran.pivot(*command, check=None), "make.lock", bad)
    assert ran.read("data/out.txt") == "HELLO\n"  # the run wrote it where the pipeline says
    assert not outside.exists()
    assert not (ran.root.parent / "outside.txt").exists()
    assert not (ran.root / ".git" / "hooks" / "post-checkout").exists()
    assert protected.read_bytes() == before


@pytest.mark.parametrize("bad", ["../../escape.txt", "ABSOLUTE", "sub/../../escape.txt"])
def test_folder_manifest_entry_that_escapes_is_refused(
    ran: TempProject, tmp_path: Path, bad: str
) -> None:
    escape = tmp_path / "escape.txt"
    if bad == "ABSOLUTE":
        bad = str(escape)

    def smuggle(data: dict[str, Any]) -> None:
        data["outs"][0]["files"][0]["path"] = bad

    _edit_lock(ran, "split", smuggle)
    shutil.rmtree(ran.root / "parts")

    for command in (("checkout", "--force"), ("pull",), ("--no-tui", "run")):
        _lock_warning(ran.pivot(*command, check=None), "split.lock", bad)
    assert not escape.exists()
    assert not (ran.root.parent / "escape.txt").exists()


def test_lock_hash_that_is_a_path_never_touches_that_path(ran: TempProject, tmp_path: Path) -> None:
    """A blob name is joined under the cache folder: a "hash" of `..//abs/path` would name
    /abs/path, and restoring it would read it, find it corrupt and delete it."""
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")

    def aim(data: dict[str, Any]) -> None:
        data["outs"][0]["hash"] = ".." + str(victim)

    _edit_lock(ran, "make", aim)
    (ran.root / "data" / "out.txt").unlink()

    for command in (("checkout",), ("pull",), ("push",), ("--no-tui", "run")):
        _lock_warning(ran.pivot(*command, check=None), "make.lock", "not 16 hex digits")
    assert victim.read_text() == "precious"


def test_restore_refuses_to_write_through_a_symlink_out_of_the_project(
    ran: TempProject, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    shutil.move(ran.root / "data", elsewhere)
    (ran.root / "data").symlink_to(elsewhere, target_is_directory=True)
    (elsewhere / "out.txt").unlink()
    outside_parts = tmp_path / "outside_parts"
    outside_parts.mkdir()
    (outside_parts / "keep.txt").write_text("not pivot's")
    shutil.rmtree(ran.root / "parts")
    (ran.root / "parts").symlink_to(outside_parts, target_is_directory=True)

    for command in (("checkout", "--force", "make"), ("pull", "make")):
        proc = ran.pivot(*command, check=2)
        _one_error_line(proc.stderr, "data/out.txt", "symlink")
    for command in (("checkout", "--force", "split"), ("pull", "split")):
        proc = ran.pivot(*command, check=2)
        _one_error_line(proc.stderr, "parts", "symlink")
    assert not (elsewhere / "out.txt").exists()
    # The folder restore would have removed files its lock does not list: it never started.
    assert sorted(p.name for p in outside_parts.iterdir()) == ["keep.txt"]


def test_revision_manifest_entry_that_escapes_is_refused_by_data_get(
    ran: TempProject, tmp_path: Path
) -> None:
    def smuggle(data: dict[str, Any]) -> None:
        data["outs"][0]["files"][0]["path"] = "../../../escape.txt"

    _edit_lock(ran, "split", smuggle)
    ran.write(".gitignore", "/parts/\n/data/\n")
    ran.commit_all("hostile lock")
    dest = tmp_path / "dest" / "inner"

    proc = ran.pivot("data", "get", "parts", "--rev", "HEAD", "-o", str(dest), check=2)

    _one_error_line(proc.stderr, "escape.txt", "not a plain relative path inside the project")
    assert not (tmp_path / "escape.txt").exists()
    assert not dest.exists()


# -- paths from a pipeline ---------------------------------------------------------------------


@pytest.mark.parametrize("out", ["../escape.txt", "ABSOLUTE", ".pivot/cache/files/x"])
def test_pipeline_output_outside_the_project_is_a_definition_error(
    project: TempProject, tmp_path: Path, out: str
) -> None:
    if out == "ABSOLUTE":
        out = str(tmp_path / "escape.txt")
    project.write(
        "pipeline.py",
        f"""
from typing import Annotated
import pivot
from pivot import loaders

def leak() -> Annotated[str, pivot.Out({out!r}, loaders.Text())]:
    return "leaked"

p = pivot.Pipeline("leak")
p.register(leak)
""",
    )
    for command in (("--no-tui", "run"), ("status",)):
        proc = project.pivot(*command, check=2)
        _one_error_line(proc.stderr, out)
    assert not (tmp_path / "escape.txt").exists()
    assert not (project.root / ".pivot" / "cache" / "files" / "x").exists()


# -- config ------------------------------------------------------------------------------------


def test_config_has_no_path_valued_keys(project: TempProject, tmp_path: Path) -> None:
    """The cache and state locations are fixed under .pivot/: no setting can move a write."""
    proc = project.pivot("config", "set", "cache.dir", str(tmp_path / "elsewhere"), check=2)
    _one_error_line(proc.stderr, "unknown config key 'cache.dir'")
    project.write(".pivot/config.yaml", f"cache:\n  dir: {tmp_path / 'elsewhere'}\n")
    proc = project.pivot("config", "list", check=2)
    _one_error_line(proc.stderr, "unknown config key 'cache.dir'")
    assert not (tmp_path / "elsewhere").exists()


# -- pickles and tampered blobs ----------------------------------------------------------------

PICKLES = """
from typing import Annotated
import pivot
from pivot import loaders

def train(raw: Annotated[str, pivot.Dep("raw.txt", loaders.Text())]) -> Annotated[dict, pivot.Out("model.pkl", loaders.Pickle())]:
    return {"words": raw.split()}

def report(model: Annotated[dict, pivot.Dep("model.pkl", loaders.Pickle())]) -> Annotated[str, pivot.Out("report.txt", loaders.Text())]:
    return str(len(model["words"]))

p = pivot.Pipeline("pickles")
p.register(train)
p.register(report)
"""


class _Payload:
    """Unpickling this creates a file: proof that the bytes were loaded."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.marker), "w"))


@pytest.fixture
def pickled(project: TempProject) -> TempProject:
    project.write("pipeline.py", PICKLES)
    project.write("raw.txt", "a b c\n")
    assert project.statuses() == {"train": "ran", "report": "ran"}
    return project


def _tamper_model_blob(project: TempProject, marker: Path) -> tuple[str, bytes]:
    """Replace model.pkl's cache blob with a hostile pickle; return its hash and good bytes."""
    model = project.root / "model.pkl"
    digest = hash_file(model)
    good = model.read_bytes()
    blob = project.root / ".pivot" / "cache" / "files" / digest[:2] / digest[2:]
    os.chmod(blob, stat.S_IWUSR | stat.S_IRUSR)
    blob.write_bytes(pickle.dumps(_Payload(marker)))
    model.unlink()
    return digest, good


def test_tampered_pickle_blob_is_never_restored_by_checkout(
    pickled: TempProject, tmp_path: Path
) -> None:
    marker = tmp_path / "PWNED"
    _tamper_model_blob(pickled, marker)

    proc = pickled.pivot("checkout", "model.pkl", check=1)

    assert "corrupt" in proc.stdout
    assert not (pickled.root / "model.pkl").exists()
    assert not marker.exists()


def test_run_with_a_tampered_pickle_blob_reruns_instead_of_loading_it(
    pickled: TempProject, tmp_path: Path
) -> None:
    marker = tmp_path / "PWNED"
    digest, good = _tamper_model_blob(pickled, marker)

    statuses = pickled.statuses()

    # The restore found the blob corrupt, so train ran again and wrote the same bytes; report
    # (which unpickles model.pkl) saw an unchanged dep.
    assert statuses == {"train": "ran", "report": "skipped"}
    assert (pickled.root / "model.pkl").read_bytes() == good
    assert hash_file(pickled.root / "model.pkl") == digest
    blob = pickled.root / ".pivot" / "cache" / "files" / digest[:2] / digest[2:]
    assert hash_file(blob) == digest
    assert not marker.exists()


def test_data_get_refuses_a_tampered_blob(pickled: TempProject, tmp_path: Path) -> None:
    pickled.write(".gitignore", "/model.pkl\n/report.txt\n")
    pickled.commit_all("model")
    marker = tmp_path / "PWNED"
    _tamper_model_blob(pickled, marker)
    dest = tmp_path / "old.pkl"

    proc = pickled.pivot("data", "get", "model.pkl", "--rev", "HEAD", "-o", str(dest), check=1)

    _one_error_line(proc.stderr, "corrupt")
    assert not dest.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".old.pkl")]
    assert not marker.exists()
