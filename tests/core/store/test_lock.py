"""Lock files: what a stage's last run consumed and produced, as deterministic YAML.

Locks come from git, so everything read is checked before it is trusted: a bad lock is one
line of LockFileError naming the file and what to do, never a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from pivot.core.store.hashing import FileEntry
from pivot.core.store.lock import DepRecord, LockStore, OutRecord, StageLock, dump_lock, parse_lock
from pivot.core.store.state import StateDB
from pivot.exceptions import LockFileError

H1, H2, H3, H4 = "0123456789abcdef", "fedcba9876543210", "00000000deadbeef", "1111111111111111"

FILE_LOCK = StageLock(
    stage="train",
    code={"self:train": H1, "func:helpers.double": H2},
    params={"lr": 0.1, "optimizer": {"name": "adam", "betas": [0.9, 0.999]}, "seed": None},
    deps=(DepRecord("data/raw.csv", H3),),
    outs=(OutRecord("model.pkl", H4, 1234),),
)

FOLDER_LOCK = StageLock(
    stage="shard",
    code={"self:shard": H1},
    params={},
    deps=(DepRecord("raw", H2),),
    outs=(
        OutRecord(
            "shards",
            H3,
            3,
            (FileEntry("a.txt", H1, 1), FileEntry("sub/b.txt", H2, 2)),
        ),
    ),
)


def lock_text(**fields: Any) -> str:
    """A valid lock's YAML with ``fields`` replaced (a value of None drops the field)."""
    data = FILE_LOCK.to_dict()
    data.update(fields)
    return yaml.safe_dump({k: v for k, v in data.items() if v is not None}, sort_keys=False)


def assert_one_line(exc: pytest.ExceptionInfo[LockFileError], *fragments: str) -> None:
    message = str(exc.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message


# -- the format --------------------------------------------------------------------------------


@pytest.mark.parametrize("lock", [FILE_LOCK, FOLDER_LOCK], ids=["file-out", "folder-out"])
def test_a_dumped_lock_parses_back_to_an_equal_lock(lock: StageLock) -> None:
    assert parse_lock(dump_lock(lock)) == lock


def test_a_lock_holds_only_schema_stage_code_params_deps_and_outs() -> None:
    """No time, host or user: identical runs anywhere write identical bytes."""
    data = yaml.safe_load(dump_lock(FILE_LOCK))
    assert list(data) == ["schema", "stage", "code", "params", "deps", "outs"]
    assert data["schema"] == 1
    assert data["outs"] == [{"path": "model.pkl", "hash": H4, "size": 1234}]


def test_a_folder_output_lists_each_file_with_its_hash_and_size() -> None:
    data = yaml.safe_load(dump_lock(FOLDER_LOCK))
    assert data["outs"][0]["files"] == [
        {"path": "a.txt", "hash": H1, "size": 1},
        {"path": "sub/b.txt", "hash": H2, "size": 2},
    ]


def test_equal_locks_dump_to_identical_bytes_whatever_the_insertion_order() -> None:
    shuffled = StageLock(
        stage="train",
        code={"func:helpers.double": H2, "self:train": H1},
        params={"seed": None, "optimizer": {"betas": [0.9, 0.999], "name": "adam"}, "lr": 0.1},
        deps=(DepRecord("data/raw.csv", H3),),
        outs=(OutRecord("model.pkl", H4, 1234),),
    )
    assert dump_lock(shuffled).encode() == dump_lock(FILE_LOCK).encode()


def test_deps_and_outs_are_written_sorted_by_path() -> None:
    lock = StageLock(
        "s",
        {},
        {},
        deps=(DepRecord("b", H1), DepRecord("a", H2)),
        outs=(OutRecord("z", H3, 1), OutRecord("y", H4, 1)),
    )
    data = yaml.safe_load(dump_lock(lock))
    assert [d["path"] for d in data["deps"]] == ["a", "b"]
    assert [o["path"] for o in data["outs"]] == ["y", "z"]


@pytest.mark.parametrize(
    "digest",
    ["0000000000001234", "1234567890123456", "1000000000000e10"],
    ids=["octal-like", "int-like", "float-like"],
)
def test_a_hash_that_looks_like_a_number_survives_the_round_trip(digest: str) -> None:
    lock = StageLock("s", {"self:s": digest}, {}, (DepRecord("in", digest),), ())
    assert parse_lock(dump_lock(lock)) == lock


@pytest.mark.parametrize("value", ["yes", "no", "null", "0.1", "~", "2024-01-01", ""])
def test_a_string_param_that_yaml_could_read_as_another_type_stays_a_string(value: str) -> None:
    lock = StageLock("s", {}, {"name": value}, (), ())
    assert parse_lock(dump_lock(lock)).params == {"name": value}


def test_a_folder_file_whose_name_is_not_utf8_is_refused_naming_the_output() -> None:
    name = b"caf\xe9.txt".decode("utf-8", "surrogateescape")
    lock = StageLock("s", {}, {}, (), (OutRecord("out", H1, 1, (FileEntry(name, H2, 1),)),))
    with pytest.raises(LockFileError) as exc:
        dump_lock(lock)
    assert_one_line(exc, "stage 's'", "output 'out'", "not valid UTF-8", r"caf\xe9.txt")


# -- bad locks ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (lock_text(schema=2), "unknown schema 2"),
        (lock_text(schema=None), "unknown schema None"),
        ("- just\n- a list\n", "not a mapping"),
        (lock_text(stage=None), "'stage'"),
        (lock_text(deps=[{"path": "in", "hash": "xyz"}]), "dep 'in' has hash 'xyz'"),
        (lock_text(outs=[{"path": "o", "hash": H1.upper(), "size": 1}]), "not 16 hex digits"),
        (lock_text(outs=[{"path": "o", "hash": H1[:15], "size": 1}]), "not 16 hex digits"),
        (lock_text(outs=[{"path": "o", "size": 1}]), "'hash'"),
        (lock_text(outs=[{"path": "o", "hash": H1, "size": "big"}]), "invalid literal"),
        (lock_text(code=["self:train"]), "malformed"),
        (lock_text(params="lr"), "malformed"),
    ],
    ids=[
        "future-schema",
        "no-schema",
        "not-a-mapping",
        "no-stage",
        "dep-hash-not-hex",
        "out-hash-uppercase",
        "out-hash-short",
        "out-hash-missing",
        "size-not-a-number",
        "code-not-a-mapping",
        "params-not-a-mapping",
    ],
)
def test_a_lock_of_the_wrong_shape_is_one_line_of_lock_file_error(text: str, fragment: str) -> None:
    with pytest.raises(LockFileError) as exc:
        parse_lock(text, "stages/train.lock")
    assert_one_line(exc, "stages/train.lock is malformed", fragment, "delete it to re-run")


