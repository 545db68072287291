from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pivot.core.store import state
from pivot.core.store.state import StateDB


@pytest.fixture
def state_db(tmp_path: Path) -> Iterator[StateDB]:
    """A real LMDB state database in ``tmp_path``, closed afterwards as process exit would."""
    db = StateDB(tmp_path / "state.lmdb")
    yield db
    env = state._ENVS.pop(db.path, None)
    if env is not None:
        env.close()
