"""Bad input: every kind gets one ``error:`` line (exit 2 for user error), loses nothing, and
never leaves a corrupt result. Each case drives the real CLI in a temp git repository.

Sections follow the kinds of input: malformed files Pivot reads (lock, params.yaml,
pivot.yaml, config), cache blobs whose bytes do not match their name, outputs replaced by
folders or by symlinks out of the project, a full disk, unreadable files, and file names
that are not UTF-8. docs/reliability.md (section "Bad input") tabulates the behaviours.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pivot.core.store.hashing import hash_bytes, hash_file
from pivot.core.store.lock import parse_lock
from tests.helpers import TempProject, make_project, pivot_env

PIPELINE = """
from typing import Annotated
import pivot
from pivot import loaders

pipeline = pivot.Pipeline("bad-input")


def make(raw: Annotated[str, pivot.Dep("raw.txt", loaders.Text())]) -> Annotated[
    str, pivot.Out("data/a.txt", loaders.Text())
]:
    return raw.upper()


def use(a: Annotated[str, pivot.Dep("data/a.txt", loaders.Text())]) -> Annotated[
    str, pivot.Out("data/b.txt", loaders.Text())
]:
    return a + "!"


pipeline.register(make)
pipeline.register(use)
"""

RAW = "hello\n"
A_TEXT = "HELLO\n"


# -- helpers ---------------------------------------------------------------------------------


def error_line(proc: subprocess.CompletedProcess[str]) -> str:
    """The single line on stderr, which must start with ``error:`` (no traceback)."""
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got:\n{proc.stderr}"
    assert lines[0].startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stdout
    return lines[0]


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file Pivot's results live in: workspace, locks, cache blobs, config (not .git,
    nor the local state, logs and run lock, which are bookkeeping)."""
    found: dict[str, bytes] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in (".git", "state.lmdb", "logs")]
        for name in filenames:
            path = Path(dirpath) / name
            if name != "run.lock":
                found[path.relative_to(root).as_posix()] = path.read_bytes()
    return found


def temp_leftovers(root: Path) -> list[str]:
    """Temp files of atomic writes anywhere in the project (there must never be any after a
    command finished)."""
    return [
        str(path.relative_to(root))
        for path in root.rglob("*")
        if ".pivot-tmp-" in path.name and ".git" not in path.parts
    ]


def blob_of(root: Path, digest: str) -> Path:
    return root / ".pivot" / "cache" / "files" / digest[:2] / digest[2:]


def cache_blobs(root: Path) -> list[Path]:
    folder = root / ".pivot" / "cache" / "files"
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else []


def out_hash(project: TempProject, stage: str, path: str) -> str:
    return parse_lock(project.lock(stage)).out_records()[path].hash


def statuses(project: TempProject, *args: str, check: int | None = 0) -> dict[str, str]:
    return project.statuses(*args, check=check)


def reasons(project: TempProject, *args: str, check: int | None = 0) -> dict[str, str]:
    return {
        e["stage"]: e["reason"]
        for e in project.run_events(*args, check=check)
        if e["event"] == "stage_finished"
    }


def overwrite(path: Path, data: bytes) -> None:
    """Replace a (possibly read-only) file's bytes in place."""
    os.chmod(path, 0o644)
    path.write_bytes(data)


@pytest.fixture
def two(project: TempProject) -> TempProject:
    """The two-stage pipeline, run once."""
    project.write("pipeline.py", PIPELINE)
    project.write("raw.txt", RAW)
    assert statuses(project) == {"make": "ran", "use": "ran"}
    return project


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> TempProject:
    """One run project for the read-only cases: each case breaks one file, runs commands that
    must refuse, and puts the file back."""
    project = make_project(tmp_path_factory.mktemp("shared") / "proj")
    project.write("pipeline.py", PIPELINE)
    project.write("raw.txt", RAW)
    assert statuses(project) == {"make": "ran", "use": "ran"}
    return project


@contextlib.contextmanager
def replaced(path: Path, data: bytes | None) -> Iterator[None]:
    """``path`` holds ``data`` (or is a folder, for None) for the duration; then it is back."""
    saved = path.read_bytes() if path.is_file() else None
    if path.is_file():
        path.unlink()
    if data is None:
        path.mkdir()
    else:
        path.write_bytes(data)
    try:
        yield
    finally:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
        if saved is not None:
            path.write_bytes(saved)


def assert_refused(
    project: TempProject, commands: list[list[str]], *expected: str, code: int = 2
) -> None:
    """Each command exits ``code`` with one error line holding ``expected``, and writes
    nothing."""
    before = snapshot(project.root)
    for command in commands:
        proc = project.pivot(*command, check=code)
        line = error_line(proc)
        for text in expected:
            assert text in line, f"{command}: {line}"
    assert snapshot(project.root) == before
    assert temp_leftovers(project.root) == []


# -- 2. malformed files: lock files ---------------------------------------------------------


