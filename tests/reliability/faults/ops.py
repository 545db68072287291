"""The commands a trial kills: how each is started, what it needs first, how it recovers."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

from tests.reliability.faults.project import INCREMENTAL_STAGES, RESTORABLE, STAGES

RUN = ("--no-tui", "run", "--json")


@dataclasses.dataclass(frozen=True)
class Op:
    """One kind of trial.

    ``flow`` says what is checked: ``run`` trials recover with ``recover`` and must then
    equal a clean run of the same edit; ``push`` / ``pull`` / ``fetch`` trials work against a
    folder remote (see :mod:`tests.reliability.faults.remote`). ``launch`` says how the command
    is steered before the kill clock starts: ``plain`` (at once), ``started`` (at the
    ``run_started`` event, past a Dask cluster's start-up), ``watch`` (the edit is made
    once the watcher's first cycle is over; the clock starts with the next cycle) or ``tui``
    (the app in a pseudo-terminal; the clock starts when ``R`` is pressed).
    """

    argv: tuple[str, ...]
    #: Which templates a trial may start from: cold (never run), warm, remote (pushed).
    starts: tuple[str, ...] = ("cold", "warm")
    #: Kills on the creation of a temp file of these kinds (see TempWatcher.kind).
    triggers: tuple[str, ...] = ("cache", "output", "lock")
    #: The command has worker processes a trial may kill (loky, or Dask's).
    workers: bool = True
    launch: str = "plain"
    flow: str = "run"
    #: The next command, which must converge (then `pivot run` must skip every stage).
    recover: tuple[str, ...] = RUN


OPS: dict[str, Op] = {
    "run": Op(RUN),
    "run-j1": Op((*RUN, "-j", "1")),
    "run-j2": Op((*RUN, "-j", "2")),
    # Outputs deleted: restored from the cache by the engine, or by `pivot checkout`.
    "restore": Op(RUN, ("warm",), ("output", "cache", "lock")),
    "checkout": Op(("--no-tui", "checkout"), ("warm",), ("output",), workers=False),
    # Locks of the non-incremental stages deleted; its blobs are all cached already.
    "commit": Op(("--no-tui", "commit"), ("warm",), ("lock",), workers=False),
    # `pivot run --watch`: killed during (or after) the cycle an edit starts.
    "watch": Op((*RUN, "--watch", "--debounce", "100"), ("warm",), launch="watch"),
    # The TUI in a pseudo-terminal, running every stale stage (`R`).
    "tui": Op((), launch="tui"),
    # The Dask executor with a LocalCluster of two worker processes.
    "dask": Op(
        (*RUN, "--executor", "dask"),
        launch="started",
        recover=(*RUN, "--executor", "dask"),
    ),
    # A folder remote: push a project's cache into it, pull or fetch it into a fresh clone.
    "push": Op(("--no-tui", "push"), ("remote",), ("remote",), workers=False, flow="push"),
    "pull": Op(
        ("--no-tui", "pull"), ("remote",), ("download", "output"), workers=False, flow="pull"
    ),
    "fetch": Op(("--no-tui", "fetch"), ("remote",), ("download",), workers=False, flow="fetch"),
}
#: Operations that need a previous run; "cold" trials only kill a first run.
WARM_ONLY = frozenset(name for name, op in OPS.items() if "cold" not in op.starts)
TARGETS = ("main", "worker", "group")


def prepare_op(root: Path, op: str) -> None:
    if op in ("restore", "checkout"):
        for rel in RESTORABLE:
            path = root / rel
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
    elif op == "commit":
        for stage in STAGES:
            if stage not in INCREMENTAL_STAGES:
                (root / ".pivot" / "stages" / f"{stage}.lock").unlink(missing_ok=True)
