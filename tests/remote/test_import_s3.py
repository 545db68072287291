"""`pivot import` and `pivot update` between two repositories sharing an S3 remote (SeaweedFS).

The source commits its remote (URL and endpoint) in `.pivot/config.yaml`; the consumer reads
it from there at the revision it imports, and pushes to the same bucket prefix.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import yaml

from tests.helpers import TempProject, pivot_env
from tests.import_sources import make_consumer, make_source
from tests.remote.conftest import configure_remote
from tests.s3_server import S3Server


def test_import_update_and_clone_through_a_shared_s3_remote(
    s3: S3Server, remote_url: str, tmp_path: Path
) -> None:
    def configure(project: TempProject) -> None:
        configure_remote(project.root, s3, remote_url)

    source = make_source(tmp_path / "source", configure)
    consumer = make_consumer(tmp_path / "consumer", configure)

    consumer.pivot("import", "../source", "out/clean.txt", "--rev", "main")
    consumer.pivot("import", "../source", "out/clean.txt", "--rev", "v1", "-o", "tagged.txt")
    consumer.pivot("import", "../source", "out/parts", "--rev", "HEAD~1")
    assert consumer.read("clean.txt") == "GAMMA\nDELTA\nEPS\n"
    assert consumer.read("tagged.txt") == "ALPHA\nBETA\n"
    assert sorted(p.name for p in (consumer.root / "parts").iterdir()) == [
        "line0.txt",
        "line1.txt",
    ]
    manifest = yaml.safe_load(consumer.read("parts.pvt"))
    assert manifest["import"]["commit"] == source.commit("HEAD~1")
    assert consumer.statuses() == {"shout": "ran"}

    new = source.release("zeta\n")
    rows = json.loads(consumer.pivot("status", "--json", "--imports").stdout)["imports"]
    assert {row["path"]: row["status"] for row in rows} == {
        "clean.txt": "behind",
        "parts": "behind",  # HEAD~1 moves with HEAD
        "tagged.txt": "current",
    }
    consumer.pivot("update")
    assert consumer.read("clean.txt") == "ZETA\n"
    assert consumer.read("tagged.txt") == "ALPHA\nBETA\n"
    assert yaml.safe_load(consumer.read("clean.txt.pvt"))["import"]["commit"] == new
    assert consumer.statuses() == {"shout": "ran"}
    assert consumer.read("shout.txt") == "ZETA!"

    consumer.pivot("push")
    consumer.commit_all("imports")
    subprocess.run(
        ["git", "clone", "-q", str(consumer.root), str(tmp_path / "clone")],
        check=True,
        env=pivot_env(),
    )
    clone = TempProject(tmp_path / "clone")
    clone.pivot("pull")
    assert clone.read("clean.txt") == "ZETA\n"
    assert clone.read("parts/line0.txt") == "GAMMA"
    # The consumer's lock and output came along: nothing to run.
    assert clone.read("shout.txt") == "ZETA!"
    assert clone.statuses() == {"shout": "skipped"}


def test_a_dead_s3_endpoint_is_one_line(s3: S3Server, remote_url: str, tmp_path: Path) -> None:
    def configure(project: TempProject) -> None:
        configure_remote(project.root, s3, remote_url)

    make_source(tmp_path / "source", configure)
    consumer = make_consumer(tmp_path / "consumer", configure)
    consumer.pivot("config", "set", "remotes.dead", "s3://pivot/x")
    consumer.pivot("config", "set", "remotes.dead.endpoint_url", "http://127.0.0.1:9")
    proc = consumer.pivot("import", "../source", "out/clean.txt", "--remote", "dead", check=1)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot reach remote 'dead'" in lines[0], lines
    assert not (consumer.root / "clean.txt.pvt").exists()