def _edit(old: str, new: str) -> Callable[[str], bytes]:
    def change(text: str) -> bytes:
        assert old in text, (old, text)
        return text.replace(old, new, 1).encode()

    return change


def _cut(start: str, end: str, insert: str) -> Callable[[str], bytes]:
    def change(text: str) -> bytes:
        i, j = text.index(start), text.index(end)
        return (text[:i] + insert + text[j:]).encode()

    return change


def _const(data: bytes) -> Callable[[str], bytes]:
    return lambda _text: data


ESCAPE = "escaped-by-lock.txt"
ABSOLUTE = "/pivot-bad-input-test-never-exists/x.txt"
A_HASH = hash_bytes(A_TEXT.encode())
RAW_HASH = hash_bytes(RAW.encode())

BAD_LOCKS: list[tuple[str, Callable[[str], bytes], str]] = [
    ("invalid-yaml", _const(b"schema: 1\nstage: [make\n"), "is not valid YAML"),
    ("empty", _const(b""), "is malformed (not a mapping)"),
    ("binary-garbage", _const(bytes(range(128, 256)) * 8), "is not text"),
    ("nul-bytes", _const(b"\x00\x01\x02garbage"), "lock file"),
    ("a-list", _const(b"- 1\n- 2\n"), "is malformed (not a mapping)"),
    ("python-tag", _const(b"!!python/object/apply:os.system ['true']\n"), "is not valid YAML"),
    ("deep-nesting", _const(b"[" * 30000 + b"]" * 30000), "nests too deeply"),
    ("unknown-schema", _edit("schema: 1", "schema: 99"), "unknown schema 99"),
    ("missing-stage-key", _edit("stage: make\n", ""), "is malformed ('stage')"),
    ("other-stage", _edit("stage: make", "stage: use"), "belongs to stage 'use'"),
    ("outs-not-a-list", _cut("outs:", "\n\n\n", "outs: 5\n"), "is malformed"),
    ("out-missing-path", _edit("- path: data/a.txt\n  hash:", "- hash:"), "malformed ('path')"),
    ("size-not-a-number", _edit("size: 6", "size: six"), "is malformed"),
    ("out-hash-a-list", _edit(f"hash: {A_HASH}", "hash: [1, 2]"), "not 16 hex digits"),
    ("out-hash-a-path", _edit(f"hash: {A_HASH}", "hash: ../../../../x"), "not 16 hex digits"),
    ("dep-hash-a-list", _edit(f"hash: {RAW_HASH}", "hash: [1, 2]"), "not 16 hex digits"),
    ("code-a-list", _cut("code:", "params:", "code: [a, b]\n"), "is malformed"),
    ("params-a-list", _edit("params: {}", "params: [1]"), "is malformed"),
    ("out-path-escapes", _edit("path: data/a.txt", f"path: ../{ESCAPE}"), "not a plain relative"),
    ("out-path-absolute", _edit("path: data/a.txt", f"path: {ABSOLUTE}"), "not a plain relative"),
    ("out-path-in-git", _edit("path: data/a.txt", "path: .git/hooks/x"), "inside .git/"),
    (
        "folder-file-escapes",
        _edit(
            "  size: 6\n",
            f"  size: 6\n  files:\n  - path: ../../{ESCAPE}\n    hash: 0123456789abcdef\n    size: 1\n",
        ),
        "not a plain relative",
    ),
]


#: The last line of a lock whose outputs were restored from an earlier run.
RESTORED_LINE = b"origin: restored from an earlier run\n"


def warning_line(proc: subprocess.CompletedProcess[str]) -> str:
    """The single line on stderr, which must start with ``warning:`` (no traceback)."""
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got:\n{proc.stderr}"
    assert lines[0].startswith("warning: "), proc.stderr
    assert "Traceback" not in proc.stdout
    return lines[0]


@pytest.mark.parametrize(
    ("mutate", "expected"), [pytest.param(m, e, id=name) for name, m, e in BAD_LOCKS]
)
def test_malformed_lock_is_a_warning_and_the_stage_re_runs(
    shared: TempProject, mutate: Callable[[str], bytes], expected: str
) -> None:
    """A lock is only a record: one that cannot be read is one warning naming the file, and
    its stage is treated as never run (here restored from the run cache, which writes the
    same lock back, saying so in its last line). Nothing it names is trusted: no path in it is ever written."""
    lock = shared.root / ".pivot" / "stages" / "make.lock"
    good = lock.read_bytes()
    bad = mutate(lock.read_text() + "\n\n\n")  # the blank lines mark the end for _cut
    (shared.root / "data" / "a.txt").unlink()  # a restore would have to write
    try:
        with replaced(lock, bad):
            before = snapshot(shared.root)
            line = warning_line(shared.pivot("status", "--json"))
            assert str(lock) in line and expected in line, line
            assert line.endswith("the stage will re-run"), line
            assert snapshot(shared.root) == before  # status writes nothing

            warning_line(shared.pivot("--no-tui", "run"))
            assert lock.read_bytes() == good + RESTORED_LINE
            assert shared.read("data/a.txt") == A_TEXT
    finally:
        shared.write("data/a.txt", A_TEXT)
    assert not (shared.root.parent / ESCAPE).exists()
    assert not (shared.root.parent.parent / ESCAPE).exists()
    assert not Path(ABSOLUTE).parent.exists()


