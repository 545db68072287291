"""The core loop through the CLI: define, plan, cache and lock a pipeline (issue 2)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO, TempProject, make_project, pivot_env

TWO_STAGES = """
from typing import Annotated
import pivot
from pivot import loaders
from helpers import double

pipeline = pivot.Pipeline("demo")

def make(raw: Annotated[str, pivot.Dep("raw.txt", loaders.Text())]) -> Annotated[dict, pivot.Out("data/a.json", loaders.JSON())]:
    print("making from", raw.strip())
    return {"n": double(len(raw.strip()))}

def use(a: Annotated[dict, pivot.Dep("data/a.json", loaders.JSON())]) -> Annotated[str, pivot.Out("data/b.txt", loaders.Text())]:
    return str(a["n"] + 1)

pipeline.register(make)
pipeline.register(use)
"""


@pytest.fixture
def two(project: TempProject) -> TempProject:
    project.write("pipeline.py", TWO_STAGES)
    project.write("helpers.py", "def double(x):\n    return 2 * x\n")
    project.write("raw.txt", "hello\n")
    return project


def test_quickstart_example_cycle(tmp_path: Path) -> None:
    root = tmp_path / "qs"
    shutil.copytree(
        REPO / "examples" / "quickstart",
        root,
        ignore=shutil.ignore_patterns(
            "clean.csv", "metrics.json", "stages", "cache", "state.lmdb", "logs"
        ),
    )
    project = TempProject(root)
    project.git("init", "-q")
    assert project.statuses() == {"preprocess": "ran", "train": "ran"}
    assert json.loads(project.read("metrics.json"))["mse"] < 0.1
    assert project.statuses() == {"preprocess": "skipped", "train": "skipped"}

    source = project.read("pipeline.py")
    project.write(
        "pipeline.py",
        source.replace("clean = raw.drop_nulls()", "clean = raw.drop_nulls().head(30)"),
    )
    assert project.statuses() == {"preprocess": "ran", "train": "ran"}

    (root / "data" / "clean.csv").unlink()
    assert project.statuses() == {"preprocess": "restored", "train": "skipped"}
    assert (root / "data" / "clean.csv").exists()


def test_run_writes_outputs_cache_and_locks(two: TempProject) -> None:
    proc = two.pivot("--no-tui", "run")
    assert "ran" in proc.stdout and "make" in proc.stdout and "use" in proc.stdout
    assert "2 ran" in proc.stdout
    assert two.read("data/b.txt") == "11"
    lock = two.lock("make")
    assert (
        "schema: 1" in lock and "raw.txt" in lock and "data/a.json" in lock and "self:make" in lock
    )
    digest = [line.split()[-1] for line in lock.splitlines() if "hash:" in line][-1]
    blob = two.root / ".pivot" / "cache" / "files" / digest[:2] / digest[2:]
    assert blob.read_bytes() == (two.root / "data" / "a.json").read_bytes()
    assert not os.access(blob, os.W_OK) or os.geteuid() == 0


def test_second_run_skips_everything(two: TempProject) -> None:
    two.pivot("run")
    proc = two.pivot("--no-tui", "run")
    assert "2 skipped" in proc.stdout
    assert two.statuses() == {"make": "skipped", "use": "skipped"}


def test_stage_runs_in_a_worker_process(project: TempProject) -> None:
    project.write(
        "pipeline.py",
        """
        import os
        from typing import Annotated
        import pivot
        from pivot import loaders

        def whoami() -> Annotated[dict, pivot.Out("pid.json", loaders.JSON())]:
            return {"pid": os.getpid()}

        pivot.Pipeline("p").register(whoami)
        """,
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "pivot", "run"],
        cwd=project.root,
        env=pivot_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    proc.communicate(timeout=120)
    assert proc.returncode == 0
    assert json.loads(project.read("pid.json"))["pid"] != proc.pid


def test_deleted_output_is_restored_without_running(two: TempProject) -> None:
    two.pivot("run")
    (two.root / "data" / "a.json").unlink()
    assert two.statuses() == {"make": "restored", "use": "skipped"}
    assert json.loads(two.read("data/a.json")) == {"n": 10}


def test_missing_output_not_in_cache_reruns(two: TempProject) -> None:
    two.pivot("run")
    shutil.rmtree(two.root / ".pivot" / "cache")
    (two.root / "data" / "a.json").unlink()
    assert two.statuses() == {"make": "ran", "use": "skipped"}


def test_modified_output_reruns_its_stage(two: TempProject) -> None:
    two.pivot("run")
    (two.root / "data" / "b.txt").write_text("tampered")
    assert two.statuses() == {"make": "skipped", "use": "ran"}
    assert two.read("data/b.txt") == "11"


def test_dep_change_reruns_downstream(two: TempProject) -> None:
    two.pivot("run")
    two.write("raw.txt", "hello world\n")
    assert two.statuses() == {"make": "ran", "use": "ran"}
    assert two.read("data/b.txt") == "23"


def test_identical_upstream_bytes_keep_downstream_skipped(two: TempProject) -> None:
    two.pivot("run")
    two.write("raw.txt", "jello\n")  # same length, so make writes the same bytes
    assert two.statuses() == {"make": "ran", "use": "skipped"}


def test_locks_are_byte_identical_across_identical_runs(tmp_path: Path) -> None:
    locks = []
    for name in ("one", "two"):
        project = make_project(tmp_path / name)
        project.write("pipeline.py", TWO_STAGES)
        project.write("helpers.py", "def double(x):\n    return 2 * x\n")
        project.write("raw.txt", "hello\n")
        project.pivot("run")
        first = project.lock("make") + project.lock("use")
        project.pivot("run", "-f")
        assert project.lock("make") + project.lock("use") == first
        locks.append(first)
    assert locks[0] == locks[1]


def test_unchanged_file_is_not_rehashed(two: TempProject) -> None:
    """The hash cache is keyed by (inode, mtime_ns, size): same stat, no re-hash."""
    two.pivot("run")
    raw = two.root / "raw.txt"
    before = raw.stat()
    with open(raw, "r+b") as handle:  # same inode, same size, different bytes
        handle.write(b"J")
    os.utime(raw, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert two.status_json()["make"]["status"] == "cached"
    os.utime(raw, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000))
    assert two.status_json()["make"]["status"] == "stale"


def test_run_named_stage_runs_upstream_only(project: TempProject) -> None:
    project.write(
        "pipeline.py",
        """
        from typing import Annotated
        import pivot
        from pivot import loaders

        def a() -> Annotated[str, pivot.Out("a.txt", loaders.Text())]:
            return "a"

        def b(a: Annotated[str, pivot.Dep("a.txt", loaders.Text())]) -> Annotated[str, pivot.Out("b.txt", loaders.Text())]:
            return a + "b"

        def c() -> Annotated[str, pivot.Out("c.txt", loaders.Text())]:
            return "c"

        p = pivot.Pipeline("p")
        for f in (a, b, c):
            p.register(f)
        """,
    )
    assert project.statuses("b") == {"a": "ran", "b": "ran"}
    assert not (project.root / "c.txt").exists()
    assert project.statuses("c") == {"c": "ran"}
    proc = project.pivot("--no-tui", "repro", "b")
    assert "2 skipped" in proc.stdout


def test_force_and_dry_run(two: TempProject) -> None:
    two.pivot("run")
    assert two.statuses("-f") == {"make": "ran", "use": "ran"}
    assert two.statuses("-f", "make") == {"make": "ran"}
    two.write("raw.txt", "changed!\n")
    proc = two.pivot("--no-tui", "run", "-n")
    assert "would run" in proc.stdout and "make" in proc.stdout
    assert "deps changed: raw.txt" in proc.stdout
    assert two.status_json()["make"]["status"] == "stale"  # nothing ran


DRY = """
from typing import Annotated
import pivot
from pivot import loaders
from pivot.stage_def import StageParams

