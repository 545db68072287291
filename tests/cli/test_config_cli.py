"""`pivot config get/set/unset/list`: three files, validated, merged, written atomically."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pivot.core.config import PivotConfig, Scope, known_keys, load_config, set_value
from pivot.exceptions import ConfigError
from tests.helpers import TempProject, pivot_env


@pytest.fixture(autouse=True)
def _user_config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "xdg"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    return home


def _yaml(path: Path) -> object:
    return yaml.safe_load(path.read_text())


def test_set_a_remote_and_read_it_back(project: TempProject) -> None:
    project.pivot("config", "set", "remotes.origin", "s3://bucket/some/prefix/")
    project.pivot("config", "set", "remotes.origin.endpoint_url", "http://127.0.0.1:8333")
    project.pivot("config", "set", "remotes.origin.region", "eu-west-1")
    project.pivot("config", "set", "default_remote", "origin")

    assert _yaml(project.root / ".pivot" / "config.yaml") == {
        "default_remote": "origin",
        "remotes": {
            "origin": {
                "url": "s3://bucket/some/prefix",
                "endpoint_url": "http://127.0.0.1:8333",
                "region": "eu-west-1",
            }
        },
    }
    assert project.pivot("config", "get", "remotes.origin").stdout == "s3://bucket/some/prefix\n"
    assert project.pivot("config", "get", "remotes.origin.region").stdout == "eu-west-1\n"
    assert project.pivot("config", "get", "remotes").stdout.splitlines() == [
        "remotes.origin.url=s3://bucket/some/prefix",
        "remotes.origin.endpoint_url=http://127.0.0.1:8333",
        "remotes.origin.region=eu-west-1",
    ]


def test_values_are_typed_by_the_model(project: TempProject) -> None:
    project.pivot("config", "set", "watch.debounce_ms", "500")
    project.pivot("config", "set", "executor.kind", "dask")
    project.pivot("config", "set", "executor.scheduler", "tcp://10.0.0.5:8786")
    project.pivot("config", "set", "executor.transport", "remote")

    assert _yaml(project.root / ".pivot" / "config.yaml") == {
        "watch": {"debounce_ms": 500},
        "executor": {"kind": "dask", "scheduler": "tcp://10.0.0.5:8786", "transport": "remote"},
    }
    config = load_config(project.root)
    assert config.watch.debounce_ms == 500 and config.executor.kind == "dask"


def test_defaults() -> None:
    config = PivotConfig()
    assert (config.executor.kind, config.executor.transport, config.executor.scheduler) == (
        "local",
        "shared",
        None,
    )
    assert config.watch.debounce_ms == 300
    assert config.remotes == {} and config.default_remote is None
    assert load_config(None) == config  # no project, no user file


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("executor.kind", "kubernetes", "bad value for config key 'executor.kind'"),
        ("executor.transport", "ftp", "Input should be 'shared' or 'remote'"),
        ("watch.debounce_ms", "soon", "unable to parse string as an integer (got 'soon')"),
        ("watch.debounce_ms", "-5", "greater than or equal to 0"),
        (
            "remotes.origin",
            "http://bucket/x",
            "expected s3://bucket/prefix, gs://bucket/prefix, azure://container/prefix or a folder",
        ),
        ("remotes.origin", "gs://Bucket/x", "expected gs://bucket/prefix, got 'gs://Bucket/x'"),
        ("remotes.origin.account", "My_Account", "expected an Azure storage account name"),
        ("remotes.origin.endpoint_url", "localhost:9000", "expected http(s)://host[:port]"),
        ("remotes.origin.region", "Mars North", "expected a region name"),
        (
            "executor.colour",
            "red",
            "unknown config key 'executor.colour'; known keys: default_remote",
        ),
        ("cache.dir", "/tmp", "unknown config key 'cache.dir'"),
        ("remotes.origin.url.extra", "x", "unknown config key 'remotes.origin.url.extra'"),
        ("remotes.bad name", "s3://b/p", "bad name 'bad name'"),
        (
            "executor",
            "dask",
            "'executor' is a section, not a value; set one of its keys: executor.kind",
        ),
    ],
)
def test_bad_keys_and_values_are_refused(
    project: TempProject, key: str, value: str, message: str
) -> None:
    project.pivot("config", "set", "watch.debounce_ms", "100")
    config_file = project.root / ".pivot" / "config.yaml"
    before = config_file.read_bytes()

    proc = project.pivot("config", "set", key, value, check=2)

    assert proc.stderr.startswith("error: ") and len(proc.stderr.strip().splitlines()) == 1
    assert message in proc.stderr
    assert config_file.read_bytes() == before  # nothing written


def test_project_overrides_user_and_local_overrides_project(
    project: TempProject, _user_config_home: Path
) -> None:
    project.pivot("config", "set", "--global", "executor.kind", "dask")
    project.pivot("config", "set", "--global", "watch.debounce_ms", "50")
    project.pivot(
        "config", "set", "--global", "remotes.origin.endpoint_url", "http://user-endpoint:1"
    )
    project.pivot("config", "set", "remotes.origin", "s3://team/cache")
    project.pivot("config", "set", "watch.debounce_ms", "200")
    project.pivot("config", "set", "--local", "watch.debounce_ms", "900")

    assert (_user_config_home / "pivot" / "config.yaml").is_file()
    assert project.pivot("config", "get", "watch.debounce_ms").stdout == "900\n"
    assert project.pivot("config", "get", "--project", "watch.debounce_ms").stdout == "200\n"
    assert project.pivot("config", "get", "--global", "watch.debounce_ms").stdout == "50\n"
    listing = project.pivot("config", "list", "--show-origin").stdout.splitlines()
    assert [line.split() for line in listing] == [
        ["project", "remotes.origin.url=s3://team/cache"],
        ["user", "remotes.origin.endpoint_url=http://user-endpoint:1"],
        ["user", "executor.kind=dask"],
        ["default", "executor.transport=shared"],
        ["local", "watch.debounce_ms=900"],
        ["default", "gc.keep_commits=10"],
        ["default", "cache.link=reflink"],
    ]
    rows = json.loads(project.pivot("config", "list", "--json").stdout)
    assert {"key": "executor.kind", "value": "dask", "origin": "user"} in rows
    assert project.pivot("config", "list", "--local").stdout == "watch.debounce_ms=900\n"


def test_unset(project: TempProject) -> None:
    project.pivot("config", "set", "remotes.origin", "s3://b/p")
    project.pivot("config", "set", "remotes.origin.region", "us-east-1")
    project.pivot("config", "set", "remotes.backup", "s3://b/backup")

    project.pivot("config", "unset", "remotes.origin.region")
    assert project.pivot("config", "get", "remotes.origin.region", check=1).stderr == (
        "error: config key 'remotes.origin.region' is not set\n"
    )
    project.pivot("config", "unset", "remotes.origin")  # the whole remote

    assert _yaml(project.root / ".pivot" / "config.yaml") == {
        "remotes": {"backup": {"url": "s3://b/backup"}}
    }
    proc = project.pivot("config", "unset", "remotes.origin", check=1)
    assert "not set in the project file" in proc.stderr
    project.pivot("config", "unset", "nonsense.key", check=2)


def test_a_bad_file_names_itself_and_can_be_repaired(project: TempProject) -> None:
    config_file = project.root / ".pivot" / "config.yaml"
    config_file.write_text("executor:\n  kind: local\n  flavour: vanilla\n")

    proc = project.pivot("config", "list", check=2)
    assert f"unknown config key 'executor.flavour' in {config_file}" in proc.stderr
    assert "pivot config unset executor.flavour" in proc.stderr
    project.pivot("push", check=2)  # every command that reads config refuses it the same way

    project.pivot("config", "unset", "executor.flavour")
    assert _yaml(config_file) == {"executor": {"kind": "local"}}
    project.pivot("config", "list")


def test_invalid_yaml(project: TempProject) -> None:
    (project.root / ".pivot" / "config.yaml").write_text("remotes: [unclosed\n")

    proc = project.pivot("config", "get", "remotes.origin", check=2)

    assert (
        "is not valid YAML at line 2" in proc.stderr or "is not valid YAML at line 1" in proc.stderr
    )


def test_default_remote_naming_no_remote_warns(project: TempProject) -> None:
    proc = project.pivot("config", "set", "default_remote", "origin")

    assert "warning: no remote 'origin' is configured yet" in proc.stderr


def test_outside_a_project_only_the_user_file(tmp_path: Path, _user_config_home: Path) -> None:
    folder = tmp_path / "not-a-project"
    folder.mkdir()

    def pivot(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "pivot", *args],
            cwd=folder,
            env=pivot_env(),
            capture_output=True,
            text=True,
        )

    proc = pivot("config", "set", "executor.kind", "dask")
    assert (
        proc.returncode == 2
        and "no Pivot project here" in proc.stderr
        and "--global" in proc.stderr
    )
    assert pivot("config", "set", "--global", "executor.kind", "dask").returncode == 0
    assert pivot("config", "get", "executor.kind").stdout == "dask\n"
    assert _yaml(_user_config_home / "pivot" / "config.yaml") == {"executor": {"kind": "dask"}}


def test_writes_leave_no_temp_files(project: TempProject) -> None:
    for value in ("10", "20", "30"):
        project.pivot("config", "set", "watch.debounce_ms", value)
    project.pivot("config", "set", "watch.debounce_ms", "x", check=2)

    names = sorted(p.name for p in (project.root / ".pivot").iterdir() if p.is_file())
    assert "config.yaml" in names
    assert not [n for n in names if "tmp" in n]


def test_api_rejects_without_writing(tmp_path: Path) -> None:
    root = tmp_path / "p"
    (root / ".pivot").mkdir(parents=True)
    with pytest.raises(ConfigError, match="unknown config key 'nope'"):
        set_value(root, "nope", "1", Scope.PROJECT)
    assert not (root / ".pivot" / "config.yaml").exists()
    assert "executor.kind" in known_keys() and "remotes.<name>.endpoint_url" in known_keys()


def test_help_lists_the_share_commands() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pivot", "--help"],
        env=pivot_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    share = proc.stdout.split("Share:")[1].split("\n\n")[0]
    for name in ("push", "pull", "fetch", "config"):
        assert name in share
    assert "verify" in proc.stdout
    # boto3 and pydantic stay out of the start-up path
    code = "import sys, pivot.cli; print('boto3' in sys.modules, 'pydantic' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], env=pivot_env(), capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["False", "False"]
    assert os.environ.get("XDG_CONFIG_HOME")