def test_a_merge_conflict_in_a_lock_is_named_as_one(two: TempProject) -> None:
    lock = two.root / ".pivot" / "stages" / "make.lock"
    good = lock.read_text()
    lock.write_text(f"<<<<<<< HEAD\n{good}=======\n{good.replace('make', 'make')}>>>>>>> b\n")
    line = warning_line(two.pivot("--no-tui", "run"))
    assert line == f"warning: merge conflict in {lock}: the stage will re-run"
    # the earlier run, restored from the run cache
    assert lock.read_text() == good + RESTORED_LINE.decode()
    assert statuses(two) == {"make": "skipped", "use": "skipped"}


def test_other_commands_warn_about_a_malformed_lock_and_go_on(two: TempProject) -> None:
    lock = two.root / ".pivot" / "stages" / "make.lock"
    lock.write_bytes(b"schema: 1\nstage: [make\n")
    for command in (["checkout", "--force"], ["status"]):
        line = warning_line(two.pivot(*command))
        assert "is not valid YAML" in line and line.endswith("the stage will re-run")
    # verify checks outputs against locks: a stage without a readable lock is a problem
    proc = two.pivot("verify", check=1)
    assert "make: no lock file" in proc.stdout and "is not valid YAML" in proc.stderr
    assert lock.read_bytes() == b"schema: 1\nstage: [make\n"  # none of them rewrote it


def test_a_corrupt_lock_re_runs_the_stage(two: TempProject) -> None:
    """As if the lock were deleted: the stage runs again (here its earlier run is restored
    from the run cache, which writes the same lock plus the line saying so)."""
    lock = two.root / ".pivot" / "stages" / "make.lock"
    good = lock.read_bytes()
    lock.write_bytes(b"\xff\xfe garbage")
    assert statuses(two) == {"make": "restored", "use": "skipped"}
    assert lock.read_bytes() == good + RESTORED_LINE
    assert two.read("data/a.txt") == A_TEXT


# -- 2. malformed files: params.yaml, pivot.yaml, config --------------------------------------

BAD_PARAMS: list[tuple[str, bytes | None, str]] = [
    ("invalid-yaml", b"make: [\n", "is not valid YAML"),
    ("binary-garbage", bytes(range(128, 256)), "is not UTF-8 text"),
    ("a-list", b"- 1\n", "must be a mapping"),
    ("a-folder", None, "cannot read"),
    ("deep-nesting", b"make: " + b"[" * 30000 + b"]" * 30000, "nests too deeply"),
]


@pytest.mark.parametrize(
    ("data", "expected"), [pytest.param(d, e, id=name) for name, d, e in BAD_PARAMS]
)
def test_malformed_params_file_is_refused(
    shared: TempProject, data: bytes | None, expected: str
) -> None:
    with replaced(shared.root / "params.yaml", data):
        assert_refused(
            shared, [["--no-tui", "run"], ["status"], ["explain"]], "params.yaml", expected
        )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("make:\n  lr: 0.5\n", "params.yaml sets ['lr'] for stage 'make'"),
        ("make: 5\n", "params.yaml sets 5 for stage 'make'"),
    ],
    ids=["a-section", "a-scalar"],
)
def test_params_for_a_stage_without_params_fail_only_that_stage(
    two: TempProject, text: str, expected: str
) -> None:
    """A value the stage cannot take is that stage's failure (exit 1, one reason line), as
    for a pydantic validation error; nothing of it is written. (Other top-level values are
    fine: DVC-style scripts keep their params there, see ParamsDep.)"""
    before = snapshot(two.root)
    two.write("params.yaml", text)
    events = two.run_events(check=1)
    finished = {e["stage"]: e for e in events if e["event"] == "stage_finished"}
    assert finished["make"]["status"] == "failed"
    assert expected in finished["make"]["reason"]
    assert "\n" not in finished["make"]["reason"]
    assert finished["use"]["status"] == "blocked"
    after = snapshot(two.root)
    after.pop("params.yaml")
    assert after == before


