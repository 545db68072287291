from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.azurite_server import azurite_server
from tests.dvc_tool import dvc_bin, dvc_env
from tests.gcs_server import gcs_server
from tests.helpers import TempProject, make_project
from tests.s3_server import s3_server

# One server (S3, GCS emulator, Azurite) per session for every suite that asks for it
# (tests/remote, tests/core/remote): registered here, at the root, so that two folders of
# tests do not start two servers.
__all__ = ["azurite_server", "dvc_bin", "dvc_env", "gcs_server", "s3_server"]

# Snapshot colours need a colour terminal: NO_COLOR would flatten them.
os.environ.pop("NO_COLOR", None)


@pytest.fixture
def project(tmp_path: Path) -> TempProject:
    """An initialized Pivot project in a fresh git repository."""
    return make_project(tmp_path / "proj")
