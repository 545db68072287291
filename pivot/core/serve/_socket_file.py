"""The socket file: only its owner may connect, and two servers never share one path.

Linux lets a process connect to a Unix socket only with write permission on the file, so
mode 0600 keeps other users out; the folder must be the user's own and not writable by
everyone, or another user could swap the file for a socket of theirs. A socket file left by
a server that died is removed; one a live server answers on is refused.
"""

from __future__ import annotations

import contextlib
import os
import socket
import stat
from pathlib import Path

from pivot.exceptions import ServeError

#: sun_path holds 108 bytes including the terminating NUL.
_MAX_PATH = 107


def _check_folder(folder: Path) -> None:
    try:
        st = folder.stat()
    except OSError as exc:
        raise ServeError(
            f"cannot use {folder} for the socket ({exc.strerror}); create it"
        ) from None
    if st.st_uid != os.getuid():
        raise ServeError(
            f"{folder} belongs to another user; put the socket in a folder of your own (--socket)"
        )
    if st.st_mode & stat.S_IWOTH and not st.st_mode & stat.S_ISVTX:
        raise ServeError(
            f"{folder} is writable by every user; put the socket in a folder only you can "
            "write to (--socket)"
        )


def _answers(path: Path) -> bool:
    """True when a live server accepts connections at ``path``."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(2.0)
    try:
        probe.connect(str(path))
    except (ConnectionRefusedError, FileNotFoundError):
        return False
    except PermissionError:
        raise ServeError(f"{path} is another user's socket; pass --socket elsewhere") from None
    except OSError:
        return False
    finally:
        probe.close()
    return True


def listen(path: Path) -> tuple[socket.socket, int]:
    """A listening socket at ``path`` (absolute), mode 0600, and the file's inode."""
    if len(os.fsencode(path)) > _MAX_PATH:
        raise ServeError(
            f"socket path {path} is too long for a Unix socket ({_MAX_PATH} bytes at most); "
            "pass a shorter --socket"
        )
    _check_folder(path.parent)
    if os.path.lexists(path):
        if not stat.S_ISSOCK(os.lstat(path).st_mode):
            raise ServeError(f"{path} exists and is not a socket; remove it or pass --socket")
        if _answers(path):
            raise ServeError(f"a server is already listening on {path}; stop it first")
        os.unlink(path)  # left by a server that died
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    # The file is created by bind(): a umask that leaves only the owner's bits means it is
    # never open to others, not even between bind() and chmod().
    previous = os.umask(0o177)
    try:
        sock.bind(str(path))
    except OSError as exc:
        sock.close()
        raise ServeError(f"cannot listen on {path}: {exc.strerror or exc}") from None
    finally:
        os.umask(previous)
    os.chmod(path, 0o600)
    sock.listen(64)
    sock.setblocking(False)
    return sock, os.stat(path).st_ino


def remove(path: Path, inode: int) -> None:
    """Delete the socket file, if it is still the one this server created."""
    with contextlib.suppress(OSError):
        if os.stat(path).st_ino == inode:
            os.unlink(path)


def peer_is_owner(sock: socket.socket) -> bool:
    """The connecting process runs as this user (Linux's SO_PEERCRED; elsewhere the file
    mode alone decides)."""
    option = getattr(socket, "SO_PEERCRED", None)
    if option is None:
        return True
    import struct

    creds = sock.getsockopt(socket.SOL_SOCKET, option, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return bool(uid == os.getuid())
