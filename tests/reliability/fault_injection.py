"""Fault injection: SIGKILL a pivot command (or its workers) at a random moment, then prove
that nothing it left behind is corrupt and that the next command recovers.

The harness lives in :mod:`tests.reliability.faults`; this module is its command line and
the names tests use. Each trial copies a template project (a real git repository made with
``make_project``), edits an input, starts a pivot command as a subprocess in its own session
(``run``, ``checkout``, ``commit``, ``run --watch``, the TUI in a pseudo-terminal, a run on
a Dask LocalCluster, ``push`` / ``pull`` / ``fetch`` against a folder remote), and SIGKILLs
the pivot process, one worker, or the whole process group, after a random delay or the
instant the n-th temp file of a kind appears. It then checks, with code of its own (never
pivot's verify), that:

- every lock file parses as YAML and every blob it names is in the cache with matching bytes;
- every blob in the cache (and in the remote folder) hashes to its name;
- every output `pivot status --json` calls up to date hashes to what its lock records;
- `pivot verify` reports only expected problems (stale or missing outputs, never a bad blob);
- no worker outlives the killed pivot process (an orphan could rewrite outputs later);
- the next command converges: a `pivot run` exits 0, the one after skips every stage, no
  temp file is left, and the outputs equal those of a clean run of the same edits (pull and
  fetch: the pushed originals; push: the remote holds every blob, whole).

Run a campaign::

    uv run python -m tests.reliability.fault_injection --trials 200 --seed 1 --report out.json
    uv run python -m tests.reliability.fault_injection --ops push,pull --trials 100
"""

from __future__ import annotations

import sys

from tests.reliability.faults.bench import Bench, Scenario, Trial
from tests.reliability.faults.campaign import Campaign, main, merge_reports, run_campaign
from tests.reliability.faults.ops import OPS
from tests.reliability.faults.procs import alive, kill_proc, read_proc
from tests.reliability.faults.project import TMP_MARK, copy_project

__all__ = [
    "OPS",
    "TMP_MARK",
    "Bench",
    "Campaign",
    "Scenario",
    "Trial",
    "alive",
    "copy_project",
    "kill_proc",
    "main",
    "merge_reports",
    "read_proc",
    "run_campaign",
]

if __name__ == "__main__":
    sys.exit(main())
