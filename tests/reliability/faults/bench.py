"""Scenarios and trials as data, template projects, clean reference runs."""

from __future__ import annotations

import dataclasses
import random
import shutil
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tests.helpers import make_project
from tests.reliability.faults.ops import OPS
from tests.reliability.faults.project import (
    EDITABLE,
    HELPERS,
    MUTATIONS,
    PIPELINE,
    check_run,
    copy_project,
    output_digests,
    pivot,
    remove_tree,
    run_statuses,
)


@dataclasses.dataclass
class Scenario:
    start: str  # "cold" (never run), "warm" (a baseline run) or "remote" (a pushed project)
    op: str
    mutation: str
    target: str
    delay: float
    #: After the kill, undo the edit (as a user would) before the recovery run.
    undo: bool = False
    #: Kill when a temp file of this kind ("cache", "lock", "output"...) is created.
    trigger: str | None = None
    #: ... letting this many such files go by first.
    skip: int = 0
    #: Push trials: the share of the blobs already on the remote before the push.
    preloaded: float = 0.0
    #: Runs with a long start-up: the delay counts from the start, not from `run_started`.
    from_start: bool = False

    @property
    def expected(self) -> str:
        """The edit whose clean run the recovered outputs must equal."""
        return "none" if self.undo else self.mutation


@dataclasses.dataclass
class Trial:
    index: int
    scenario: Scenario
    phase: str = ""
    stages_running: list[str] = dataclasses.field(default_factory=list)
    killed: str = ""  # what was killed, "" when the command finished first
    exit_code: int | None = None
    command_seconds: float | None = None  # set when the command finished before the kill
    kill_seconds: float | None = None  # when the kill landed, after the start
    trigger_path: str = ""  # the temp file whose creation triggered the kill
    cache_temps: int = 0
    lock_temps: int = 0
    workspace_temps: list[str] = dataclasses.field(default_factory=list)
    #: Temp files of a killed push in the remote folder (never swept: see the docs).
    remote_temps: int = 0
    #: Downloads a killed fetch left in .pivot/tmp/remote.
    download_temps: int = 0
    orphans: list[str] = dataclasses.field(default_factory=list)
    recovery: dict[str, str] = dataclasses.field(default_factory=dict)
    problems: list[str] = dataclasses.field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class Reference:
    outputs: dict[str, str | None]
    seconds: float  # how long the run of the edit took


#: The remote template's generator size: pushes and pulls of ~100 MB, so kills land mid-copy.
REMOTE_MB = 24


