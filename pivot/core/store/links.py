"""How a file gets from the workspace into the cache and back: reflink, hardlink or copy.

``cache.link`` chooses. A reflink (copy-on-write clone: btrfs, XFS, APFS-like filesystems)
shares the blocks until either side is written, so it costs no time and no space and is always
safe; where the filesystem cannot clone, Pivot copies. A hardlink makes the workspace file and
the cache blob one file: no second copy on disk, at the price of the workspace file being
read-only (a stage that writes an output gets a fresh file; Pivot never writes through a
link). Where a hardlink is impossible (another filesystem), Pivot copies.
"""

from __future__ import annotations

import errno
import os
import shutil
import sys
from pathlib import Path
from typing import Literal

from pivot.core.store.atomic import temp_path_for

__all__ = ["LINK_MODES", "LinkMode", "clone", "place", "unshare"]

LinkMode = Literal["reflink", "hardlink", "copy"]
LINK_MODES: tuple[LinkMode, ...] = ("reflink", "hardlink", "copy")

#: Linux's FICLONE ioctl: make ``dst`` share ``src``'s blocks.
_FICLONE = 0x40049409
#: Errors that mean "this filesystem (pair) cannot do it": fall back to a copy.
_UNSUPPORTED = {
    errno.EOPNOTSUPP,
    errno.ENOTSUP,
    errno.EXDEV,
    errno.EINVAL,
    errno.ENOTTY,
    errno.EPERM,
    errno.EMLINK,
    errno.ENOSYS,
}


def clone(source: Path, dest: Path) -> bool:
    """Make ``dest`` (a new file) a copy-on-write clone of ``source``; False (and no ``dest``)
    where the platform or filesystem cannot."""
    if not sys.platform.startswith("linux"):
        return False
    import fcntl

    with open(source, "rb") as src, open(dest, "wb") as dst:
        try:
            fcntl.ioctl(dst.fileno(), _FICLONE, src.fileno())
            return True
        except OSError as exc:
            if exc.errno not in _UNSUPPORTED:
                raise
    dest.unlink()
    return False


def place(source: Path, dest: Path, mode: LinkMode) -> LinkMode:
    """Create ``dest`` (which must not exist) with ``source``'s bytes, as ``mode`` asks where
    the filesystem allows it, else as a copy. Returns how it was made."""
    if mode == "hardlink":
        try:
            os.link(source, dest)
            return "hardlink"
        except OSError as exc:
            if exc.errno not in _UNSUPPORTED:
                raise
    elif mode == "reflink" and clone(source, dest):
        return "reflink"
    shutil.copyfile(source, dest)
    return "copy"


def unshare(path: Path) -> None:
    """Give ``path`` an inode of its own, writable, if it is a hardlink into the cache (before
    a stage appends to it in place)."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return
    if not path.is_file() or st.st_nlink < 2:
        return
    tmp = temp_path_for(path)
    shutil.copyfile(path, tmp)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
