"""The per-project bundle of stores every command works with."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from pivot.core.store.paths import PARAMS_FILE, PIPELINE_FILE, PivotPaths, find_project_root
from pivot.core.store.state import StateDB

if TYPE_CHECKING:  # imported when first used: a no-op `run` needs none of them
    from pivot.core.store.cache import Cache
    from pivot.core.store.links import LinkMode
    from pivot.core.store.lock import LockStore
    from pivot.core.store.run_cache import RunCache


def warn_on_stderr(text: str) -> None:
    print(f"warning: {text}", file=sys.stderr, flush=True)


class Project:
    """Paths and stores of one Pivot project; stores open lazily."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.paths = PivotPaths(root)
        self.pivot_dir = self.paths.pivot_dir
        self.logs_dir = self.paths.logs
        self.pipeline_file = root / PIPELINE_FILE
        self.params_file = root / PARAMS_FILE
        self.code_store_dir = self.paths.code_sources
        #: Told about each unreadable lock file (its stage re-runs); the TUI shows a
        #: notification instead of the warning line.
        self.on_lock_problem: Callable[[str], None] = warn_on_stderr

    @classmethod
    def discover(cls, start: Path | None = None) -> Project:
        return cls(find_project_root(start))

    @functools.cached_property
    def state(self) -> StateDB:
        return StateDB(self.paths.state)

    @functools.cached_property
    def locks(self) -> LockStore:
        from pivot.core.store.lock import LockStore

        return LockStore(self.paths.stages, self.state, lambda text: self.on_lock_problem(text))

    @functools.cached_property
    def cache(self) -> Cache:
        from pivot.core.store.cache import Cache

        return Cache(self.paths.cache, link=self.link_mode)

    @functools.cached_property
    def link_mode(self) -> LinkMode:
        """``cache.link`` from the configuration (read once, when first needed)."""
        from pivot.core.config_files import any_config_file

        if not any_config_file(self.root):
            return "reflink"  # the default, without importing the config model (pydantic)
        from pivot.core.config import load_config

        return load_config(self.root).cache.link

    @functools.cached_property
    def run_cache(self) -> RunCache:
        from pivot.core.store.run_cache import RunCache

        return RunCache(self.paths.run_cache)

    def abspath(self, rel: str) -> Path:
        return self.root / rel
