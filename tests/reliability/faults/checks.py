"""What a kill may not leave behind, checked against the on-disk format with code of our own."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import xxhash
import yaml

from tests.reliability.faults.project import (
    TMP_MARK,
    UNCACHED,
    file_digest,
    last_line,
    path_digest,
    pivot,
)

# -- invariants ----------------------------------------------------------------------------------


def blob_path(root: Path, digest: str) -> Path:
    return root / ".pivot" / "cache" / "files" / digest[:2] / digest[2:]


def read_locks(root: Path) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Every lock file, parsed as plain YAML; problems for any that does not parse."""
    locks: dict[str, dict[str, Any]] = {}
    problems: list[str] = []
    folder = root / ".pivot" / "stages"
    for path in sorted(folder.glob("*.lock")) if folder.is_dir() else []:
        if TMP_MARK in path.name:  # a lock being written when the kill landed
            continue
        try:
            data = yaml.safe_load(path.read_bytes())
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            problems.append(f"lock {path.name} is not valid YAML: {str(exc).splitlines()[0]}")
            continue
        if not isinstance(data, dict) or data.get("stage") != path.stem:
            problems.append(f"lock {path.name} is not a lock of stage {path.stem}: {data!r:.80}")
            continue
        if not isinstance(data.get("outs"), list) or not all(
            isinstance(out, dict) and "path" in out and "hash" in out for out in data["outs"]
        ):
            problems.append(f"lock {path.name} has malformed outs")
            continue
        locks[path.stem] = data
    listed = folder.iterdir() if folder.is_dir() else iter(())
    stray = [p.name for p in listed if TMP_MARK not in p.name and p.suffix != ".lock"]
    if stray:
        problems.append(f"unexpected files among the locks: {stray}")
    return locks, problems


def lock_blobs(out: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, hash) of each blob one ``outs`` entry needs."""
    files = out.get("files")
    if files is None:
        return [(str(out["path"]), str(out["hash"]))]
    return [(f"{out['path']}/{entry['path']}", str(entry["hash"])) for entry in files]


def check_lock_blobs(
    root: Path, locks: dict[str, dict[str, Any]], *, missing_ok: bool = False
) -> list[str]:
    """Every blob a lock references exists (unless ``missing_ok``: a clone still fetching)
    and its bytes hash to its name."""
    problems = []
    for stage, lock in locks.items():
        for out in lock["outs"]:
            if out["path"] in UNCACHED:
                continue
            if out.get("files") is not None:
                rows = [[e["path"], e["hash"], e["size"]] for e in out["files"]]
                canonical = json.dumps(sorted(rows), separators=(",", ":"))
                if xxhash.xxh64(canonical.encode()).hexdigest() != out["hash"]:
                    problems.append(f"lock {stage}: manifest of {out['path']} does not match")
            for label, digest in lock_blobs(out):
                blob = blob_path(root, digest)
                if not blob.is_file():
                    if not missing_ok:
                        problems.append(
                            f"lock {stage}: blob {digest} of {label} is not in the cache"
                        )
                elif file_digest(blob) != digest:
                    problems.append(f"lock {stage}: blob {digest} of {label} has other bytes")
    return problems


def check_blob_folder(files: Path, label: str) -> tuple[list[str], list[str]]:
    """Every blob under ``files/ab/cdef…`` hashes to its name; returns (problems, temp files
    left behind, relative to ``files``)."""
    problems = []
    temps = []
    for blob in sorted(files.rglob("*")) if files.is_dir() else []:
        if blob.is_dir():
            if len(blob.name) != 2:
                problems.append(f"{label}: unexpected folder {blob.relative_to(files)}")
            continue
        if TMP_MARK in blob.name:
            temps.append(blob.relative_to(files).as_posix())
            continue
        name = blob.parent.name + blob.name
        if len(name) != 16:
            problems.append(f"{label}: unexpected file {blob.relative_to(files)}")
        elif file_digest(blob) != name:
            problems.append(f"{label}: blob {name} holds bytes hashing to {file_digest(blob)}")
    return problems, temps


def check_cache(root: Path) -> tuple[list[str], int]:
    """Every blob's bytes match its name; returns (problems, temp files left behind)."""
    problems, temps = check_blob_folder(root / ".pivot" / "cache" / "files", "cache")
    return problems, len(temps)