BAD_MATRIX: list[tuple[str, bytes, str]] = [
    ("invalid-yaml", b"stages: [\n", "pivot.yaml is not valid YAML"),
    ("binary-garbage", bytes(range(128, 256)), "pivot.yaml is not UTF-8 text"),
    ("a-scalar", b"5\n", "needs a top-level 'stages:' mapping"),
    ("stages-a-list", b"stages: [1, 2]\n", "needs a top-level 'stages:' mapping"),
    ("function-not-text", b"stages:\n  x:\n    function: 5\n", "needs 'function: module:function'"),
    (
        "function-no-colon",
        b"stages:\n  x:\n    function: os\n",
        "needs 'function: module:function'",
    ),
    ("no-such-module", b"stages:\n  x:\n    function: nope:f\n", "cannot import 'nope:f'"),
    (
        "unknown-keys",
        b"stages:\n  x:\n    function: pipeline:make\n    1: a\n    cmd: b\n",
        "has unknown key '1'",
    ),
    ("name-null", b"stages:\n  ~:\n    function: pipeline:make\n", "stage name None is not text"),
    ("name-invalid", b"stages:\n  'a b':\n    function: pipeline:make\n", "bad stage name 'a b'"),
    (
        "matrix-a-scalar",
        b"stages:\n  x:\n    function: pipeline:make\n    matrix: 5\n",
        "'matrix' must be a mapping",
    ),
    ("deep-nesting", b"stages: " + b"[" * 600 + b"]" * 600, "nests too deeply"),
]


@pytest.mark.parametrize(
    ("data", "expected"), [pytest.param(d, e, id=name) for name, d, e in BAD_MATRIX]
)
def test_malformed_matrix_file_is_refused(shared: TempProject, data: bytes, expected: str) -> None:
    with replaced(shared.root / "pivot.yaml", data):
        assert_refused(shared, [["--no-tui", "run"], ["status"], ["list"]], expected)


BAD_CONFIG: list[tuple[str, bytes, str]] = [
    ("invalid-yaml", b"remotes: [\n", "is not valid YAML at line 2"),
    ("binary-garbage", bytes(range(128, 256)), "cannot read config file"),
    ("a-list", b"- a\n", "must hold a mapping of keys, not list"),
    ("unknown-key", b"nope: 1\n", "unknown config key 'nope'"),
    ("wrong-type", b"executor:\n  kind: 5\n", "bad value for config key 'executor.kind'"),
    ("section-a-scalar", b"watch: 5\n", "bad value for config key 'watch'"),
    ("deep-nesting", b"a: " + b"[" * 600 + b"]" * 600, "nests too deeply"),
]


@pytest.mark.parametrize(
    ("data", "expected"), [pytest.param(d, e, id=name) for name, d, e in BAD_CONFIG]
)
def test_malformed_config_is_refused_and_never_overwritten(
    shared: TempProject, data: bytes, expected: str
) -> None:
    config = shared.root / ".pivot" / "config.yaml"
    with replaced(config, data):
        assert_refused(
            shared,
            [["--no-tui", "run"], ["config", "list"], ["config", "set", "watch.debounce_ms", "5"]],
            "config.yaml",
            expected,
        )
        assert config.read_bytes() == data


# -- 3. cache blobs whose bytes do not match their name ---------------------------------------


def _corrupt_same_size(blob: Path) -> bytes:
    data = blob.read_bytes()
    garbage = bytes(b ^ 0x20 for b in data)  # same size, other bytes
    overwrite(blob, garbage)
    return garbage


def test_checkout_never_restores_a_corrupt_blob(two: TempProject) -> None:
    digest = out_hash(two, "make", "data/a.txt")
    garbage = _corrupt_same_size(blob_of(two.root, digest))
    (two.root / "data" / "a.txt").unlink()

    proc = two.pivot("--no-tui", "checkout", check=1)

    assert "missing-blob data/a.txt" in proc.stdout and "is corrupt" in proc.stdout
    assert not (two.root / "data" / "a.txt").exists()
    assert not blob_of(two.root, digest).exists()  # moved out of the way
    assert temp_leftovers(two.root) == []
    assert garbage not in [p.read_bytes() for p in (two.root / "data").iterdir()]
    # The next run re-creates the output and the blob.
    assert statuses(two) == {"make": "ran", "use": "skipped"}
    assert two.read("data/a.txt") == A_TEXT
    assert hash_file(blob_of(two.root, digest)) == digest


def test_run_re_runs_a_stage_whose_blob_is_corrupt(two: TempProject) -> None:
    digest = out_hash(two, "make", "data/a.txt")
    _corrupt_same_size(blob_of(two.root, digest))
    (two.root / "data" / "a.txt").unlink()

    events = two.run_events()

    finished = {e["stage"]: e for e in events if e["event"] == "stage_finished"}
    assert finished["make"]["status"] == "ran"
    assert "is corrupt" in finished["make"]["reason"]
    assert finished["use"]["status"] == "skipped"
    assert two.read("data/a.txt") == A_TEXT
    assert hash_file(blob_of(two.root, digest)) == digest
    assert two.pivot("verify").returncode == 0


FOLDER_PIPELINE = """
from typing import Annotated
import pivot
from pivot import loaders

pipeline = pivot.Pipeline("folder")


def split(raw: Annotated[str, pivot.Dep("raw.txt", loaders.Text())]) -> Annotated[
    dict, pivot.DirectoryOut("out/parts", loaders.Text())
]:
    return {"one.txt": raw, "sub/two.txt": raw.upper()}


pipeline.register(split)
"""


