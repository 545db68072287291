"""``gs://`` and ``azure://`` remotes through the CLI, against real emulators over HTTP:
fake-gcs-server for GCS, Azurite for Azure Blob. The full loop (run, push, commit, ``git clone``,
pull, nothing re-runs) and the one-line errors a user meets first."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.azurite_server import ACCOUNT, AZURE_CONTAINER, AzuriteServer
from tests.gcs_server import GCS_BUCKET, GcsServer
from tests.helpers import REPO, TempProject
from tests.remote.conftest import PIPELINE, clone, record_stage


def _one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: "), stderr
    return lines[0]


def _prefix() -> str:
    return f"clone-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def gcs_project(project: TempProject, gcs_server: GcsServer) -> TempProject:
    project.pivot("config", "set", "remotes.origin", f"gs://{GCS_BUCKET}/{_prefix()}")
    project.pivot("config", "set", "remotes.origin.endpoint_url", gcs_server.endpoint_url)
    return project


@pytest.fixture
def azure_project(
    project: TempProject, azurite_server: AzuriteServer, monkeypatch: pytest.MonkeyPatch
) -> TempProject:
    """The remote names only its container: the connection string in the environment (as
    Azure's tools read it) says which account, where, and with which key."""
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite_server.connection_string)
    project.pivot("config", "set", "remotes.origin", f"azure://{AZURE_CONTAINER}/{_prefix()}")
    return project


def _run_push_clone_pull(source: TempProject, tmp_path: Path) -> None:
    source.write(".gitignore", "/out/\n")
    source.write("pipeline.py", PIPELINE)
    source.write("data/raw.txt", "alpha\nbeta\ngamma\n")
    assert source.statuses() == {"clean": "ran", "split": "ran", "count": "ran"}
    source.pivot("push")
    source.commit_all("pipeline, locks, remote config")
    other = clone(source, tmp_path / "clone")

    other.pivot("pull")

    assert other.read("out/clean.txt") == "ALPHA\nBETA\nGAMMA\n"
    assert sorted(p.name for p in (other.root / "out" / "parts").iterdir()) == [
        "line0.txt",
        "line1.txt",
        "line2.txt",
    ]
    assert other.statuses() == {"clean": "skipped", "split": "skipped", "count": "skipped"}
    other.pivot("verify", "--remote")


@pytest.mark.gcs
def test_gcs_push_then_a_fresh_clone_pulls(gcs_project: TempProject, tmp_path: Path) -> None:
    _run_push_clone_pull(gcs_project, tmp_path)


@pytest.mark.azure
def test_azure_push_then_a_fresh_clone_pulls(azure_project: TempProject, tmp_path: Path) -> None:
    _run_push_clone_pull(azure_project, tmp_path)


@pytest.mark.azure
def test_azure_with_account_endpoint_and_key(
    project: TempProject, azurite_server: AzuriteServer, tmp_path: Path
) -> None:
    """The other way to name an Azure remote: account and endpoint in config, the key in
    AZURE_STORAGE_KEY."""
    project.pivot("config", "set", "remotes.origin", f"azure://{AZURE_CONTAINER}/{_prefix()}")
    project.pivot("config", "set", "remotes.origin.account", ACCOUNT)
    project.pivot("config", "set", "remotes.origin.endpoint_url", azurite_server.endpoint_url)
    project.write("pipeline.py", PIPELINE)
    project.write("data/raw.txt", "one\n")
    project.statuses()
    key = {"AZURE_STORAGE_KEY": azurite_server.account_key}

    project.pivot("push", extra_env=key)

    project.pivot("verify", "--remote", extra_env=key)
    wrong = {"AZURE_STORAGE_KEY": "d3Jvbmcga2V5" * 7}  # base64, but not the account's key
    line = _one_error_line(project.pivot("verify", "--remote", check=1, extra_env=wrong).stderr)
    assert line.startswith(f"error: remote 'origin' (azure://{AZURE_CONTAINER}/")
    # Azurite answers a bad signature with AuthorizationFailure, Azure with AuthenticationFailed.
    assert " refused the request (AuthorizationFailure); check AZURE_STORAGE_" in line


@pytest.mark.gcs
def test_a_missing_gcs_bucket_is_one_line(project: TempProject, gcs_server: GcsServer) -> None:
    project.pivot("config", "set", "remotes.origin", "gs://no-such-bucket/p")
    project.pivot("config", "set", "remotes.origin.endpoint_url", gcs_server.endpoint_url)
    record_stage(project.root, "train", {"out/model.bin": b"weights"})

    line = _one_error_line(project.pivot("push", check=1).stderr)

    assert line == (
        f"error: bucket 'no-such-bucket' does not exist on remote 'origin' (gs://no-such-bucket/p "
        f"at {gcs_server.endpoint_url}); create it or fix "
        "`pivot config set remotes.origin gs://bucket/prefix`"
    )


@pytest.mark.azure
def test_a_missing_azure_container_is_one_line(
    project: TempProject, azurite_server: AzuriteServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite_server.connection_string)
    project.pivot("config", "set", "remotes.origin", "azure://no-such-container/p")
    record_stage(project.root, "train", {"out/model.bin": b"weights"})

    line = _one_error_line(project.pivot("push", check=1).stderr)

    assert line == (
        "error: container 'no-such-container' does not exist on remote 'origin' "
        f"(azure://no-such-container/p at {azurite_server.endpoint_url}); create it or fix "
        "`pivot config set remotes.origin azure://container/prefix`"
    )


@pytest.mark.parametrize(
    ("url", "extra_env"),
    [
        ("gs://bucket/p", {}),
        ("azure://container/p", {"AZURE_STORAGE_KEY": "a2V5"}),
    ],
)
def test_an_unreachable_endpoint_is_one_line(
    project: TempProject, url: str, extra_env: dict[str, str]
) -> None:
    endpoint = "http://127.0.0.1:9" + ("/devstoreaccount1" if url.startswith("azure") else "")
    project.pivot("config", "set", "remotes.origin", url)
    project.pivot("config", "set", "remotes.origin.endpoint_url", endpoint)
    record_stage(project.root, "train", {"out/model.bin": b"weights"})

    line = _one_error_line(project.pivot("push", check=1, extra_env=extra_env).stderr)

    assert line == (
        f"error: cannot reach remote 'origin' ({url} at {endpoint}) (connection refused); "
        "check that the server is up and remotes.origin.endpoint_url is right"
    )


@pytest.mark.parametrize(
    ("url", "module", "extra"),
    [
        ("gs://bucket/p", "google.cloud.storage", "gcs"),
        ("azure://container/p", "azure.storage.blob", "azure"),
    ],
)
def test_a_missing_sdk_says_which_extra_to_install(
    project: TempProject, tmp_path: Path, url: str, module: str, extra: str
) -> None:
    """A Python without the SDK: a ``sitecustomize`` blocks its import, as if it were not
    installed."""
    shim = tmp_path / "without-sdk"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text(f"import sys\nsys.modules[{module!r}] = None\n")
    project.pivot("config", "set", "remotes.origin", url)
    record_stage(project.root, "train", {"out/model.bin": b"weights"})

    proc = project.pivot("push", check=2, extra_env={"PYTHONPATH": f"{shim}:{REPO}"})

    line = _one_error_line(proc.stderr)
    assert line.startswith(f"error: remote 'origin' ({url}) needs the ")
    assert line.endswith(
        f"client, which is not installed; install pivot[{extra}] (pip install 'pivot[{extra}]')"
    )