@pytest.mark.parametrize(
    "path",
    [
        "../outside.txt",
        "/etc/passwd",
        "a/../../b",
        "./a",
        "a//b",
        "",
        ".pivot/cache/files/ab/cdef",
        ".git/hooks/post-checkout",
    ],
)
def test_an_output_path_that_leaves_the_project_or_enters_pivot_or_git_is_refused(
    path: str,
) -> None:
    text = lock_text(outs=[{"path": path, "hash": H1, "size": 1}])
    with pytest.raises(LockFileError) as exc:
        parse_lock(text)
    assert_one_line(exc, "output path")


@pytest.mark.parametrize("path", ["../escape", "/abs", "a/../../b"])
def test_a_folder_file_that_leaves_its_folder_is_refused(path: str) -> None:
    out = {
        "path": "shards",
        "hash": H1,
        "size": 1,
        "files": [{"path": path, "hash": H2, "size": 1}],
    }
    with pytest.raises(LockFileError) as exc:
        parse_lock(lock_text(outs=[out]))
    assert_one_line(exc, "file of folder output 'shards'")


def test_a_folder_file_may_be_named_like_git_inside_its_folder() -> None:
    """Only an output's first path part is reserved: ``shards/.git`` is the output's own file."""
    out = {
        "path": "shards",
        "hash": H1,
        "size": 1,
        "files": [{"path": ".git", "hash": H2, "size": 1}],
    }
    assert parse_lock(lock_text(outs=[out])).outs[0].files == (FileEntry(".git", H2, 1),)


def test_text_that_is_not_yaml_is_one_line_of_lock_file_error() -> None:
    with pytest.raises(LockFileError) as exc:
        parse_lock("schema: 1\nstage: [unclosed\n", "x.lock")
    assert_one_line(exc, "x.lock is not valid YAML", "restore it from git")


@pytest.mark.parametrize("opener", ["[", "{a: ", "- "])
def test_absurdly_deep_nesting_is_a_lock_file_error_not_a_crash(opener: str) -> None:
    text = "params: " + opener * 30_000 + "1\n"  # libyaml would overflow its stack
    with pytest.raises(LockFileError) as exc:
        parse_lock(text, "deep.lock")
    assert_one_line(exc, "deep.lock")


def test_a_lock_nested_900_deep_is_refused_in_one_line_not_a_crash(
    tmp_path: Path, state_db: StateDB
) -> None:
    text = "schema: 1\nstage: s\nparams: " + "{a: " * 900 + "1" + "}" * 900 + "\n"
    store = LockStore(tmp_path / "stages", state_db)
    store.folder.mkdir()
    store.path_for("s").write_text(text)
    with pytest.raises(LockFileError, match="nests too deeply") as exc:
        store.read_strict("s")
    assert "\n" not in str(exc.value)