def test_corrupt_blob_in_a_folder_output_is_never_restored(project: TempProject) -> None:
    project.write("pipeline.py", FOLDER_PIPELINE)
    project.write("raw.txt", RAW)
    assert statuses(project) == {"split": "ran"}
    files = parse_lock(project.lock("split")).out_records()["out/parts"].files
    assert files is not None
    digest = {entry.path: entry.hash for entry in files}["sub/two.txt"]
    garbage = _corrupt_same_size(blob_of(project.root, digest))
    shutil.rmtree(project.root / "out" / "parts")

    project.pivot("--no-tui", "checkout", check=1)

    on_disk = [p.read_bytes() for p in (project.root / "out").rglob("*") if p.is_file()]
    assert garbage not in on_disk
    assert not (project.root / "out" / "parts" / "sub" / "two.txt").exists()
    assert statuses(project) == {"split": "ran"}
    assert project.read("out/parts/sub/two.txt") == A_TEXT
    assert project.read("out/parts/one.txt") == RAW


# -- 4. outputs replaced by folders or by symlinks out of the project -------------------------


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder outside the project (the project is tmp_path/proj)."""
    folder = tmp_path / "outside"
    folder.mkdir()
    return folder


@pytest.mark.parametrize(
    ("command", "stage_status"),
    [
        (["--no-tui", "run"], "ran"),
        (["--no-tui", "run", "-f", "make"], "ran"),
        (["checkout", "--force"], None),
    ],
    ids=["run", "run-forced", "checkout-force"],
)
def test_output_symlinked_outside_is_replaced_never_written_through(
    two: TempProject, outside: Path, command: list[str], stage_status: str | None
) -> None:
    victim = outside / "victim.txt"
    victim.write_text("precious\n")
    target = two.root / "data" / "a.txt"
    target.unlink()
    target.symlink_to(victim)

    proc = two.pivot(*command)

    if stage_status:
        assert f"{stage_status}" in proc.stdout
    assert victim.read_text() == "precious\n"
    assert not target.is_symlink() and target.read_text() == A_TEXT
    assert statuses(two) == {"make": "skipped", "use": "skipped"}


def test_checkout_without_force_leaves_a_symlinked_output_alone(
    two: TempProject, outside: Path
) -> None:
    victim = outside / "victim.txt"
    victim.write_text("precious\n")
    target = two.root / "data" / "a.txt"
    target.unlink()
    target.symlink_to(victim)

    proc = two.pivot("--no-tui", "checkout", check=None)

    assert "modified" in proc.stdout and "data/a.txt" in proc.stdout
    assert target.is_symlink() and victim.read_text() == "precious\n"


def test_output_replaced_by_a_folder_is_re_run(two: TempProject) -> None:
    target = two.root / "data" / "a.txt"
    target.unlink()
    target.mkdir()
    (target / "inside.txt").write_text("x")

    assert statuses(two) == {"make": "ran", "use": "skipped"}

    assert target.is_file() and target.read_text() == A_TEXT
    assert two.pivot("verify").returncode == 0


def test_folder_output_symlinked_outside_is_never_written_through(
    project: TempProject, outside: Path
) -> None:
    project.write("pipeline.py", FOLDER_PIPELINE)
    project.write("raw.txt", RAW)
    assert statuses(project) == {"split": "ran"}
    (outside / "one.txt").write_text("keep me\n")
    (outside / "mine.txt").write_text("mine\n")
    parts = project.root / "out" / "parts"
    shutil.rmtree(parts)
    parts.symlink_to(outside, target_is_directory=True)

    assert statuses(project) == {"split": "ran"}

    assert sorted(p.name for p in outside.iterdir()) == ["mine.txt", "one.txt"]
    assert (outside / "one.txt").read_text() == "keep me\n"
    assert not parts.is_symlink() and (parts / "one.txt").read_text() == RAW


INCREMENTAL_PIPELINE = """
import pathlib
from typing import Annotated
import pivot
from pivot import loaders

pipeline = pivot.Pipeline("incremental")


def grow(
    raw: Annotated[str, pivot.Dep("raw.txt", loaders.Text())],
    log: Annotated[pathlib.Path, pivot.IncrementalOut("log.txt", loaders.PathOnly())],
) -> None:
    with open(log, "a") as handle:
        handle.write(raw)


