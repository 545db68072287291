"""Worker processes started from inside a running Textual app."""

from __future__ import annotations

from pivot.core.run.engine import Engine
from pivot.core.run.executors import LocalExecutor


def prepare_process_start(engine: Engine) -> None:
    """Make sure worker processes can start once the app owns stderr.

    Inside a running Textual app ``sys.stderr.fileno()`` is -1. loky spawns workers lazily
    (on the first submit, and again after a cancel kills them), and each spawn first makes
    sure the multiprocessing and loky resource trackers run, launching them with stderr's
    descriptor: ``ValueError: bad value(s) in fds_to_keep``. Launching both trackers now
    (a few ms, once per process) lets every later spawn from inside the app succeed.
    """
    if not isinstance(engine.executor, LocalExecutor):
        return
    import contextlib
    import sys

    with contextlib.redirect_stderr(sys.__stderr__):
        from multiprocessing import resource_tracker as mp_tracker

        mp_tracker.ensure_running()
        try:
            from loky.backend import resource_tracker as loky_tracker

            loky_tracker.ensure_running()
        except ImportError:  # pragma: no cover - loky is a dependency
            pass
