"""Trials against a folder remote: `push` from a project that ran, `pull` and `fetch` into a
fresh git clone of it. The blobs weigh ~100 MB, so kills land mid-copy."""

from __future__ import annotations

import random
import shutil
import subprocess
import time
from pathlib import Path

from tests.reliability.faults.bench import Bench, Scenario, Trial
from tests.reliability.faults.checks import (
    check_remote,
    download_temps,
    missing_from,
    read_locks,
)
from tests.reliability.faults.inject import check_orphans, inject
from tests.reliability.faults.ops import RUN
from tests.reliability.faults.project import (
    last_line,
    output_digests,
    pivot,
    remove_tree,
    run_statuses,
)
from tests.reliability.faults.trial import (
    check_after_kill,
    check_converged,
    check_no_temps,
    finish,
)


def _names(folder: Path) -> set[str]:
    if not folder.is_dir():
        return set()
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


def _command(root: Path, trial: Trial, *args: str) -> bool:
    proc = pivot(root, *args)
    trial.recovery[" ".join(args)] = f"exit {proc.returncode}"
    if proc.returncode != 0:
        stuck = "another pivot" in proc.stderr
        trial.problems.append(
            f"{'run lock stuck' if stuck else 'recovery'}: `pivot {' '.join(args)}` exited "
            f"{proc.returncode}: {last_line(proc)}"
        )
    return proc.returncode == 0


def push_trial(bench: Bench, index: int, scenario: Scenario, rng: random.Random) -> Trial:
    """Kill a push into an empty (or half-filled) folder; push again; the folder must then
    hold every blob and run entry the template's own push made, each whole."""
    began = time.monotonic()
    trial = Trial(index, scenario)
    root = bench.fresh("remote", f"trial-{index:04d}")
    remote = bench.workdir / f"trial-{index:04d}-remote"
    if remote.exists():
        remove_tree(remote)
    remote.mkdir()
    (root / ".pivot" / "config.local.yaml").write_text(f"remotes:\n  origin: {remote}\n")
    expected = _names(bench.origin)
    if scenario.preloaded:
        blobs = sorted(n for n in expected if n.startswith("files/"))
        for name in rng.sample(blobs, int(len(blobs) * scenario.preloaded)):
            (remote / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(bench.origin / name, remote / name)
    started = inject(root, scenario, trial, rng, remote=remote)
    if trial.command_seconds is not None:
        bench.observed(scenario, trial.command_seconds)
    check_orphans(started, trial)
    check_after_kill(root, trial)
    problems, temps = check_remote(remote)
    trial.problems += problems
    trial.remote_temps = len(temps)
    if _command(root, trial, "--no-tui", "push"):
        locks, _ = read_locks(root)
        trial.problems += missing_from(remote / "files", locks, "remote after the next push")
        problems, temps = check_remote(remote)
        trial.problems += problems
        present = _names(remote) - {n for n in _names(remote) if ".pivot-tmp-" in n}
        if present != expected:
            trial.problems.append(
                f"remote after the next push: {len(expected - present)} missing "
                f"{sorted(expected - present)[:3]}, {len(present - expected)} unexpected"
            )
        check_no_temps(root, trial.problems, "the next push")
    if not trial.problems:
        remove_tree(remote)
    return finish(root, trial, began)


def pull_trial(bench: Bench, index: int, scenario: Scenario, rng: random.Random) -> Trial:
    """Kill a pull (or fetch) into a fresh clone; do it again; the outputs must equal the
    originals (for fetch: once `pivot run` restores them from the cache, running nothing)."""
    began = time.monotonic()
    trial = Trial(index, scenario)
    root = bench.clone(f"trial-{index:04d}")
    started = inject(root, scenario, trial, rng, remote=bench.origin)
    if trial.command_seconds is not None:
        bench.observed(scenario, trial.command_seconds)
    check_orphans(started, trial)
    check_after_kill(root, trial, clone=True)
    trial.download_temps = download_temps(root)
    problems, _ = check_remote(bench.origin)
    trial.problems += problems
    command = scenario.op
    if _command(root, trial, "--no-tui", command):
        locks, _ = read_locks(root)
        trial.problems += missing_from(root / ".pivot" / "cache" / "files", locks, "cache")
        if command == "fetch":
            statuses = run_statuses(pivot(root, *RUN))
            trial.recovery.update(statuses)
            if set(statuses.values()) - {"restored", "skipped"}:
                trial.problems.append(f"run after the next fetch: {statuses}")
        changed = subprocess.run(
            ("git", "status", "--porcelain", "--untracked-files=no"),
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        if changed.strip():
            trial.problems.append(f"tracked files changed: {changed.strip()[:200]}")
        outputs = output_digests(root)
        for rel, digest in bench.originals.items():
            if outputs[rel] != digest:
                trial.problems.append(f"originals: {rel} is {outputs[rel]}, pushed {digest}")
        check_converged(root, trial.problems, f"the next {command}")
    return finish(root, trial, began)