pipeline.register(grow)
"""


def test_incremental_output_symlinked_outside_gets_a_real_copy(
    project: TempProject, outside: Path
) -> None:
    """Even when the link's target holds exactly the committed version, the stage gets a
    writable copy of its own: appending must not reach the outside file."""
    project.write("pipeline.py", INCREMENTAL_PIPELINE)
    project.write("raw.txt", RAW)
    assert statuses(project) == {"grow": "ran"}
    victim = outside / "log.txt"
    victim.write_text(RAW)
    log = project.root / "log.txt"
    log.unlink()
    log.symlink_to(victim)

    assert statuses(project, "-f") == {"grow": "ran"}

    assert victim.read_text() == RAW
    assert not log.is_symlink() and log.read_text() == RAW * 2


def test_dep_symlinked_outside_is_read_as_data(project: TempProject, outside: Path) -> None:
    """A dep may point anywhere: Pivot only reads it, and hashes what it points to."""
    project.write("pipeline.py", PIPELINE)
    source = outside / "raw.txt"
    source.write_text("from outside\n")
    (project.root / "raw.txt").symlink_to(source)

    assert statuses(project) == {"make": "ran", "use": "ran"}
    assert project.read("data/a.txt") == "FROM OUTSIDE\n"
    assert statuses(project) == {"make": "skipped", "use": "skipped"}
    source.write_text("changed outside\n")
    assert statuses(project) == {"make": "ran", "use": "ran"}
    assert source.read_text() == "changed outside\n"
    assert (project.root / "raw.txt").is_symlink()


# -- 5. a full disk ---------------------------------------------------------------------------

SIZED_PIPELINE = """
from typing import Annotated
import pivot
from pivot import loaders

pipeline = pivot.Pipeline("sized")


def make(kib: Annotated[str, pivot.Dep("kib.txt", loaders.Text())]) -> Annotated[
    str, pivot.Out("data/big.txt", loaders.Text())
]:
    return "x" * (1024 * int(kib))


