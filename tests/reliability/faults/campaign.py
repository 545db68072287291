"""A campaign: many trials, drawn from a seed, summed up by kill target, phase and command."""

from __future__ import annotations

import argparse
import collections
import contextlib
import dataclasses
import json
import random
import re
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from tests.reliability.faults.bench import REMOTE_MB, Bench, Trial, pick_scenario
from tests.reliability.faults.ops import OPS, TARGETS
from tests.reliability.faults.project import MUTATIONS
from tests.reliability.faults.remote import pull_trial, push_trial
from tests.reliability.faults.trial import run_trial

#: The trial function of each kind of command.
FLOWS = {"run": run_trial, "push": push_trial, "pull": pull_trial, "fetch": pull_trial}


@dataclasses.dataclass
class Campaign:
    seed: int
    trials: list[Trial]
    workdir: str

    @property
    def corrupt(self) -> list[Trial]:
        return [t for t in self.trials if t.problems]

    def table(self) -> dict[str, dict[str, int]]:
        """Trials by kill target and phase."""
        table: dict[str, dict[str, int]] = collections.defaultdict(collections.Counter)
        for trial in self.trials:
            table[trial.scenario.target][trial.phase] += 1
        return {target: dict(sorted(row.items())) for target, row in sorted(table.items())}

    def to_dict(self) -> dict[str, Any]:
        by_op = collections.Counter(t.scenario.op for t in self.trials)
        return {
            "seed": self.seed,
            "trials": len(self.trials),
            "killed": sum(1 for t in self.trials if t.killed),
            "corrupt": len(self.corrupt),
            "by_target_phase": self.table(),
            "by_op": dict(sorted(by_op.items())),
            "with_cache_temps": sum(1 for t in self.trials if t.cache_temps),
            "with_workspace_temps": sum(1 for t in self.trials if t.workspace_temps),
            "with_remote_temps": sum(1 for t in self.trials if t.remote_temps),
            "orphans": sum(len(t.orphans) for t in self.trials),
            "workdir": self.workdir,
            "details": [t.to_dict() for t in self.trials],
        }


def run_campaign(
    workdir: Path,
    *,
    trials: int,
    seed: int,
    ops: Sequence[str] = tuple(OPS),
    mutations: Sequence[str] = tuple(MUTATIONS),
    targets: Sequence[str] = TARGETS,
    cold_share: float = 0.2,
    undo_share: float = 0.25,
    trigger_share: float = 0.4,
    log: Callable[[str], None] = print,
    first_index: int = 0,
    round_robin: bool = False,
    remote_mb: int = REMOTE_MB,
) -> Campaign:
    """``trials`` trials, each of an operation drawn from ``ops`` (or taken in turn, with
    ``round_robin``: a short campaign that must cover each)."""
    rng = random.Random(seed)
    bench = Bench(workdir, log=log, remote_mb=remote_mb)
    campaign = Campaign(seed, [], str(workdir))
    began = time.monotonic()
    for start in sorted({s for name in ops for s in OPS[name].starts} - {"cold"}):
        bench.template(start)
    log(f"templates ready in {time.monotonic() - began:.1f}s")
    for index in range(first_index, first_index + trials):
        scenario = pick_scenario(
            rng,
            [ops[index % len(ops)]] if round_robin else ops,
            mutations,
            targets,
            bench,
            cold_share=cold_share,
            undo_share=undo_share,
            trigger_share=trigger_share,
        )
        try:
            trial = FLOWS[OPS[scenario.op].flow](bench, index, scenario, rng)
        except Exception as exc:  # a pivot command hung or the harness broke: a finding too
            trial = Trial(index, scenario, problems=[f"harness: {type(exc).__name__}: {exc}"])
        campaign.trials.append(trial)
        verdict = "CORRUPT " + "; ".join(trial.problems) if trial.problems else "ok"
        log(
            f"[{index}] {scenario.start}/{scenario.op}/{scenario.mutation}"
            f"{' (undone)' if scenario.undo else ''} kill {scenario.target} "
            f"{f'on {scenario.trigger}#{scenario.skip}' if scenario.trigger else f'@{scenario.delay:.2f}s'} "
            f"phase={trial.phase} {trial.stages_running or trial.trigger_path or ''} "
            f"exit={trial.exit_code} "
            f"tmp={trial.cache_temps}/{trial.lock_temps}/{len(trial.workspace_temps)}"
            f"/{trial.remote_temps}/{trial.download_temps} "
            f"({trial.seconds}s) {verdict}"
        )
    return campaign


@contextlib.contextmanager
def _workdir(path: str | None) -> Iterator[Path]:
    if path:
        Path(path).mkdir(parents=True, exist_ok=True)
        yield Path(path)
        return
    with tempfile.TemporaryDirectory(prefix="pivot-faults-") as tmp:
        yield Path(tmp)


_LOG_LINE = re.compile(
    r"^\[(?P<index>\d+)\] (?P<start>\w+)/(?P<op>[\w-]+)/(?P<mutation>[\w+-]+)(?P<undo> \(undone\))? "
    r"kill (?P<target>\w+) (?:on (?P<trigger>\w+)#\d+|@[\d.]+s) phase=(?P<phase>[\w-]+) .*"
    r"tmp=(?P<tmp>[\d/]+) \([\d.]+s\) (?P<verdict>ok|CORRUPT (?P<problems>.*))$"
)


