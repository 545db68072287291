from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers import TempProject, make_project

# Snapshot colours need a colour terminal: NO_COLOR would flatten them.
os.environ.pop("NO_COLOR", None)


@pytest.fixture
def project(tmp_path: Path) -> TempProject:
    """An initialized Pivot project in a fresh git repository."""
    return make_project(tmp_path / "proj")