pipeline.register(make)
"""


def _sized_project(root: Path, kib: int) -> TempProject:
    project = make_project(root)
    project.write("pipeline.py", SIZED_PIPELINE)
    project.write("kib.txt", str(kib))
    return project


def _assert_nothing_committed(project: TempProject) -> None:
    assert list((project.root / ".pivot" / "stages").iterdir()) == []
    assert cache_blobs(project.root) == []
    assert temp_leftovers(project.root) == []


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs (root only); grow it with ``mount -o remount,size=...``."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root; the RLIMIT_FSIZE test covers this user")
    mount = tmp_path / "disk"
    mount.mkdir()
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True
    )
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        if subprocess.run(["umount", str(mount)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(mount)], check=False)


def _grow(mount: Path) -> None:
    subprocess.run(["mount", "-o", "remount,size=64m", str(mount)], check=True)


def _failed_reason(project: TempProject) -> str:
    events = project.run_events(check=1)
    finished = [e for e in events if e["event"] == "stage_finished"]
    assert [e["status"] for e in finished] == ["failed"], events
    reason: str = finished[0]["reason"]
    assert "\n" not in reason
    return reason


def test_output_larger_than_the_disk(small_disk: Path) -> None:
    project = _sized_project(small_disk / "proj", kib=3072)

    reason = _failed_reason(project)

    assert "No space left on device" in reason
    _assert_nothing_committed(project)
    assert not (project.root / "data" / "big.txt").exists()
    _grow(small_disk)
    assert statuses(project) == {"make": "ran"}
    assert (project.root / "data" / "big.txt").stat().st_size == 3072 * 1024
    assert statuses(project) == {"make": "skipped"}


def test_output_fits_but_its_cache_copy_does_not(small_disk: Path) -> None:
    project = _sized_project(small_disk / "proj", kib=1200)

    reason = _failed_reason(project)

    assert "No space left on device" in reason
    _assert_nothing_committed(project)
    _grow(small_disk)
    assert statuses(project) == {"make": "ran"}
    digest = out_hash(project, "make", "data/big.txt")
    assert hash_file(blob_of(project.root, digest)) == digest


def test_restore_onto_a_full_disk(small_disk: Path) -> None:
    project = _sized_project(small_disk / "proj", kib=256)
    assert statuses(project) == {"make": "ran"}
    lock = project.lock("make")
    (project.root / "data" / "big.txt").unlink()
    filler = small_disk / "filler"
    _fill(filler)

    reason = _failed_reason(project)

    assert "could not restore its outputs" in reason and "No space left on device" in reason
    assert not (project.root / "data" / "big.txt").exists()
    assert temp_leftovers(project.root) == []
    assert project.lock("make") == lock
    filler.unlink()
    assert statuses(project) == {"make": "restored"}
    assert (project.root / "data" / "big.txt").stat().st_size == 256 * 1024


def _fill(filler: Path) -> None:
    """Write ``filler`` until the disk is full."""
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError:
        pass
    finally:
        os.close(fd)


def _limit_file_size(limit: int) -> Callable[[], None]:
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes fail with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_file_size_limit_behaves_like_a_full_disk(project: TempProject) -> None:
    """Any user can cap the size of files a process writes (RLIMIT_FSIZE): the stage's output
    hits the cap and the write fails, as on a full disk."""
    project.write("pipeline.py", SIZED_PIPELINE)
    project.write("kib.txt", "1024")

    proc = project.pivot(
        "--no-tui", "run", "--json", check=1, preexec_fn=_limit_file_size(256 * 1024)
    )

    events = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    failed = [e for e in events if e["event"] == "stage_finished"]
    assert [e["status"] for e in failed] == ["failed"]
    assert "File too large" in failed[0]["reason"]
    _assert_nothing_committed(project)
    assert statuses(project) == {"make": "ran"}
    assert statuses(project) == {"make": "skipped"}


# -- 6. unreadable files ----------------------------------------------------------------------

_PR_CAPBSET_DROP = 24
_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH = 1, 2


def _drop_dac_capabilities() -> None:
    """In the child before exec: give up root's power to read anything, for it and every
    process it starts (workers included), so that chmod 000 means what it says."""
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH):
        if libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


@pytest.fixture
def as_user(tmp_path: Path) -> dict[str, Callable[[], None]]:
    """Keyword arguments that make a pivot subprocess subject to file permissions: nothing
    for a normal user; for root, dropping CAP_DAC_OVERRIDE (skip if that is impossible)."""
    if os.geteuid() != 0:
        return {}
    probe = tmp_path / "probe"
    probe.write_text("secret")
    probe.chmod(0)
    try:
        proc = subprocess.run(
            [sys.executable, "-c", f"open({str(probe)!r}).read()"],
            preexec_fn=_drop_dac_capabilities,
            capture_output=True,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        pytest.skip(f"running as root and cannot drop CAP_DAC_OVERRIDE ({exc})")
    if proc.returncode == 0:
        pytest.skip("running as root and chmod 000 does not block reads here")
    return {"preexec_fn": _drop_dac_capabilities}


def test_unreadable_dep_is_one_line_and_exit_2(
    two: TempProject, as_user: dict[str, Callable[[], None]]
) -> None:
    raw = two.root / "raw.txt"
    raw.write_text("changed\n")  # so it must be read again
    before = snapshot(two.root)
    raw.chmod(0)
    for command in (["--no-tui", "run"], ["status"]):
        line = error_line(two.pivot(*command, check=2, **as_user))
        assert "cannot read" in line and "raw.txt" in line and "Permission denied" in line
    raw.chmod(0o644)
    assert snapshot(two.root) == before
    assert statuses(two) == {"make": "ran", "use": "ran"}
    assert two.read("data/a.txt") == "CHANGED\n"


def test_unreadable_blob_is_never_restored_and_the_stage_re_runs(
    two: TempProject, as_user: dict[str, Callable[[], None]]
) -> None:
    blob = blob_of(two.root, out_hash(two, "make", "data/a.txt"))
    blob.chmod(0)
    (two.root / "data" / "a.txt").unlink()

    proc = two.pivot("--no-tui", "checkout", check=1, **as_user)

    assert "cannot be read" in proc.stdout
    assert not (two.root / "data" / "a.txt").exists()
    events = _events(two, **as_user)
    finished = {e["stage"]: e["status"] for e in events if e["event"] == "stage_finished"}
    assert finished == {"make": "ran", "use": "skipped"}
    assert two.read("data/a.txt") == A_TEXT
    blob.chmod(0o444)


def _events(project: TempProject, **kwargs: Callable[[], None]) -> list[dict[str, object]]:
    proc = project.pivot("--no-tui", "run", "--json", **kwargs)
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


def test_unreadable_lock_is_one_line_and_exit_2(
    two: TempProject, as_user: dict[str, Callable[[], None]]
) -> None:
    lock = two.root / ".pivot" / "stages" / "make.lock"
    content = lock.read_bytes()
    lock.chmod(0)
    os.utime(lock, (1_000_000_000, 1_000_000_000))  # unlike the state's cached copy: read it
    (two.root / "data" / "a.txt").unlink()
    for command in (["--no-tui", "run"], ["status"], ["checkout"]):
        line = error_line(two.pivot(*command, check=2, **as_user))
        assert "cannot read lock file" in line and "Permission denied" in line
    assert not (two.root / "data" / "a.txt").exists()
    lock.chmod(0o644)
    assert lock.read_bytes() == content


# -- 7. paths: names that are not UTF-8, control characters, long paths -----------------------

NAMED_PIPELINE = """
import os
import pathlib
from typing import Annotated
import pivot
from pivot import loaders

pipeline = pivot.Pipeline("names")


def write(name: Annotated[str, pivot.Dep("name.hex", loaders.Text())]) -> Annotated[
    pathlib.Path, pivot.DirectoryOut("out/parts")
]:
    with open(os.fsencode("out/parts/") + bytes.fromhex(name.strip()), "wb") as handle:
        handle.write(b"content")


def count(parts: Annotated[pathlib.Path, pivot.Dep("out/parts")]) -> Annotated[
    str, pivot.Out("count.txt", loaders.Text())
]:
    return str(len(os.listdir(parts)))


