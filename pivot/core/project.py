"""The per-project bundle of stores every command works with."""

from __future__ import annotations

import functools
from pathlib import Path

from pivot.core.store.cache import Cache
from pivot.core.store.lock import LockStore
from pivot.core.store.paths import PIPELINE_FILE, PIVOT_DIR, find_project_root
from pivot.core.store.state import StateDB


class Project:
    """Paths and stores of one Pivot project; stores open lazily."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.pivot_dir = root / PIVOT_DIR
        self.cache = Cache(self.pivot_dir / "cache")
        self.logs_dir = self.pivot_dir / "logs"
        self.pipeline_file = root / PIPELINE_FILE
        self.params_file = root / "params.yaml"
        self.code_store_dir = self.pivot_dir / "cache" / "code"

    @classmethod
    def discover(cls, start: Path | None = None) -> Project:
        return cls(find_project_root(start))

    @functools.cached_property
    def state(self) -> StateDB:
        return StateDB(self.pivot_dir / "state.lmdb")

    @functools.cached_property
    def locks(self) -> LockStore:
        return LockStore(self.pivot_dir / "stages", self.state)

    def abspath(self, rel: str) -> Path:
        return self.root / rel
