"""A folder as the remote, driven through the real `pivot` CLI in temporary git repositories:
`pivot config set remotes.nas /some/folder`, push, clone, pull, and what goes wrong safely."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pivot.core.project import Project
from pivot.core.remote import lock_blobs
from pivot.core.store.lock import parse_lock
from tests.helpers import TempProject, pivot_env
from tests.remote.conftest import PIPELINE, cache_files, clone


def _tree(root: Path, *rels: str) -> dict[str, bytes]:
    """Every file under ``rels`` (files or folders), by path relative to ``root``."""
    found: dict[str, bytes] = {}
    for rel in rels:
        path = root / rel
        paths = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        found.update({p.relative_to(root).as_posix(): p.read_bytes() for p in paths})
    return found


def _remote_blobs(folder: Path) -> dict[str, bytes]:
    files = folder / "files"
    return {p.parent.name + p.name: p.read_bytes() for p in files.glob("*/*") if p.name[0] != "."}


def _errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def _assert_cache_sound(root: Path) -> None:
    """Only blobs whose bytes match their names in the cache; no downloads left behind."""
    cache = Project(root).cache
    for rel in cache_files(root):
        shard, _, rest = rel.partition("/")
        assert len(shard) == 2 and "/" not in rest and "." not in rest, rel
        assert cache.verify(shard + rest), f"corrupt blob in the cache: {rel}"
    leftovers = root / ".pivot" / "tmp" / "remote"
    assert not leftovers.exists() or not any(leftovers.iterdir())


@pytest.fixture
def ran(shared_folder: TempProject) -> TempProject:
    """The three-stage pipeline (file, folder and metric outputs), run once."""
    shared_folder.write("pipeline.py", PIPELINE)
    shared_folder.write("data/raw.txt", "alpha\nbeta\ngamma\n")
    assert shared_folder.statuses() == {"clean": "ran", "split": "ran", "count": "ran"}
    return shared_folder


def test_push_clone_pull_gives_identical_outputs(
    ran: TempProject, nas: Path, tmp_path: Path
) -> None:
    pushed = ran.pivot("push")
    assert f"pushed to remote 'nas' ({nas})" in pushed.stdout
    ran.commit_all("pipeline, locks, remote config")
    other = clone(ran, tmp_path / "clone")
    assert not (other.root / "out").exists()

    other.pivot("pull")

    outputs = ("out", "metrics.json")
    assert _tree(other.root, *outputs) == _tree(ran.root, *outputs)
    assert other.statuses() == {"clean": "skipped", "split": "skipped", "count": "skipped"}
    other.pivot("verify")
    other.pivot("verify", "--remote")
    _assert_cache_sound(other.root)


def test_the_folder_holds_exactly_the_locked_blobs(ran: TempProject, nas: Path) -> None:
    ran.pivot("push")

    locks = [parse_lock(ran.lock(stage)) for stage in ("clean", "split", "count")]
    wanted = {ref.hash: ref.path for ref in lock_blobs(locks).values()}
    assert {digest: data for digest, data in _remote_blobs(nas).items()} == {
        digest: (ran.root / path).read_bytes() for digest, path in wanted.items()
    }
    assert not [p for p in nas.rglob("*") if p.is_file() and ".pivot-tmp-" in p.name]


def test_status_and_verify_ask_the_folder(ran: TempProject, nas: Path) -> None:
    assert ran.pivot("verify", "--remote", check=1).returncode == 1
    ran.pivot("push")
    ran.pivot("verify", "--remote")
    victim = next((nas / "files").glob("*/*"))

    victim.unlink()  # someone cleans the share behind our back

    proc = ran.pivot("verify", "--remote", check=1)
    assert "not on the remote" in proc.stdout
    assert _errors(proc.stderr) == [
        "error: 1 output (1 file) not on the remote; run `pivot push` where they were produced"
    ]
    ran.pivot("push")  # the index believed it was there; push repairs what verify found
    ran.pivot("verify", "--remote")


def test_a_corrupt_blob_in_the_folder_is_refused(
    ran: TempProject, nas: Path, tmp_path: Path
) -> None:
    ran.pivot("push")
    ran.commit_all()
    digest = _clean_hash(ran)
    blob = nas / "files" / digest[:2] / digest[2:]
    blob.chmod(0o644)
    blob.write_bytes(b"X" * blob.stat().st_size)
    other = clone(ran, tmp_path / "clone")

    proc = other.pivot("fetch", check=1)

    corrupt = [line for line in proc.stderr.splitlines() if "corrupt" in line]
    assert len(corrupt) == 2, proc.stderr  # the blob's line, and the summary naming it first
    assert "out/clean.txt" in corrupt[0] and "\n" not in corrupt[0]
    assert _errors(proc.stderr) == [corrupt[1]]
    assert not Project(other.root).cache.has(digest)
    assert len(cache_files(other.root)) == len(_remote_blobs(nas)) - 1  # the others came
    _assert_cache_sound(other.root)

    pulled = other.pivot("pull", check=1)
    assert not (other.root / "out" / "clean.txt").exists()
    assert (other.root / "out" / "parts" / "line0.txt").read_text() == "ALPHA"
    assert "error: 1 output file could not be pulled" in pulled.stderr
    _assert_cache_sound(other.root)


def _clean_hash(project: TempProject) -> str:
    return parse_lock(project.lock("clean")).out_records()["out/clean.txt"].hash


@pytest.mark.parametrize(
    "command", [("push",), ("fetch",), ("pull",), ("status", "--remote"), ("verify", "--remote")]
)
def test_a_missing_folder_is_one_line(
    ran: TempProject, tmp_path: Path, command: tuple[str, ...]
) -> None:
    ran.pivot("config", "set", "remotes.nas", str(tmp_path / "unmounted"))
    Project(ran.root).cache.quarantine(_clean_hash(ran))  # give fetch and pull something to do
    (ran.root / "out" / "clean.txt").unlink()
    before = cache_files(ran.root)

    proc = ran.pivot(*command, check=1)

    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0] == (
        f"error: remote 'nas' ({tmp_path / 'unmounted'}): the folder does not exist; mount or "
        "create it, or point the remote elsewhere with `pivot config set remotes.nas "
        "/path/to/folder`"
    )
    assert not (tmp_path / "unmounted").exists()
    assert cache_files(ran.root) == before


def test_doctor_checks_the_folder(ran: TempProject, tmp_path: Path) -> None:
    assert "remote 'nas'" in ran.pivot("doctor", check=None).stdout
    ran.pivot("config", "set", "remotes.nas", str(tmp_path / "unmounted"))

    proc = ran.pivot("doctor", check=1)

    assert "the folder does not exist" in proc.stdout


def test_relative_and_file_url_remotes(ran: TempProject, tmp_path: Path) -> None:
    (tmp_path / "beside").mkdir()
    ran.pivot("config", "set", "remotes.nas", "../beside/")
    assert ran.pivot("config", "get", "remotes.nas").stdout.strip() == "../beside"

    ran.pivot("push")

    relative = _remote_blobs(tmp_path / "beside")
    assert relative
    ran.pivot("config", "set", "remotes.nas", f"file://{tmp_path / 'beside'}")
    proc = ran.pivot("push")
    assert f"{len(relative)} of {len(relative)} already there" in proc.stdout


def test_cloud_settings_on_a_folder_remote(ran: TempProject, nas: Path) -> None:
    ran.pivot("config", "set", "remotes.nas.endpoint_url", "http://127.0.0.1:9000")

    proc = ran.pivot("push", check=2)

    assert _errors(proc.stderr) == [
        f"error: remote 'nas' is a folder ({nas}) but has endpoint_url set, which only s3://, "
        "gs://, azure:// remotes use; remove it with `pivot config unset remotes.nas.endpoint_url`"
    ]


def test_dask_remote_transport_through_a_folder(
    ran: TempProject, nas: Path, tmp_path: Path
) -> None:
    """Workers that do not see the project reach deps and outputs through the folder."""
    pytest.importorskip("distributed")
    expected = _tree(ran.root, "out", "metrics.json")
    ran.pivot("config", "set", "executor.kind", "dask")
    ran.pivot("config", "set", "executor.transport", "remote")
    env = pivot_env()
    env["PIVOT_WORKER_SCRATCH"] = str(tmp_path / "scratch")
    env["DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES"] = "0"

    proc = subprocess.run(
        [sys.executable, "-m", "pivot", "--no-tui", "run", "--json", "--force"],
        cwd=ran.root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    finished = {e["stage"]: e["status"] for e in events if e["event"] == "stage_finished"}
    assert finished == {"clean": "ran", "split": "ran", "count": "ran"}
    assert _tree(ran.root, "out", "metrics.json") == expected
    assert _clean_hash(ran) in _remote_blobs(nas)  # the worker uploaded it there
