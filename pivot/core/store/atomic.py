"""Atomic file writes: write a temporary file beside the target, then rename over it.

We rename without fsync: a killed process can never leave a half-written file under the final
name, which is the failure we guard against; surviving power loss would cost an fsync per lock
file, several milliseconds each.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

TMP_MARK = ".pivot-tmp-"


def temp_path_for(target: Path) -> Path:
    """A unique temporary path in ``target``'s folder that keeps its suffix (loaders care):
    ``.NAME.pivot-tmp-PID-RANDOM.SUFFIX``. The writer's pid tells a leftover of a killed
    process from a file being written (see :mod:`pivot.core.store.sweep`)."""
    token = f"{os.getpid()}-{secrets.token_hex(4)}"
    return target.with_name(f".{target.name}{TMP_MARK}{token}{target.suffix}")


def is_temp_path(path: Path) -> bool:
    return TMP_MARK in path.name


@contextlib.contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path; on success rename it to ``target``, on failure remove it."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path_for(target)
    try:
        yield tmp
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def write_bytes_atomic(target: Path, data: bytes) -> None:
    with atomic_path(target) as tmp, open(tmp, "wb") as handle:
        handle.write(data)


def write_text_atomic(target: Path, text: str) -> None:
    write_bytes_atomic(target, text.encode("utf-8"))


def remove_path(path: Path) -> None:
    """Remove a file, symlink or folder tree at ``path``; nothing there is fine."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()