class LearnParams(StageParams):
    rate: float = 0.5

def fine() -> Annotated[str, pivot.Out("fine.txt", loaders.Text())]:
    return "fine"

def learn(params: LearnParams) -> Annotated[str, pivot.Out("model.txt", loaders.Text())]:
    return str(params.rate)

def score(m: Annotated[str, pivot.Dep("model.txt", loaders.Text())]) -> Annotated[str, pivot.Out("score.txt", loaders.Text())]:
    return m

def load(x: Annotated[str, pivot.Dep("nowhere.csv", loaders.Text())]) -> Annotated[str, pivot.Out("loaded.txt", loaders.Text())]:
    return x

p = pivot.Pipeline("p")
for f in (fine, learn, score, load):
    p.register(f)
"""


def test_dry_run_lists_what_could_not_run_and_exits_2(project: TempProject) -> None:
    project.write("pipeline.py", DRY)
    project.write("params.yaml", "learn:\n  rate: fast\n")
    proc = project.pivot("--no-tui", "run", "-n", check=2)
    *listing, summary = proc.stdout.splitlines()
    by_stage = {line[14:].split()[0]: line for line in listing}  # after the 13-wide verb
    assert list(by_stage) == ["fine", "learn", "load", "score"]  # run order
    assert by_stage["fine"].split() == ["would", "run", "fine", "never", "run"]
    assert by_stage["learn"].startswith("cannot run    learn ")
    assert "stage 'learn': invalid params: rate:" in by_stage["learn"]
    assert by_stage["score"].split() == ["blocked", "score", "upstream", "learn", "cannot", "run"]
    assert by_stage["load"].startswith("cannot run    load ")
    assert "depends on 'nowhere.csv', which no stage produces" in by_stage["load"]
    assert summary.startswith("Dry run: 1 would run, 2 cannot run, 1 blocked in ")
    assert proc.stderr == ""
    assert not (project.root / ".pivot" / "stages" / "fine.lock").exists()  # nothing ran

    events = project.run_events("-n", check=2)
    finished = {e["stage"]: e["status"] for e in events if e["event"] == "stage_finished"}
    assert finished == {"fine": "ran", "learn": "failed", "score": "blocked", "load": "failed"}
    assert events[-1]["event"] == "run_finished" and events[-1]["exit_code"] == 2

    # Stages clear of the problems: exit 0, and the counts read right for one stage.
    proc = project.pivot("--no-tui", "run", "-n", "fine")
    assert proc.stdout.splitlines()[-1].startswith("Dry run: 1 would run in ")
    project.pivot("run", "fine")
    line, summary = project.pivot("--no-tui", "run", "-n", "fine").stdout.splitlines()
    assert line.split() == ["up", "to", "date", "fine"]
    assert summary.startswith("Dry run: 1 up to date in ")
    assert project.pivot("--no-tui", "status", "fine").stdout.splitlines()[-1] == "1 stage, 0 stale"


def test_dry_run_forces_only_the_named_stages_and_honours_single(two: TempProject) -> None:
    two.pivot("run")
    proc = two.pivot("--no-tui", "run", "-n", "-f", "use")
    assert [line.split()[:3] for line in proc.stdout.splitlines()[:2]] == [
        ["up", "to", "date"],
        ["would", "run", "use"],
    ]
    assert "make" in proc.stdout.splitlines()[0]
    single = two.pivot("--no-tui", "run", "-n", "-f", "--single", "use").stdout.splitlines()
    assert len(single) == 2 and single[0].split()[:3] == ["would", "run", "use"]


FAILING = """
from typing import Annotated
import pivot
from pivot import loaders

