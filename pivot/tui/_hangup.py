"""Exit the app when its terminal goes away without a SIGHUP.

A pty whose other side closes sends SIGHUP only to the session it controls; a terminal that is
not the controlling one (a harness, some multiplexers and IDE panes) just hangs up. Textual's
input thread then reads end-of-file in a loop, burning a share of a core, and the app never
exits. A thread polling the terminal for POLLHUP closes that gap.
"""

from __future__ import annotations

import select
import sys
import threading
from typing import Any

from textual.app import App

__all__ = ["HANGUP_EXIT_CODE", "exit_on_hangup"]

#: As a shell reports a process ended by SIGHUP.
HANGUP_EXIT_CODE = 129

_GONE = select.POLLHUP | select.POLLERR | select.POLLNVAL


def exit_on_hangup(app: App[Any], fd: int | None = None) -> threading.Event:
    """Watch ``fd`` (stdin) for a hangup and exit ``app`` with code 129 when it comes.

    Returns an event to set once the app has returned, which ends the watch.
    """
    done = threading.Event()
    if fd is None:
        try:
            fd = sys.stdin.fileno()
        except (AttributeError, OSError, ValueError):
            return done
    watched = fd

    def watch() -> None:
        poller = select.poll()
        poller.register(watched, 0)  # hangups and errors are always reported
        while not done.is_set():
            if not any(mask & _GONE for _, mask in poller.poll(250)):
                continue
            try:
                app.call_from_thread(app.exit, HANGUP_EXIT_CODE, return_code=HANGUP_EXIT_CODE)
                return
            except RuntimeError:  # the app is not running yet: tell it once it is
                done.wait(0.1)

    threading.Thread(target=watch, name="pivot-hangup", daemon=True).start()
    return done
