"""A 2 GiB output under each ``cache.link`` mode: what it costs beyond the stage's own write.

For each mode a fresh project runs one stage that writes ``--size`` MiB to a file in 1 MiB
chunks (a ``PathOnly`` output, timing its own write); Pivot then hashes the file and puts it
in the cache. Reported per mode: the stage's own write time, the stage's duration as Pivot
measured it (write + hash + cache), their ratio, and how much the disk filled (statvfs before
and after: a second copy shows as twice the size).

Usage::

    uv run python benchmarks/large_output.py [--size 2048] [--modes copy hardlink reflink]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

PIPELINE = """
import pathlib, time
from typing import Annotated
import pivot
from pivot import loaders

SIZE_MIB = {size}

def big() -> Annotated[pathlib.Path, pivot.Out("big.bin", loaders.PathOnly())]:
    chunk = bytes(range(256)) * 4096
    started = time.perf_counter()
    with open("big.bin", "wb") as handle:
        for i in range(SIZE_MIB):
            handle.write(chunk[i % 256 :] + chunk[: i % 256])
    pathlib.Path("write_seconds.txt").write_text(str(time.perf_counter() - started))
    return pathlib.Path("big.bin")

pipeline = pivot.Pipeline("big")
pipeline.register(big)
"""


def _free_bytes(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def _pivot(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pivot", *args],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    )


def measure(base: Path, mode: str, size: int) -> dict[str, float]:
    root = base / mode
    root.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    _pivot(root, "init")
    _pivot(root, "config", "set", "cache.link", mode)
    (root / "pipeline.py").write_text(PIPELINE.format(size=size))
    subprocess.run(["sync"], check=True)
    free_before = _free_bytes(root)
    events = [
        json.loads(line)
        for line in _pivot(root, "--no-tui", "run", "--json").stdout.splitlines()
        if line.strip()
    ]
    subprocess.run(["sync"], check=True)
    used = free_before - _free_bytes(root)
    finished = next(e for e in events if e["event"] == "stage_finished")
    write = float((root / "write_seconds.txt").read_text())
    return {
        "write_s": write,
        "stage_s": finished["duration"],
        "ratio": finished["duration"] / write,
        "disk_mib": used / (1 << 20),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2048, help="output size in MiB")
    parser.add_argument("--modes", nargs="+", default=["copy", "hardlink", "reflink"])
    parser.add_argument("--dir", type=Path, default=None, help="where to make the projects")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        print(f"{args.size} MiB output; filesystem of {tmp}")
        print(f"{'mode':<9} {'own write':>10} {'stage':>8} {'ratio':>6} {'disk used':>10}")
        for mode in args.modes:
            row = measure(Path(tmp), mode, args.size)
            print(
                f"{mode:<9} {row['write_s']:>9.2f}s {row['stage_s']:>7.2f}s "
                f"{row['ratio']:>5.2f}x {row['disk_mib']:>7.0f} MiB"
            )
            subprocess.run(["rm", "-rf", str(Path(tmp) / mode)], check=True)


if __name__ == "__main__":
    main()