def report_from_log(path: Path) -> dict[str, Any]:
    """A report made from a campaign's log lines, for a campaign stopped before its end
    (the JSON report is written at the end): one line per finished trial."""
    details = []
    for line in path.read_text().splitlines():
        match = _LOG_LINE.match(line)
        if match is None:
            continue
        cache, locks, workspace, remote, downloads = (int(n) for n in match["tmp"].split("/"))
        details.append(
            {
                "index": int(match["index"]),
                "scenario": {
                    "op": match["op"],
                    "start": match["start"],
                    "mutation": match["mutation"],
                    "trigger": match["trigger"],
                    "undo": bool(match["undo"]),
                    "target": match["target"],
                },
                "phase": match["phase"],
                "killed": match["phase"] not in ("exited-before-kill", "no-worker"),
                "cache_temps": cache,
                "lock_temps": locks,
                "workspace_temps": [""] * workspace,
                "remote_temps": remote,
                "download_temps": downloads,
                "orphans": [],
                "problems": [match["problems"]] if match["problems"] else [],
            }
        )
    table: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for trial in details:
        table[trial["scenario"]["target"]][trial["phase"]] += 1
    return {
        "trials": len(details),
        "killed": sum(1 for t in details if t["killed"]),
        "corrupt": sum(1 for t in details if t["problems"]),
        "by_target_phase": {t: dict(r) for t, r in table.items()},
        "details": details,
    }


def merge_reports(paths: Sequence[str]) -> dict[str, Any]:
    """One summary of several campaign reports (a long campaign is run in chunks); a ``.log``
    stands for the report of a campaign stopped early (see :func:`report_from_log`)."""
    merged: dict[str, Any] = {"reports": list(paths), "trials": 0, "killed": 0, "corrupt": 0}
    counters: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    table: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for path in paths:
        if path.endswith(".log"):
            data = report_from_log(Path(path))
        else:
            data = json.loads(Path(path).read_text())
        for key in ("trials", "killed", "corrupt"):
            merged[key] += data[key]
        for target, row in data["by_target_phase"].items():
            table[target].update(row)
        for trial in data["details"]:
            scenario = trial["scenario"]
            counters["by_op"][scenario["op"]] += 1
            counters["by_start"][scenario["start"]] += 1
            counters["by_mutation"][scenario["mutation"]] += 1
            counters["by_trigger"][scenario.get("trigger") or "delay"] += 1
            counters["undone"]["yes" if scenario.get("undo") else "no"] += 1
            counters["leftovers"]["cache temp files"] += trial["cache_temps"]
            counters["leftovers"]["lock temp files"] += trial.get("lock_temps", 0)
            counters["leftovers"]["workspace temp files"] += len(trial["workspace_temps"])
            counters["leftovers"]["remote temp files"] += trial.get("remote_temps", 0)
            counters["leftovers"]["download temp files"] += trial.get("download_temps", 0)
            counters["leftovers"]["orphans"] += len(trial["orphans"])
            if trial["problems"]:
                merged.setdefault("failures", []).append(
                    {"index": trial["index"], "op": scenario["op"], "problems": trial["problems"]}
                )
    merged["by_target_phase"] = {t: dict(sorted(r.items())) for t, r in sorted(table.items())}
    merged.update({k: dict(sorted(v.items())) for k, v in counters.items()})
    return merged


def main(argv: Sequence[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    if argv and argv[0] == "merge":
        print(json.dumps(merge_reports(argv[1:]), indent=2))
        return 0
    parser = argparse.ArgumentParser(
        prog="python -m tests.reliability.fault_injection",
        description="SIGKILL pivot commands at random moments; check nothing is corrupt.",
        epilog="`... fault_injection merge A.json B.json` sums reports of several chunks.",
    )
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--report", help="write the campaign as JSON here")
    parser.add_argument("--workdir", help="keep projects here (failed trials are kept)")
    parser.add_argument("--first-index", type=int, default=0, help="number trials from here")
    parser.add_argument("--ops", default=",".join(OPS), help="comma-separated operations")
    parser.add_argument("--mutations", default=",".join(MUTATIONS))
    parser.add_argument("--targets", default=",".join(TARGETS), help="main, worker, group")
    parser.add_argument("--cold-share", type=float, default=0.2, help="share of first runs")
    parser.add_argument("--undo-share", type=float, default=0.25, help="share of undone edits")
    parser.add_argument(
        "--trigger-share", type=float, default=0.4, help="share of kills on a temp file"
    )
    args = parser.parse_args(argv)
    with _workdir(args.workdir) as workdir:
        campaign = run_campaign(
            workdir,
            trials=args.trials,
            seed=args.seed,
            ops=args.ops.split(","),
            mutations=args.mutations.split(","),
            targets=args.targets.split(","),
            cold_share=args.cold_share,
            undo_share=args.undo_share,
            trigger_share=args.trigger_share,
            first_index=args.first_index,
        )
    data = campaign.to_dict()
    if args.report:
        Path(args.report).write_text(json.dumps(data, indent=2))
    summary = {k: v for k, v in data.items() if k != "details"}
    print(json.dumps(summary, indent=2))
    return 1 if campaign.corrupt else 0
