"""Run history in LMDB: one JSON record per run, keyed by its sortable run id."""

from __future__ import annotations

import datetime
import json
import secrets
from typing import TYPE_CHECKING, Any

from pivot.core.store.state import DB_RUNS

if TYPE_CHECKING:
    from pivot.core.project import Project
    from pivot.core.run.events import RunSummary

MAX_RUNS = 200


def new_run_id() -> str:
    """A sortable id: UTC time to the millisecond, so runs in one second keep their order."""
    now = datetime.datetime.now(datetime.UTC)
    return now.strftime("%Y%m%d-%H%M%S-") + f"{now.microsecond // 1000:03d}-" + secrets.token_hex(2)


def record_run(
    project: Project, summary: RunSummary, started: float, durations: dict[str, float]
) -> None:
    record = {
        "run_id": summary.run_id,
        "started": started,
        "ended": started + summary.duration,
        "duration": summary.duration,
        "exit_code": summary.exit_code,
        "cancelled": summary.cancelled,
        "counts": summary.counts,
        "worker_peak_rss": summary.worker_peak_rss,
        "stages": [
            {
                "stage": name,
                "status": str(status),
                "reason": summary.reasons.get(name, ""),
                "duration": round(durations.get(name, 0.0), 4),
            }
            for name, status in summary.statuses.items()
        ],
    }
    project.state.put_many(DB_RUNS, [(summary.run_id.encode(), json.dumps(record).encode())])
    _prune(project)


def _prune(project: Project) -> None:
    keys = [key for key, _ in project.state.items(DB_RUNS)]
    for key in keys[: max(0, len(keys) - MAX_RUNS)]:
        project.state.delete(DB_RUNS, key)


def list_runs(project: Project, limit: int | None = None) -> list[dict[str, Any]]:
    """Newest first."""
    runs = []
    for _, value in project.state.items(DB_RUNS, reverse=True):
        runs.append(json.loads(value))
        if limit is not None and len(runs) >= limit:
            break
    return runs


def get_run(project: Project, run_id: str | None) -> dict[str, Any] | None:
    """One run by id or unique id prefix; the latest when ``run_id`` is None."""
    if run_id is None:
        latest = list_runs(project, limit=1)
        return latest[0] if latest else None
    matches = [run for run in list_runs(project) if run["run_id"].startswith(run_id)]
    return matches[0] if len(matches) == 1 else None


def last_results(project: Project, stages: set[str]) -> dict[str, dict[str, Any]]:
    """For each of ``stages``, how the newest run that did not skip it ended: its stage entry
    (``status``, ``reason``) plus the ``run_id``. Stages no recorded run touched are absent."""
    found: dict[str, dict[str, Any]] = {}
    for run in list_runs(project):
        for entry in run["stages"]:
            name = entry["stage"]
            if name in stages and name not in found and entry["status"] != "skipped":
                found[name] = {**entry, "run_id": run["run_id"]}
        if len(found) == len(stages):
            break
    return found