# -- the lock store ----------------------------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path, state_db: StateDB) -> LockStore:
    """The lock folder as a project has it: parsed locks cached in LMDB."""
    return LockStore(tmp_path / "stages", state_db)


def test_a_written_lock_is_read_back_equal(store: LockStore) -> None:
    store.write(FILE_LOCK)
    assert store.path_for("train") == store.folder / "train.lock"
    assert store.path_for("train").read_text() == dump_lock(FILE_LOCK)
    assert store.read("train") == FILE_LOCK
    assert LockStore(store.folder).read("train") == FILE_LOCK  # no state: parsed from YAML


def test_a_stage_without_a_lock_reads_as_none(store: LockStore) -> None:
    assert store.read("train") is None
    assert store.stages() == []  # not even the folder exists yet


def test_stages_lists_the_locked_stages_sorted(store: LockStore) -> None:
    for lock in (FOLDER_LOCK, FILE_LOCK):
        store.write(lock)
    assert store.stages() == ["shard", "train"]


def test_a_write_leaves_no_temp_file_behind(store: LockStore) -> None:
    store.write(FILE_LOCK)
    store.write(FOLDER_LOCK)
    assert sorted(p.name for p in store.folder.iterdir()) == ["shard.lock", "train.lock"]


def test_a_temp_file_left_by_a_killed_write_is_not_a_lock(store: LockStore) -> None:
    store.write(FILE_LOCK)
    (store.folder / ".train.lock.pivot-tmp-0a1b2c3d.lock").write_text("schema: 1\nstage: [\n")
    assert store.stages() == ["train"]


def test_a_lock_replaced_on_disk_is_read_afresh_not_from_the_state_cache(
    store: LockStore,
) -> None:
    store.write(FILE_LOCK)
    assert store.read("train") == FILE_LOCK
    changed = StageLock("train", {"self:train": H2}, {}, (), ())
    LockStore(store.folder).write(changed)  # e.g. `git checkout` of another version
    assert store.read("train") == changed


def test_a_lock_named_for_another_stage_is_refused(store: LockStore) -> None:
    store.folder.mkdir(parents=True)
    store.path_for("other").write_text(dump_lock(FILE_LOCK))
    with pytest.raises(LockFileError) as exc:
        store.read_strict("other")
    assert_one_line(exc, "other.lock belongs to stage 'train'")


def test_a_lock_that_is_not_utf8_text_is_refused(store: LockStore) -> None:
    store.folder.mkdir(parents=True)
    store.path_for("train").write_bytes(b"schema: 1\nstage: \xff\xfe\n")
    with pytest.raises(LockFileError) as exc:
        store.read_strict("train")
    assert_one_line(exc, "train.lock is not text", "delete it")


def test_a_folder_in_place_of_a_lock_is_refused(store: LockStore) -> None:
    store.path_for("train").mkdir(parents=True)
    with pytest.raises(LockFileError) as exc:
        store.read_strict("train")
    assert_one_line(exc, "cannot read lock file", "train.lock")


def test_a_lock_edited_in_place_is_parsed_again(store: LockStore) -> None:
    """Parsed locks are cached by the file's stat: an edit that changes it is read afresh."""
    store.write(FILE_LOCK)
    text = store.path_for("train").read_text().replace("lr: 0.1", "lr: 0.25")
    store.path_for("train").write_text(text)
    assert store.read("train") == StageLock(
        FILE_LOCK.stage,
        FILE_LOCK.code,
        {**FILE_LOCK.params, "lr": 0.25},
        FILE_LOCK.deps,
        FILE_LOCK.outs,
    )


def test_an_unreadable_lock_reads_as_none_with_a_warning(tmp_path: Path) -> None:
    """A lock is only a record: one that cannot be read makes its stage "never run" (it
    re-runs), with one warning naming the file; a merge conflict says so."""
    told: list[str] = []
    store = LockStore(tmp_path, on_problem=told.append)
    (tmp_path / "train.lock").write_text("<<<<<<< HEAD\nstage: train\n=======\n>>>>>>> b\n")
    (tmp_path / "eval.lock").write_text("schema: 1\nstage: [\n")

    assert store.read("train") is None and store.read("eval") is None
    assert store.read("train") is None  # told once per problem, not once per read

    assert told == [
        f"merge conflict in {tmp_path / 'train.lock'}: the stage will re-run",
        store.problems["eval"],
    ]
    assert store.problems["eval"].startswith(
        f"lock file {tmp_path / 'eval.lock'} is not valid YAML"
    )
    assert store.problems["eval"].endswith("; the stage will re-run")
    with pytest.raises(LockFileError, match="merge conflict"):
        store.read_strict("train")
