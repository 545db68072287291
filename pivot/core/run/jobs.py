"""How many stages run at once when the command line does not say.

One per CPU, unless memory says fewer: each warm worker keeps its imports (pandas,
scikit-learn, a model) between stages, so a pipeline whose workers peaked at 3 GB on a machine
with 4 GB available runs one stage at a time rather than swapping. The peak comes from the
last run that recorded one (history), so the first run of a pipeline uses the CPU count.
"""

from __future__ import annotations

import dataclasses
import os
import resource
import sys
from pathlib import Path

#: Leave this share of the available memory to everything else.
HEADROOM = 0.8


def cpu_count() -> int:
    """The CPUs this process may use."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def available_memory() -> int | None:
    """Bytes that can be used without swapping: MemAvailable, within a cgroup's limit."""
    available: int | None = None
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    available = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError):
        try:
            available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            return None
    limit = _cgroup_room()
    if limit is not None:
        available = limit if available is None else min(available, limit)
    return available


def _cgroup_room() -> int | None:
    """What this process's cgroup (v2) still allows, when it has a limit."""
    try:
        with open("/sys/fs/cgroup/memory.max", encoding="ascii") as handle:
            text = handle.read().strip()
        if text == "max":
            return None
        with open("/sys/fs/cgroup/memory.current", encoding="ascii") as handle:
            current = int(handle.read().strip())
        return max(0, int(text) - current)
    except (OSError, ValueError):
        return None


def peak_rss() -> int:
    """The peak resident memory of this process so far, in bytes."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def jobs_for_memory(cpus: int, available: int | None, per_worker: int | None) -> int:
    """Workers that fit: at most ``cpus``, at least one."""
    if not available or not per_worker:
        return cpus
    return max(1, min(cpus, int(available * HEADROOM) // per_worker))


@dataclasses.dataclass(frozen=True)
class JobsChoice:
    jobs: int
    #: Why fewer than the CPU count, for a message at the start of the run; None otherwise.
    reason: str | None = None


def _gigabytes(size: int) -> str:
    return f"{size / 1e9:.1f} GB" if size >= 1e8 else f"{size / 1e6:.0f} MB"


def default_jobs(root: Path | None = None) -> JobsChoice:
    """One worker per CPU, fewer when the workers' last recorded peak would not fit."""
    cpus = cpu_count()
    per_worker = last_worker_peak(root) if root is not None else None
    available = available_memory() if per_worker else None
    jobs = jobs_for_memory(cpus, available, per_worker)
    if jobs >= cpus or per_worker is None or available is None:
        return JobsChoice(cpus)
    reason = (
        f"running {jobs} of {cpus} stages at once: workers of this pipeline peaked at "
        f"{_gigabytes(per_worker)} each and {_gigabytes(available)} is available "
        "(-j N overrides)"
    )
    return JobsChoice(jobs, reason)


def last_worker_peak(root: Path) -> int | None:
    """The largest worker peak the newest run that recorded one saw, in bytes."""
    from pivot.core.project import Project
    from pivot.core.run.history import list_runs
    from pivot.core.store.paths import PivotPaths

    if not PivotPaths(root).state.is_dir():
        return None
    try:
        for run in list_runs(Project(root), limit=20):
            peak = run.get("worker_peak_rss")
            if isinstance(peak, int) and peak > 0:
                return peak
    except Exception:  # the local state is only a hint here; a broken one means "unknown"
        return None
    return None
