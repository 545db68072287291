"""What the folder store adds to the contract: the local cache's layout, writes that are
temp file + rename, and a folder that is missing or cannot be written reported in one line."""

from __future__ import annotations

import errno
import os
import re
import stat
from pathlib import Path

import pytest
from pydantic import ValidationError

from pivot.core import remote
from pivot.core.config import RemoteConfig
from pivot.core.remote import RemoteLocation, open_store
from pivot.core.store import atomic
from pivot.core.store.cache import Cache
from pivot.core.store.hashing import CHUNK
from pivot.exceptions import ConfigError
from tests.core.remote.conftest import blob


def _store(folder: Path) -> remote.BlobStore:
    return open_store(RemoteLocation.parse("nas", str(folder)))


def _files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def test_layout_is_the_local_cache_layout(nas: Path, tmp_path: Path) -> None:
    source, digest = blob(tmp_path, b"same place as in .pivot/cache")

    _store(nas).upload(source, digest, lambda n: None)

    local = Cache(tmp_path / "cache")
    local.add_file(source, digest)
    assert _files(nas) == _files(local.root) == [f"files/{digest[:2]}/{digest[2:]}"]
    blob_path = nas / "files" / digest[:2] / digest[2:]
    assert blob_path.read_bytes() == source.read_bytes()
    assert not blob_path.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)


def test_an_interrupted_upload_leaves_no_blob_and_no_temp_file(nas: Path, tmp_path: Path) -> None:
    source, digest = blob(tmp_path, b"x" * (3 * CHUNK))
    seen: list[int] = []

    def die_after_first_chunk(n: int) -> None:
        seen.append(n)
        raise KeyboardInterrupt  # the process is stopped mid-copy

    with pytest.raises(KeyboardInterrupt):
        _store(nas).upload(source, digest, die_after_first_chunk)

    assert seen == [CHUNK]
    assert _files(nas) == []
    assert not _store(nas).exists(digest)


def test_a_temp_file_left_by_a_killed_writer_is_not_a_blob(nas: Path, tmp_path: Path) -> None:
    source, digest = blob(tmp_path, b"half written elsewhere")
    final = nas / "files" / digest[:2] / digest[2:]
    final.parent.mkdir(parents=True)
    atomic.temp_path_for(final).write_bytes(b"half")
    store = _store(nas)

    assert not store.exists(digest)
    assert store.list_shard(digest[:2])[0] == set()
    assert store.upload(source, digest, lambda n: None) is True
    assert final.read_bytes() == source.read_bytes()


def test_a_missing_folder_is_never_created(tmp_path: Path) -> None:
    """A worker without the share mounted must fail, not fill a local folder of that name."""
    folder = tmp_path / "mnt" / "share"
    source, digest = blob(tmp_path, b"output")
    store = _store(folder)

    with pytest.raises(remote.RemoteUnavailableError, match="does not exist"):
        store.upload(source, digest, lambda n: None)
    with pytest.raises(remote.RemoteUnavailableError, match="does not exist"):
        store.download(digest, 6, tmp_path / "copy", lambda n: None)

    assert not folder.exists()


def test_a_file_where_the_folder_should_be(tmp_path: Path) -> None:
    (tmp_path / "nas").write_text("not a folder")

    with pytest.raises(remote.RemoteUnavailableError, match="is a file, not a folder"):
        _store(tmp_path / "nas").check()


def test_a_folder_that_cannot_be_written_stops_everything(
    nas: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, digest = blob(tmp_path, b"output")

    def refuse(src: object, dst: object) -> None:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(atomic.os, "replace", refuse)  # the rename into the share is refused

    with pytest.raises(remote.RemoteUnavailableError) as caught:
        _store(nas).upload(source, digest, lambda n: None)

    message = str(caught.value)
    assert message.startswith(f"remote 'nas' ({nas}): cannot write into {nas} (permission denied)")
    assert "\n" not in message
    monkeypatch.undo()
    assert _files(nas) == []  # the temp file went too


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_folder_serves_downloads_but_refuses_uploads(nas: Path, tmp_path: Path) -> None:
    source, digest = blob(tmp_path, b"published earlier")
    _store(nas).upload(source, digest, lambda n: None)
    new_source, new_digest = blob(tmp_path, b"new output", "new")
    for folder in [nas, *nas.rglob("*")]:
        if folder.is_dir():
            folder.chmod(0o555)
    try:
        store = _store(nas)
        store.check()
        store.download(digest, None, tmp_path / "copy", lambda n: None)
        with pytest.raises(remote.RemoteUnavailableError, match="permission denied"):
            store.upload(new_source, new_digest, lambda n: None)
    finally:
        for folder in [nas, *nas.rglob("*")]:
            if folder.is_dir():
                folder.chmod(0o755)
    assert (tmp_path / "copy").read_bytes() == b"published earlier"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("/mnt/shared/pivot-cache", "/mnt/shared/pivot-cache"),
        ("file:///mnt/shared/pivot-cache", "/mnt/shared/pivot-cache"),
        ("file://localhost/mnt/a%20b", "/mnt/a b"),
        ("../shared-cache", "/home/me/shared-cache"),
        ("cache/remote", "/home/me/project/cache/remote"),
    ],
)
def test_folder_urls(url: str, expected: str) -> None:
    location = RemoteLocation.parse("nas", url, root=Path("/home/me/project"))

    assert location.folder == Path(expected)
    assert location.describe() == f"remote 'nas' ({expected})"


def test_home_folder_url(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))

    assert RemoteLocation.parse("nas", "~/cache").folder == tmp_path / "cache"


def test_s3_settings_on_a_folder_remote_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"remotes\.nas\.endpoint_url"):
        RemoteLocation.parse("nas", "/mnt/x", "http://127.0.0.1:9000")


def test_a_relative_folder_needs_a_project() -> None:
    with pytest.raises(ConfigError, match="relative folder"):
        RemoteLocation.parse("nas", "cache/remote")


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ("/mnt/shared/pivot-cache/", "/mnt/shared/pivot-cache"),
        ("/", "/"),
        ("file:///mnt/x/", "file:///mnt/x"),
        ("file:///", "file:///"),
        ("../cache", "../cache"),
        ("s3://bucket/prefix/", "s3://bucket/prefix"),
        ("gs://bucket/prefix/", "gs://bucket/prefix"),
        ("azure://container/prefix/", "azure://container/prefix"),
        ("azure://container", "azure://container"),
    ],
)
def test_config_accepts_folders(value: str, stored: str) -> None:
    assert RemoteConfig(url=value).url == stored


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("hdfs://bucket/x", "got 'hdfs://bucket/x'"),
        ("azure://c/x", "expected azure://container/prefix, got 'azure://c/x'"),
        ("s3:/bucket", "expected s3://bucket/prefix, got 's3:/bucket'"),
        ("file://server/share", "a folder is a path or file:///path"),
    ],
)
def test_config_refuses_other_urls(value: str, message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        RemoteConfig(url=value)