def ok() -> Annotated[str, pivot.Out("ok.txt", loaders.Text())]:
    return "ok"

def boom(x: Annotated[str, pivot.Dep("ok.txt", loaders.Text())]) -> Annotated[str, pivot.Out("boom.txt", loaders.Text())]:
    raise ValueError("MODE=" + open("mode.txt").read().strip())

def after(x: Annotated[str, pivot.Dep("boom.txt", loaders.Text())]) -> Annotated[str, pivot.Out("after.txt", loaders.Text())]:
    return x

def other() -> Annotated[str, pivot.Out("other.txt", loaders.Text())]:
    return "other"

p = pivot.Pipeline("p")
for f in (ok, boom, after, other):
    p.register(f)
"""


def test_failed_stage_prints_traceback_blocks_downstream_and_exits_1(project: TempProject) -> None:
    project.write("pipeline.py", FAILING)
    project.write("mode.txt", "first")
    proc = project.pivot("--no-tui", "run", "-k", check=1)
    assert "ValueError: MODE=first" in proc.stdout
    assert "Traceback" in proc.stdout
    statuses = project.statuses("-k", check=1)
    assert statuses["boom"] == "failed"
    assert statuses["after"] == "blocked"
    assert statuses["other"] in ("ran", "skipped")


def test_failed_stage_leaves_its_old_lock_untouched(project: TempProject) -> None:
    project.write(
        "pipeline.py",
        FAILING.replace(
            'raise ValueError("MODE=" + open("mode.txt").read().strip())',
            'return open("mode.txt").read()',
        ),
    )
    project.write("mode.txt", "first")
    project.pivot("run")
    old_lock = project.lock("boom")
    project.write("pipeline.py", FAILING)
    project.pivot("run", check=1)
    assert project.lock("boom") == old_lock


def test_without_keep_going_no_new_stage_starts_after_a_failure(project: TempProject) -> None:
    project.write("pipeline.py", FAILING)
    project.write("mode.txt", "x")
    statuses = project.statuses("-j", "1", check=1)
    assert statuses["boom"] == "failed"
    assert statuses["after"] == "blocked"


def test_status_lists_each_stage_with_reason(two: TempProject) -> None:
    rows = two.status_json()
    assert rows["make"]["status"] == "stale" and rows["make"]["reason"] == "never run"
    two.pivot("run")
    two.write("helpers.py", "def double(x):\n    return x * 2\n")
    rows = two.status_json()
    assert rows["make"]["status"] == "stale"
    assert "code changed" in rows["make"]["reason"]
    assert rows["use"]["status"] == "stale" and "upstream make" in rows["use"]["reason"]
    plain = two.pivot("--no-tui", "status").stdout
    assert "stale" in plain and "make" in plain


def test_quiet_status_shows_only_what_needs_attention(two: TempProject) -> None:
    two.pivot("run")
    two.write("data/b.txt", "edited by hand")
    lines = two.pivot("--no-tui", "status", "-q").stdout.splitlines()
    assert [line.split()[:2] for line in lines[:-1]] == [["stale", "use"]]
    assert lines[-1] == "2 stages, 1 stale"
    everything = two.pivot("--no-tui", "status").stdout.splitlines()
    assert [line.split()[:2] for line in everything[:-1]] == [["cached", "make"], ["stale", "use"]]


def test_run_from_a_subdirectory_finds_the_project(two: TempProject) -> None:
    sub = two.root / "deep" / "er"
    sub.mkdir(parents=True)
    proc = subprocess.run(
        [sys.executable, "-m", "pivot", "run"],
        cwd=sub,
        env=pivot_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert (two.root / "data" / "b.txt").exists()
    assert not (sub / "data").exists()


def test_outside_a_project_is_a_clear_error(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pivot", "status"],
        cwd=tmp_path,
        env=pivot_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error: no Pivot project")
    assert len(proc.stderr.strip().splitlines()) == 1


def test_init_creates_pivot_dir_and_ignore_files(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pivot", "init"],
        cwd=tmp_path,
        env=pivot_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0
    gitignore = (tmp_path / ".pivot" / ".gitignore").read_text()
    assert "/cache/" in gitignore and "/state.lmdb/" in gitignore
    assert (tmp_path / ".pivotignore").exists()
    again = subprocess.run(
        [sys.executable, "-m", "pivot", "init"],
        cwd=tmp_path,
        env=pivot_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert again.returncode == 0 and "already" in again.stdout


def test_corrupt_lock_file_is_a_one_line_warning(two: TempProject) -> None:
    two.pivot("run")
    lock = two.root / ".pivot" / "stages" / "make.lock"
    good = lock.read_text()
    lock.write_text("schema: 1\nstage: [unclosed\n")
    proc = two.pivot("--no-tui", "status")
    line = proc.stderr.strip()
    assert len(line.splitlines()) == 1 and line.startswith("warning: ")
    assert "make.lock" in line and "not valid YAML" in line
    lock.write_text("schema: 99\nstage: make\n")
    proc = two.pivot("--no-tui", "run")
    assert "unknown schema" in proc.stderr and "the stage will re-run" in proc.stderr
    # the run it recorded came back from the run cache, and the lock says so
    assert lock.read_text() == good + "origin: restored from an earlier run\n"
    assert two.read("data/b.txt") == "11"  # nothing lost


def test_corrupt_cache_blob_is_never_restored(two: TempProject) -> None:
    two.pivot("run")
    import yaml

    digest = yaml.safe_load(two.lock("make"))["outs"][0]["hash"]
    blob = two.root / ".pivot" / "cache" / "files" / digest[:2] / digest[2:]
    blob.chmod(0o644)
    blob.write_text('{"n": 999}')
    (two.root / "data" / "a.json").unlink()
    events = two.run_events()
    finished = {e["stage"]: e["status"] for e in events if e["event"] == "stage_finished"}
    assert finished["make"] == "ran"
    assert any(e["event"] == "message" and "corrupt" in e["text"] for e in events)
    assert json.loads(two.read("data/a.json")) == {"n": 10}
    assert json.loads(blob.read_text()) == {"n": 10}  # re-created from the real run