def check_remote(folder: Path) -> tuple[list[str], list[str]]:
    """A folder remote: every blob hashes to its name and every run entry is whole JSON;
    returns (problems, temp files left behind)."""
    problems, temps = check_blob_folder(folder / "files", "remote")
    runs = folder / "runs"
    for entry in sorted(runs.rglob("*")) if runs.is_dir() else []:
        if entry.is_dir():
            continue
        if TMP_MARK in entry.name:
            temps.append(f"runs/{entry.relative_to(runs).as_posix()}")
            continue
        try:
            data = json.loads(entry.read_bytes())
            assert isinstance(data["outs"], list) and isinstance(data["stage"], str)
        except (ValueError, KeyError, TypeError, AssertionError):
            problems.append(f"remote: run entry {entry.relative_to(runs)} is not whole JSON")
    return problems, temps


def missing_from(files: Path, locks: dict[str, dict[str, Any]], label: str) -> list[str]:
    """Every cached blob the locks reference is under ``files`` with the right bytes."""
    problems = []
    for stage, lock in locks.items():
        for out in lock["outs"]:
            if out["path"] in UNCACHED:
                continue
            for what, digest in lock_blobs(out):
                blob = files / digest[:2] / digest[2:]
                if not blob.is_file():
                    problems.append(f"{label}: blob {digest} of {what} ({stage}) is missing")
                elif file_digest(blob) != digest:
                    problems.append(f"{label}: blob {digest} of {what} ({stage}) has other bytes")
    return problems


def download_temps(root: Path) -> int:
    """Downloads a killed fetch or pull left in ``.pivot/tmp/remote/``."""
    folder = root / ".pivot" / "tmp" / "remote"
    return len(list(folder.iterdir())) if folder.is_dir() else 0


def lock_temps(root: Path) -> int:
    stages = root / ".pivot" / "stages"
    return len(list(stages.glob(f"*{TMP_MARK}*"))) if stages.is_dir() else 0


def check_status(root: Path, locks: dict[str, dict[str, Any]]) -> list[str]:
    """Every output of a stage `pivot status` calls up to date hashes to its lock (or, when it
    would be restored, is missing with all its blobs in the cache)."""
    proc = pivot(root, "status", "--json")
    if proc.returncode != 0:
        return [f"status exited {proc.returncode}: {last_line(proc)}"]
    problems = []
    for row in json.loads(proc.stdout)["stages"]:
        if row["status"] != "cached":
            continue
        stage = row["stage"]
        lock = locks.get(stage)
        if lock is None:
            problems.append(f"status: {stage} is cached but has no readable lock")
            continue
        for out in lock["outs"]:
            current = path_digest(root / out["path"])
            if current == out["hash"]:
                continue
            restorable = current is None and row["action"] == "restore"
            if (
                restorable
                and out["path"] not in UNCACHED
                and all(blob_path(root, h).is_file() for _, h in lock_blobs(out))
            ):
                continue
            problems.append(
                f"status: {stage} is cached ({row['action']}) but {out['path']} hashes to "
                f"{current}, its lock says {out['hash']}"
            )
    return problems


#: `pivot verify` problems a kill may legitimately leave: a stage not (re)recorded yet.
_EXPECTED_VERIFY = (
    "no lock file",
    "not recorded in the lock",
    "missing from the workspace",
    "differs from its lock",
)


def check_verify(root: Path, also_expected: tuple[str, ...] = ()) -> list[str]:
    """`pivot verify --json` reports only what a kill may leave (plus ``also_expected``)."""
    expected = _EXPECTED_VERIFY + also_expected
    proc = pivot(root, "verify", "--json")
    if proc.returncode not in (0, 1):
        return [f"verify exited {proc.returncode}: {last_line(proc)}"]
    try:
        found = json.loads(proc.stdout)["problems"]
    except (json.JSONDecodeError, KeyError):
        return [f"verify printed no JSON: {last_line(proc)}"]
    return [
        f"verify: {p['stage']}: {p['path']}: {p['problem']}"
        for p in found
        if not any(text in p["problem"] for text in expected)
    ]


def workspace_temps(root: Path) -> list[str]:
    """Temp files outside .pivot/ (harmless litter, reported but not a failure)."""
    found = []
    for dirpath, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d not in (".pivot", ".git")]
        found += [str((Path(dirpath) / n).relative_to(root)) for n in names + dirs if TMP_MARK in n]
    return found
