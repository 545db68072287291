"""Where Pivot's config files live (no pydantic here: the hot path asks this first)."""

from __future__ import annotations

import enum
import os
from pathlib import Path

from pivot.core.store.paths import PIVOT_DIR
from pivot.exceptions import ConfigError

CONFIG_FILE = "config.yaml"
LOCAL_CONFIG_FILE = "config.local.yaml"


class Scope(enum.StrEnum):
    """Which file a read or write targets; listed from weakest to strongest."""

    USER = "user"
    PROJECT = "project"
    LOCAL = "local"


def user_config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "pivot" / CONFIG_FILE


def config_path(scope: Scope, root: Path | None) -> Path:
    """The file of ``scope``; project and local scopes need a project ``root``."""
    if scope is Scope.USER:
        return user_config_path()
    if root is None:
        raise ConfigError(
            f"no Pivot project here, so there is no {scope} config file; run `pivot init` or use --global"
        )
    name = CONFIG_FILE if scope is Scope.PROJECT else LOCAL_CONFIG_FILE
    return root / PIVOT_DIR / name


def any_config_file(root: Path | None) -> bool:
    """True if any config file exists for ``root``: when none does, every setting is default."""
    scopes = [Scope.USER] if root is None else list(Scope)
    return any(config_path(scope, root).is_file() for scope in scopes)