pipeline.register(write)
pipeline.register(count)
"""


def test_folder_output_with_a_non_utf8_name_is_refused(project: TempProject) -> None:
    """Lock files are text, so a folder output holding a file whose name is not UTF-8 cannot
    be recorded: the stage fails with one line naming the file, nothing is committed."""
    project.write("pipeline.py", NAMED_PIPELINE)
    project.write("name.hex", b"caf\xe9.txt".hex())

    events = project.run_events(check=1)

    finished = {e["stage"]: e for e in events if e["event"] == "stage_finished"}
    assert finished["write"]["status"] == "failed"
    reason = finished["write"]["reason"]
    assert "not valid UTF-8" in reason and "caf\\xe9.txt" in reason and "\n" not in reason
    assert finished["count"]["status"] == "blocked"
    assert list((project.root / ".pivot" / "stages").iterdir()) == []
    # Renamed, it goes through, and the stray file is gone with the old folder.
    project.write("name.hex", b"cafe.txt".hex())
    assert statuses(project) == {"write": "ran", "count": "ran"}
    assert os.listdir(project.root / "out" / "parts") == ["cafe.txt"]
    assert project.read("count.txt") == "1"


DEP_FOLDER_PIPELINE = """
import os
import pathlib
from typing import Annotated
import pivot
from pivot import loaders

pipeline = pivot.Pipeline("dep-folder")


def total(folder: Annotated[pathlib.Path, pivot.Dep("in")]) -> Annotated[
    str, pivot.Out("total.txt", loaders.Text())
]:
    base = os.fsencode(folder)
    return str(sum(len(open(os.path.join(base, n), "rb").read()) for n in os.listdir(base)))


pipeline.register(total)
"""


def test_dep_folder_with_a_non_utf8_name_is_hashed_and_tracked(project: TempProject) -> None:
    project.write("pipeline.py", DEP_FOLDER_PIPELINE)
    odd = os.fsencode(project.root / "in") + b"/caf\xe9.txt"
    os.makedirs(project.root / "in")
    with open(odd, "wb") as handle:
        handle.write(b"1")

    assert statuses(project) == {"total": "ran"}
    assert statuses(project) == {"total": "skipped"}
    with open(odd, "wb") as handle:
        handle.write(b"22")
    assert statuses(project) == {"total": "ran"}
    assert project.read("total.txt") == "2"


def test_project_in_a_non_utf8_folder_is_refused(tmp_path: Path) -> None:
    root = Path(os.fsdecode(os.fsencode(tmp_path) + b"/caf\xe9"))
    root.mkdir()
    env = pivot_env()

    def pivot(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "pivot", *args],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            errors="backslashreplace",
            timeout=60,
        )

    init = pivot("init")
    assert init.returncode == 2
    assert "not valid UTF-8" in error_line(init) and "caf\\xe9" in error_line(init)
    assert not (root / ".pivot").exists()
    (root / ".pivot" / "stages").mkdir(parents=True)  # made by hand, or by an older Pivot
    (root / "pipeline.py").write_text(PIPELINE)
    (root / "raw.txt").write_text(RAW)
    for command in (["--no-tui", "run"], ["status"]):
        proc = pivot(*command)
        assert proc.returncode == 2
        assert "not valid UTF-8" in error_line(proc)
    assert not (root / "data").exists()


def test_control_character_in_a_path_is_refused(project: TempProject) -> None:
    project.write("pipeline.py", PIPELINE.replace('"data/b.txt"', '"data/b\\nc.txt"'))
    project.write("raw.txt", RAW)
    line = error_line(project.pivot("--no-tui", "run", check=2))
    assert "stage 'use'" in line and "control character" in line
    assert not (project.root / "data").exists()


LONG_PIPELINE = """
from typing import Annotated
import pivot
from pivot import loaders

pipeline = pivot.Pipeline("long")
DEEP = "/".join(["d" * 120] * 5) + "/leaf.txt"


def deep(raw: Annotated[str, pivot.Dep("raw.txt", loaders.Text())]) -> Annotated[
    dict, pivot.DirectoryOut("out", loaders.Text())
]:
    return {DEEP: raw}


pipeline.register(deep)
"""


def test_paths_longer_than_the_state_key_limit(project: TempProject) -> None:
    """A file path over 511 bytes (LMDB's key limit) is hashed, cached and skipped like any."""
    project.write("pipeline.py", LONG_PIPELINE)
    project.write("raw.txt", RAW)
    assert len(os.fsencode(project.root)) + 600 > 511

    assert statuses(project) == {"deep": "ran"}
    assert statuses(project) == {"deep": "skipped"}
    shutil.rmtree(project.root / "out")
    assert statuses(project) == {"deep": "restored"}
    leaf = next((project.root / "out").rglob("leaf.txt"))
    assert leaf.read_text() == RAW
    assert hash_bytes(RAW.encode()) == hash_file(leaf)
