"""`pivot import` from a DVC repository whose DVC remote is S3 (SeaweedFS, over HTTP).

DVC's own S3 plugin is not needed: the source is pushed by DVC to a folder remote, its objects
are copied into the bucket as `dvc push` would lay them out, and `.dvc/config` is pointed at
the bucket with an `endpointurl`, as a DVC user of an S3-compatible store writes it.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.dvc_tool import make_dvc_source
from tests.helpers import make_project
from tests.s3_server import BUCKET, S3Server


def test_import_from_a_dvc_repository_with_an_s3_remote(
    s3: S3Server, remote_url: str, tmp_path: Path, dvc_env: dict[str, str]
) -> None:
    source = make_dvc_source(tmp_path / "dvc-source", dvc_env)
    prefix = remote_url.removeprefix(f"s3://{BUCKET}/")
    client = s3.client()
    for blob in sorted((tmp_path / "dvc-remote").rglob("*")):
        if blob.is_file():
            key = f"{prefix}/{blob.relative_to(tmp_path / 'dvc-remote').as_posix()}"
            client.put_object(Bucket=BUCKET, Key=key, Body=blob.read_bytes())
    source.write(
        ".dvc/config",
        f"[core]\n    remote = cloud\n['remote \"cloud\"']\n    url = {remote_url}\n"
        f"    endpointurl = {s3.endpoint_url}\n",
    )
    source.commit_all("the remote moves to S3")
    consumer = make_project(tmp_path / "consumer")

    consumer.pivot("import", "../dvc-source", "out/feat", "-o", "feat")
    consumer.pivot("import", "../dvc-source", "data/raw.csv")

    assert consumer.read("feat/a.txt") == "feature a" and consumer.read("feat/b.txt") == "feature b"
    assert consumer.read("raw.csv") == "a,b\n1,2\n"
    assert yaml.safe_load(consumer.read("feat.pvt"))["import"]["path"] == "out/feat"

    listing = yaml.safe_load(source.read("data/images.dvc"))["outs"][0]["md5"]
    md5 = listing.removesuffix(".dir")
    client.delete_object(Bucket=BUCKET, Key=f"{prefix}/files/md5/{md5[:2]}/{md5[2:]}.dir")
    gone = consumer.pivot("import", "../dvc-source", "data/images", check=1).stderr
    assert "dvc push" in gone and len(gone.strip().splitlines()) == 1
    assert not (consumer.root / "images.pvt").exists()
