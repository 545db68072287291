"""Time `pivot push` / `pivot pull` against `dvc push` / `dvc pull` on a local S3 server.

Two data sets, each pushed to and pulled from its own prefix of one local SeaweedFS server
(``weed mini``, started and stopped by this script):

- **small**: ``--files`` files (default 1,000) of about ``--file-kb`` KiB (default 4, sizes
  vary from half to one and a half times that) of random bytes in one folder;
- **large**: one file of ``--large-mb`` MiB (default 1,024) of random bytes.

Per data set and tool, every timing is the wall clock of the CLI as a subprocess:

1. **push**: to an empty prefix;
2. **push again**: nothing changed (Pivot answers from its index of known hashes; DVC asks
   the remote);
3. **pull**: into a fresh copy of the project holding only what git would (lock files and
   config for Pivot, ``.dvc`` files and config for DVC): no cache, no data.

The data reaches each tool's cache untimed: Pivot's lock file and cache are written the way a
stage run writes them; DVC gets ``dvc add``. Pulled files are checked byte for byte.

Usage::

    uv run python benchmarks/remote_bench.py [--files 1000] [--file-kb 4] [--large-mb 1024]
        [--jobs 16] [--repeat 1] [--no-dvc] [--workdir benchmarks/.work/remote] [--json FILE]

DVC runs from ``benchmarks/.work/dvc-s3-venv``; when that is missing it is created with
``uv venv`` and ``uv pip install "dvc[s3]"`` (``--no-dvc`` skips DVC altogether).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pivot.core.config import set_value  # noqa: E402
from pivot.core.project import Project  # noqa: E402
from pivot.core.store.hashing import FileEntry, hash_file, manifest_hash  # noqa: E402
from pivot.core.store.lock import OutRecord, StageLock  # noqa: E402
from pivot.core.store.paths import init_project  # noqa: E402
from tests.s3_server import S3Server, start_s3_server  # noqa: E402

WORK = REPO / "benchmarks" / ".work"
DVC_VENV = WORK / "dvc-s3-venv"
BUCKET = "bench"


def _dvc_binary(install: bool) -> Path | None:
    dvc = DVC_VENV / "bin" / "dvc"
    if dvc.exists() or not install:
        return dvc if dvc.exists() else None
    print(f"installing dvc[s3] into {DVC_VENV} …", flush=True)
    try:
        subprocess.run(["uv", "venv", "-q", "--python", sys.executable, str(DVC_VENV)], check=True)
        subprocess.run(
            ["uv", "pip", "install", "-q", "--python", str(DVC_VENV / "bin" / "python"), "dvc[s3]"],
            check=True,
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        print(f"could not install dvc[s3] ({exc}); timing Pivot only", flush=True)
        return None
    return dvc


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed in {cwd}:\n{proc.stdout}\n{proc.stderr}")
    return elapsed


def _write_data(kind: str, root: Path, args: argparse.Namespace) -> list[Path]:
    """The data set under ``root/data``; returns the files written."""
    rng = random.Random(1)
    data = root / "data"
    data.mkdir(parents=True)
    if kind == "small":
        folder = data / "small"
        folder.mkdir()
        files = []
        for i in range(args.files):
            size = rng.randint(args.file_kb * 512, args.file_kb * 1536)
            path = folder / f"part-{i:05d}.bin"
            path.write_bytes(os.urandom(size))
            files.append(path)
        return files
    path = data / "large.bin"
    chunk = 64 << 20
    remaining = args.large_mb << 20
    with open(path, "wb") as handle:
        while remaining:
            block = os.urandom(min(chunk, remaining))
            handle.write(block)
            remaining -= len(block)
    return [path]


def _same_tree(source: Path, copy: Path) -> None:
    for path in sorted(source.rglob("*")):
        if path.is_file():
            other = copy / path.relative_to(source)
            if (
                not other.is_file()
                or other.stat().st_size != path.stat().st_size
                or hash_file(other) != hash_file(path)
            ):
                raise RuntimeError(f"pulled copy of {path} differs")


# -- pivot ---------------------------------------------------------------------------------------


def _pivot_project(root: Path, kind: str, server: S3Server, url: str) -> None:
    """A project whose stage `make_<kind>` produced data/<kind>: lock written, outputs cached."""
    init_project(root)
    project = Project(root)
    out_path = "data/small" if kind == "small" else "data/large.bin"
    full = root / out_path
    if full.is_dir():
        entries = []
        for path in sorted(full.rglob("*")):
            digest = hash_file(path)
            project.cache.add_file(path, digest)
            entries.append(
                FileEntry(path.relative_to(full).as_posix(), digest, path.stat().st_size)
            )
        record = OutRecord(
            out_path, manifest_hash(entries), sum(e.size for e in entries), tuple(entries)
        )
    else:
        digest = hash_file(full)
        project.cache.add_file(full, digest)
        record = OutRecord(out_path, digest, full.stat().st_size)
    project.locks.write(
        StageLock(stage=f"make_{kind}", code={}, params={}, deps=(), outs=(record,))
    )
    set_value(root, "remotes.bench", url)
    set_value(root, "remotes.bench.endpoint_url", server.endpoint_url)


def _pivot_clone(source: Path, target: Path) -> None:
    """What `git clone` would give: lock files and the project config."""
    init_project(target)
    for name in ("stages", "config.yaml"):
        src = source / ".pivot" / name
        if src.is_dir():
            shutil.copytree(src, target / ".pivot" / name, dirs_exist_ok=True)
        else:
            shutil.copy2(src, target / ".pivot" / name)


def bench_pivot(
    kind: str, work: Path, server: S3Server, env: dict[str, str], args: argparse.Namespace
) -> dict[str, float]:
    jobs = args.jobs
    root = work / f"pivot-{kind}"
    _write_data(kind, root, args)
    _pivot_project(root, kind, server, f"s3://{BUCKET}/pivot-{kind}-{time.time_ns()}")
    pivot = [sys.executable, "-m", "pivot"]
    times = {
        "push": _run([*pivot, "push", "-j", str(jobs)], root, env),
        "push again": _run([*pivot, "push", "-j", str(jobs)], root, env),
    }
    clone = work / f"pivot-{kind}-clone"
    _pivot_clone(root, clone)
    times["pull"] = _run([*pivot, "pull", "-j", str(jobs)], clone, env)
    _same_tree(root / "data", clone / "data")
    return times


# -- dvc -----------------------------------------------------------------------------------------


def bench_dvc(
    kind: str,
    work: Path,
    server: S3Server,
    env: dict[str, str],
    args: argparse.Namespace,
    dvc: Path,
) -> dict[str, float]:
    jobs = args.jobs
    root = work / f"dvc-{kind}"
    _write_data(kind, root, args)
    target = "data/small" if kind == "small" else "data/large.bin"
    url = f"s3://{BUCKET}/dvc-{kind}-{time.time_ns()}"
    setup = [
        ["init", "--no-scm", "-q"],
        ["config", "core.analytics", "false"],
        ["add", "-q", target],
        ["remote", "add", "-d", "bench", url],
        ["remote", "modify", "bench", "endpointurl", server.endpoint_url],
    ]
    for command in setup:
        _run([str(dvc), *command], root, env)
    times = {
        "push": _run([str(dvc), "push", "-j", str(jobs)], root, env),
        "push again": _run([str(dvc), "push", "-j", str(jobs)], root, env),
    }
    clone = work / f"dvc-{kind}-clone"
    clone.mkdir()
    _run([str(dvc), "init", "--no-scm", "-q"], clone, env)
    shutil.copy2(root / ".dvc" / "config", clone / ".dvc" / "config")
    (clone / "data").mkdir()
    shutil.copy2(root / f"{target}.dvc", clone / f"{target}.dvc")
    times["pull"] = _run([str(dvc), "pull", "-j", str(jobs)], clone, env)
    _same_tree(root / "data", clone / "data")
    return times


# -- main ----------------------------------------------------------------------------------------


def _median(runs: list[dict[str, float]]) -> dict[str, float]:
    return {step: statistics.median(run[step] for run in runs) for step in runs[0]}


def _repeat(
    fn: Callable[[Path], dict[str, float]], work: Path, name: str, repeat: int
) -> dict[str, float]:
    runs = []
    for i in range(repeat):
        folder = work / f"{name}-{i}"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        runs.append(fn(folder))
        shutil.rmtree(folder, ignore_errors=True)
    return _median(runs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=1000, help="files in the small data set")
    parser.add_argument("--file-kb", type=int, default=4, help="average size of a small file, KiB")
    parser.add_argument("--large-mb", type=int, default=1024, help="size of the large file, MiB")
    parser.add_argument("--jobs", type=int, default=16, help="-j for both tools")
    parser.add_argument("--repeat", type=int, default=1, help="runs per measurement (median)")
    parser.add_argument("--no-dvc", action="store_true", help="time Pivot only")
    parser.add_argument("--workdir", type=Path, default=WORK / "remote")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)

    work: Path = args.workdir.resolve()
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    dvc = None if args.no_dvc else _dvc_binary(install=True)
    server = start_s3_server(work / "s3", buckets=[BUCKET])
    env = {
        **os.environ,
        **server.env(),
        "CI": "1",
        "DVC_NO_ANALYTICS": "1",
        "PYTHONPATH": str(REPO),
    }
    env.pop("NO_COLOR", None)
    results: dict[str, dict[str, dict[str, float]]] = {}
    try:
        for kind in ("small", "large"):
            print(f"{kind}: pivot …", flush=True)
            results.setdefault(kind, {})["pivot"] = _repeat(
                functools.partial(bench_pivot, kind, server=server, env=env, args=args),
                work,
                f"pivot-{kind}",
                args.repeat,
            )
            if dvc is not None:
                print(f"{kind}: dvc …", flush=True)
                results[kind]["dvc"] = _repeat(
                    functools.partial(bench_dvc, kind, server=server, env=env, args=args, dvc=dvc),
                    work,
                    f"dvc-{kind}",
                    args.repeat,
                )
    finally:
        server.stop()

    dvc_version = ""
    if dvc is not None:
        dvc_version = subprocess.run(
            [str(dvc), "--version"], capture_output=True, text=True
        ).stdout.strip()
    labels = {
        "small": f"{args.files} files x ~{args.file_kb} KiB",
        "large": f"1 file x {args.large_mb} MiB",
    }
    print()
    print(
        f"machine: {platform.platform()}, {os.cpu_count()} CPUs; -j {args.jobs}; median of {args.repeat}"
    )
    if dvc_version:
        print(f"dvc {dvc_version} (dvc-s3), SeaweedFS weed mini on 127.0.0.1")
    print()
    print("| data | step | Pivot | DVC | DVC / Pivot |")
    print("|---|---|---|---|---|")
    for kind, tools in results.items():
        for step, seconds in tools["pivot"].items():
            other = tools.get("dvc", {}).get(step)
            ratio = f"{other / seconds:.1f}x" if other else "-"
            dvc_text = f"{other:.2f} s" if other else "-"
            print(f"| {labels[kind]} | {step} | {seconds:.2f} s | {dvc_text} | {ratio} |")
    if args.json:
        args.json.write_text(
            json.dumps(
                {"args": {k: str(v) for k, v in vars(args).items()}, "results": results}, indent=2
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
