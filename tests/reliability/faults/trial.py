"""One trial of a command that runs stages (or restores or records them): kill, check what is
left, recover with the next command, compare with a clean run of the same edits."""

from __future__ import annotations

import random
import time
from pathlib import Path

from tests.reliability.faults.bench import Bench, Scenario, Trial
from tests.reliability.faults.checks import (
    check_cache,
    check_lock_blobs,
    check_status,
    check_verify,
    download_temps,
    lock_temps,
    read_locks,
    workspace_temps,
)
from tests.reliability.faults.inject import check_orphans, inject
from tests.reliability.faults.ops import OPS, RUN, prepare_op
from tests.reliability.faults.project import (
    INCREMENTAL_OUTPUTS,
    MUTATIONS,
    STAGES,
    last_line,
    output_digests,
    pivot,
    remove_tree,
    run_statuses,
)


def check_after_kill(root: Path, trial: Trial, *, clone: bool = False) -> None:
    """Locks parse and their blobs are whole, every cached blob hashes to its name, outputs
    `status` calls up to date match their locks, `verify` finds only what a kill may leave;
    and count the temp files left behind. In a ``clone`` whose pull or fetch was cut short,
    blobs may be missing from the cache (never corrupt)."""
    problems = trial.problems
    locks, lock_problems = read_locks(root)
    problems += lock_problems
    problems += check_lock_blobs(root, locks, missing_ok=clone)
    cache_problems, trial.cache_temps = check_cache(root)
    problems += cache_problems
    trial.workspace_temps = workspace_temps(root)
    trial.lock_temps = lock_temps(root)
    problems += check_status(root, locks)
    problems += check_verify(root, NOT_FETCHED if clone else ())


#: What `verify` may say in a clone whose pull was cut short.
NOT_FETCHED = ("missing from the local cache",)


def check_no_temps(root: Path, problems: list[str], after: str) -> None:
    """The converging command swept every temp file a kill left (cache, locks, workspace)."""
    _, cache = check_cache(root)
    left = workspace_temps(root)
    locks = lock_temps(root)
    downloads = download_temps(root)
    if cache or left or locks or downloads:
        problems.append(
            f"leftovers: after {after}, {cache} temp file(s) in the cache, {locks} among the "
            f"locks, {downloads} downloads, {len(left)} in the workspace {left[:3]}"
        )


def check_converged(root: Path, problems: list[str], what: str) -> bool:
    """`pivot run` skips every stage, `pivot verify` passes; no temp file is left."""
    again = run_statuses(pivot(root, *RUN))
    if set(again.values()) != {"skipped"} or set(again) != set(STAGES):
        problems.append(f"convergence: the run after {what} did {again}")
        return False
    final = pivot(root, "verify")
    if final.returncode != 0:
        problems.append(f"verify after {what} exited {final.returncode}: {final.stdout[-500:]}")
    check_no_temps(root, problems, what)
    return True


def finish(root: Path, trial: Trial, began: float) -> Trial:
    """Time the trial; a passing trial's project goes, a failing one's stays for a look."""
    trial.seconds = round(time.monotonic() - began, 2)
    if not trial.problems:
        remove_tree(root)
        for suffix in (".out", ".err"):
            (root.parent / f"{root.name}{suffix}").unlink(missing_ok=True)
    return trial


def run_trial(bench: Bench, index: int, scenario: Scenario, rng: random.Random) -> Trial:
    began = time.monotonic()
    trial = Trial(index, scenario)
    op = OPS[scenario.op]
    reference = bench.reference(scenario.start, scenario.expected)
    root = bench.fresh(scenario.start, f"trial-{index:04d}")
    if op.launch != "watch":  # watch mode makes the edit itself, once it is watching
        MUTATIONS[scenario.mutation](root)
    prepare_op(root, scenario.op)
    started = inject(root, scenario, trial, rng)
    if trial.command_seconds is not None:
        bench.observed(scenario, trial.command_seconds)
    check_orphans(started, trial)
    check_after_kill(root, trial)
    problems = trial.problems

    if scenario.undo:
        bench.undo(root, scenario.start)
    recovery = pivot(root, *op.recover)
    trial.recovery = run_statuses(recovery)
    if recovery.returncode != 0:
        stuck = "another pivot" in recovery.stderr
        problems.append(
            f"{'run lock stuck' if stuck else 'recovery'}: next run exited "
            f"{recovery.returncode}: {last_line(recovery)}"
        )
    elif check_converged(root, problems, "recovery"):
        outputs = output_digests(root)
        # With the edit undone, an incremental stage that committed the edited run before
        # the kill keeps that entry: both histories are right, nothing else is.
        undone = (
            bench.reference(scenario.start, scenario.mutation, undone=True).outputs
            if scenario.undo
            else {}
        )
        for rel, digest in reference.outputs.items():
            allowed = {digest}
            if scenario.undo and rel in INCREMENTAL_OUTPUTS:
                allowed.add(undone[rel])
            if outputs[rel] not in allowed:
                problems.append(
                    f"reference: {rel} is {outputs[rel]}, a clean run gives "
                    f"{' or '.join(sorted(str(a) for a in allowed))}"
                )
    return finish(root, trial, began)