class Bench:
    """Template projects, clean reference runs, and a place for trial projects."""

    def __init__(
        self, workdir: Path, *, log: Callable[[str], None] = print, remote_mb: int = REMOTE_MB
    ) -> None:
        self.workdir = workdir
        self.remote_mb = remote_mb
        self.log = log
        self.templates: dict[str, Path] = {}
        self.references: dict[tuple[str, str], Reference] = {}
        self.op_seconds: dict[str, float] = {}
        self.baseline_seconds = 2.0
        #: The remote template's outputs, and the folder remote it was pushed to.
        self.originals: dict[str, str | None] = {}
        self.origin = workdir / "remote-origin"

    def template(self, start: str) -> Path:
        if start in self.templates:
            return self.templates[start]
        cold = self.workdir / "template-cold"
        if "cold" not in self.templates:
            project = make_project(cold)
            project.write("pipeline.py", PIPELINE)
            project.write("helpers.py", HELPERS)
            project.write("src/seed.txt", "seed-0\n")
            project.commit_all("pipeline")
            self.templates["cold"] = cold
        if start == "warm":
            warm = self.workdir / "template-warm"
            copy_project(cold, warm)
            began = time.monotonic()
            check_run(warm, "baseline run")
            self.baseline_seconds = time.monotonic() - began
            self.templates["warm"] = warm
        elif start == "remote":
            self.templates["remote"] = self._remote_template(cold)
        return self.templates[start]

    def _remote_template(self, cold: Path) -> Path:
        """A run of bigger blobs, its locks, config and metric committed to git, pushed to
        ``self.origin``: push trials copy it, pull and fetch trials clone it."""
        root = self.workdir / "template-remote"
        copy_project(cold, root)
        (root / "params.yaml").write_text(f"gen:\n  mb: {self.remote_mb}\n  delay_ms: 0\n")
        check_run(root, "remote template run")
        self.origin.mkdir()
        for args in (
            ("config", "set", "remotes.origin", str(self.origin)),
            ("--no-tui", "push"),
        ):
            began = time.monotonic()
            proc = pivot(root, *args)
            if proc.returncode != 0:
                raise RuntimeError(f"pivot {' '.join(args)} failed: {proc.stderr}")
        self.op_seconds["remote/push/none"] = time.monotonic() - began
        git = ("git", "-C", str(root))
        subprocess.run((*git, "add", "params.yaml", ".pivot", "metrics"), check=True)
        subprocess.run((*git, "commit", "-qm", "results"), check=True)
        self.originals = output_digests(root)
        clone = self.clone("template-remote-clone", root)
        began = time.monotonic()
        proc = pivot(clone, "--no-tui", "pull")
        if proc.returncode != 0 or output_digests(clone) != self.originals:
            raise RuntimeError(f"a clean pull did not restore the outputs: {proc.stderr}")
        seconds = time.monotonic() - began
        self.op_seconds["remote/pull/none"] = self.op_seconds["remote/fetch/none"] = seconds
        remove_tree(clone)
        return root

    def clone(self, name: str, source: Path | None = None) -> Path:
        """A fresh git clone of the remote template: locks, no cache, no outputs."""
        target = self.workdir / name
        if target.exists():
            remove_tree(target)
        source = source or self.template("remote")
        subprocess.run(("git", "clone", "-q", str(source), str(target)), check=True)
        return target

    def undo(self, root: Path, start: str) -> None:
        """Put the template's inputs back in ``root``."""
        template = self.template(start)
        for rel in EDITABLE:
            (root / rel).unlink(missing_ok=True)
            if (template / rel).exists():
                shutil.copy2(template / rel, root / rel)

    def fresh(self, start: str, name: str) -> Path:
        target = self.workdir / name
        if target.exists():
            remove_tree(target)
        copy_project(self.template(start), target)
        return target

    def reference(self, start: str, mutation: str, *, undone: bool = False) -> Reference:
        """The outputs of a clean run of ``mutation`` (followed, when ``undone``, by a run with
        the edit undone), and how long the first run took."""
        key = (start, mutation + ("-undone" if undone else ""))
        if key not in self.references:
            prepared = time.monotonic()
            root = self.fresh(start, f"reference-{key[0]}-{key[1]}")
            MUTATIONS[mutation](root)
            began = time.monotonic()
            check_run(root, f"reference run {key}")
            seconds = time.monotonic() - began
            if undone:
                self.undo(root, start)
                check_run(root, f"reference run {key} after the undo")
            again = run_statuses(check_run(root, f"reference re-run {key}"))
            assert set(again.values()) == {"skipped"}, f"reference {key} did not converge: {again}"
            self.references[key] = Reference(output_digests(root), seconds)
            remove_tree(root)
            self.log(f"reference {key[0]}/{key[1]} in {time.monotonic() - prepared:.1f}s")
        return self.references[key]

    @staticmethod
    def _timing_key(scenario: Scenario) -> str:
        return f"{scenario.start}/{scenario.op}/{scenario.mutation}"

    def seconds_for(self, scenario: Scenario) -> float:
        """How long the command of ``scenario`` takes without a kill (delays are drawn within
        it): first a clean run's time, then the last time a trial's command beat its kill."""
        key = self._timing_key(scenario)
        if key in self.op_seconds:
            return self.op_seconds[key]
        op = OPS[scenario.op]
        if op.workers:
            return self.reference(scenario.start, scenario.mutation).seconds
        # Restoring or recording the outputs costs about half the baseline run; corrected by
        # the first trial whose command finishes before its kill.
        return 0.5 * self.baseline_seconds

    def observed(self, scenario: Scenario, seconds: float) -> None:
        """The command of ``scenario`` finished, unkilled, in ``seconds``."""
        self.op_seconds[self._timing_key(scenario)] = seconds


def pick_scenario(
    rng: random.Random,
    ops: Sequence[str],
    mutations: Sequence[str],
    targets: Sequence[str],
    bench: Bench,
    *,
    trigger_share: float = 0.4,
    cold_share: float = 0.2,
    undo_share: float = 0.25,
) -> Scenario:
    name = rng.choice(ops)
    op = OPS[name]
    if op.flow != "run":
        start = "remote"
    else:
        start = "cold" if "cold" in op.starts and rng.random() < cold_share else "warm"
    if name == "commit" or op.flow != "run":
        choices = ["none"]
    elif start == "cold":
        choices = [m for m in mutations if m in ("none", "seed")] or ["none"]
    elif name in ("restore", "checkout"):
        choices = list(mutations)
    else:  # a warm run with no edit would skip everything: there would be nothing to hit
        choices = [m for m in mutations if m != "none"] or ["seed"]
    mutation = rng.choice(choices)
    allowed = [t for t in targets if op.workers or t != "worker"]
    target = rng.choice(allowed or ["main"])
    undo = mutation != "none" and rng.random() < undo_share
    scenario = Scenario(start, name, mutation, target, 0.0, undo)
    if name == "push" and rng.random() < 0.3:
        scenario.preloaded = 0.5
    if op.launch == "started":
        scenario.from_start = rng.random() < 0.25
    if rng.random() < trigger_share:
        scenario.trigger = rng.choice(op.triggers)
        scenario.skip = rng.choice([0, 0, 1, 2, 4])
        # A kill on the creation of a temp file must hit its writer: the pivot process writes
        # locks and restores, workers write blobs and outputs in a run.
        main_writes = scenario.trigger == "lock" or name in ("restore", "checkout", "commit")
        if main_writes and target == "worker":
            scenario.target = "group"
    else:
        # Aim anywhere in the command's life.
        scenario.delay = round(rng.uniform(0.0, bench.seconds_for(scenario)), 3)
    return scenario
