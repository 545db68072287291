"""Generate a synthetic layered pipeline as a Pivot project, with its DVC and make twins.

One folder holds all three definitions of the same work, sharing ``helpers/`` and ``data/``:

- ``pipeline.py``: the Pivot pipeline. Every stage is a real, distinct function
  (``def s_003_07(...)``) that reads 1-3 JSON files through ``pivot.Dep(path, pivot.loaders.JSON())``
  and returns one ``pivot.Out(path, pivot.loaders.JSON())``; its body is one call to a shared
  helper.
- ``stages.py`` + ``stage_bodies.py`` + ``dvc.yaml``: the DVC twin. One DVC stage per Pivot
  stage, whose ``cmd`` is ``python stages.py NAME``; ``stages.py`` runs the body of that name from
  ``stage_bodies.py`` (the same bodies, calling the same helpers; a module, so its bytecode is
  cached instead of recompiled by each of the N processes). Each DVC stage depends on
  ``stages.py``, ``stage_bodies.py``, ``helpers/__init__.py``, ``helpers/common.py``, the helper
  module it calls and its input files, so DVC re-runs the same stages Pivot does (at file
  granularity).
- ``Makefile``: the make twin, running ``$(PYTHON) stages.py NAME`` per stage. Each stage's
  target is a stamp file ``.stamps/NAME``; its output ``out/NAME.json`` is a separate target with
  an empty recipe, and ``stages.py`` leaves an output file untouched when its bytes did not
  change, so (GNU make re-reads the output's mtime) a stage whose output is unchanged does not
  re-run its downstream: make does the same amount of work as Pivot and DVC.

Shape (defaults: N=176, width 16, so 11 layers of 16)::

    layer 0    s_000_00 .. s_000_15   read data/input.json (s_000_00 also data/side.json,
                                      s_000_01 also data/large.bin with --large-mb)
    layer L>0  s_LLL_CC               read 1-3 outputs of layer L-1 *in the same lane*

Columns are grouped into *lanes* of 3 (the last lane takes the remainder: 3+3+3+3+4 at width
16). In layer L>0 the stage of column c reads, from layer L-1, column c, the lane's first column
and the next column of the lane (cyclic), de-duplicated: 2-3 deps.

The two edits the benchmark makes, and how many stages they re-run (printed by
``python benchmarks/synth.py --describe``):

- **helper edit**: ``helpers/blend.py`` is called by the stages whose index
  ``layer * width + column`` is a multiple of 9 (the other stages call one of 7 other helpers,
  round-robin): ceil(176 / 9) = **20 stages** at N=176. The edit changes the constant of an
  unused local (``edit_marker = K``) in ``blend``: real code change, same outputs, so exactly the
  20 callers re-run and nothing downstream.
- **input edit**: ``data/side.json`` is read only by ``s_000_00``. Changing its value changes
  ``s_000_00``'s output, hence every stage of lane 0 in layer 1 (they all read the lane's first
  column), and then the whole lane below: 1 + 3 x 10 = **31 stages** at N=176.

Usage::

    uv run python benchmarks/synth.py DIR [--stages 176] [--width 16] [--large-mb 0]
        [--init pivot|dvc|none] [--no-git] [--out-prefix P]
    uv run python benchmarks/synth.py --describe [--stages 176]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

#: The helper the benchmark edits, and the stride of the stages that call it.
EDITED_HELPER = "blend"
EDITED_STRIDE = 9
#: The other helpers, assigned round-robin to the remaining stages.
OTHER_HELPERS = ("scale", "fold", "spread", "rotate", "weigh", "shift", "braid")
HELPERS = (EDITED_HELPER, *OTHER_HELPERS)

INPUT_FILE = "data/input.json"
SIDE_FILE = "data/side.json"
LARGE_FILE = "data/large.bin"
LANE_WIDTH = 3

#: The line of every helper that the helper edit changes (same outputs, different code).
EDIT_MARKER = "    edit_marker = "

GIT_ENV = {
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.invalid",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.invalid",
}


@dataclasses.dataclass(frozen=True)
class Stage:
    name: str
    layer: int
    column: int
    index: int
    helper: str
    deps: tuple[str, ...]
    out_prefix: str = ""

    @property
    def out(self) -> str:
        return out_path(self.name, self.out_prefix)


@dataclasses.dataclass(frozen=True)
class Layout:
    """The stages of a synthetic pipeline and the facts the benchmark checks against."""

    stages: tuple[Stage, ...]
    width: int
    large: bool

    @property
    def layers(self) -> int:
        return max(s.layer for s in self.stages) + 1

    def helper_users(self, helper: str = EDITED_HELPER) -> list[str]:
        return [s.name for s in self.stages if s.helper == helper]

    def affected_by(self, path: str) -> list[str]:
        """Stages that re-run when ``path`` changes (outputs change all the way down)."""
        changed = {path}
        hit: list[str] = []
        for stage in self.stages:  # stages are in topological (layer) order
            if changed.intersection(stage.deps):
                hit.append(stage.name)
                changed.add(stage.out)
        return hit


def stage_name(layer: int, column: int) -> str:
    return f"s_{layer:03d}_{column:02d}"


def out_path(name: str, prefix: str = "") -> str:
    return f"out/{prefix}{name}.json"


def lanes(width: int) -> list[list[int]]:
    """Columns grouped in lanes of 3; the last lane takes the remainder."""
    count = max(1, width // LANE_WIDTH)
    groups = [list(range(i * LANE_WIDTH, (i + 1) * LANE_WIDTH)) for i in range(count)]
    groups[-1].extend(range(count * LANE_WIDTH, width))
    groups[-1] = [c for c in groups[-1] if c < width]
    return [g for g in groups if g]


def helper_for(index: int) -> str:
    if index % EDITED_STRIDE == 0:
        return EDITED_HELPER
    return OTHER_HELPERS[index % len(OTHER_HELPERS)]


def plan(
    n_stages: int = 176, width: int = 16, *, large: bool = False, out_prefix: str = ""
) -> Layout:
    """The stages; ``out_prefix`` goes in front of every output's file name (see --out-prefix)."""
    if n_stages < 1 or width < 1:
        raise ValueError("need at least one stage and a width of at least 1")
    lane_of = {c: lane for lane in lanes(width) for c in lane}
    stages: list[Stage] = []
    for index in range(n_stages):
        layer, column = divmod(index, width)
        name = stage_name(layer, column)
        if layer == 0:
            deps = [INPUT_FILE]
            if column == 0:
                deps.append(SIDE_FILE)
            if column == 1 and large:
                deps.append(LARGE_FILE)
        else:
            lane = lane_of[column]
            nxt = lane[(lane.index(column) + 1) % len(lane)]
            columns = sorted({column, lane[0], nxt})
            deps = [out_path(stage_name(layer - 1, c), out_prefix) for c in columns]
        stages.append(Stage(name, layer, column, index, helper_for(index), tuple(deps), out_prefix))
    return Layout(tuple(stages), width, large)


# -- file contents ---------------------------------------------------------------------------

_COMMON = '''\
"""Shared by every helper (generated by benchmarks/synth.py)."""

import os
from typing import Any

MOD = 1_000_003


def seed(name: str) -> int:
    """A stable per-stage number (no hash randomisation)."""
    acc = 7
    for char in name:
        acc = (acc * 131 + ord(char)) % MOD
    return acc


def value_of(doc: Any, name: str) -> int:
    """The number an input contributes: a stage output, the main input, or a file's size."""
    if isinstance(doc, os.PathLike):
        return os.path.getsize(doc) % MOD
    if "value" in doc:
        return int(doc["value"])
    return int(doc["seeds"][name])


def result(name: str, value: int, values: list[int]) -> dict[str, Any]:
    return {"stage": name, "value": value % MOD, "inputs": values}
'''

#: One arithmetic step per helper, so each helper is distinct code.
_STEPS = {
    "blend": "acc = (acc * 31 + v * (i + 3)) % MOD",
    "scale": "acc = (acc + v * 17 + i) % MOD",
    "fold": "acc = (acc * 7 + v * v) % MOD",
    "spread": "acc = (acc * 13 + v * 5 + 11) % MOD",
    "rotate": "acc = ((acc << 3) ^ v) % MOD",
    "weigh": "acc = (acc * (i + 2) + v * 3) % MOD",
    "shift": "acc = (acc * 19 + v + i * 101) % MOD",
    "braid": "acc = (acc * 23 + (v ^ (acc & 1023))) % MOD",
}


def helper_source(helper: str) -> str:
    return f'''\
"""Helper `{helper}` (generated by benchmarks/synth.py)."""

from typing import Any

from helpers.common import MOD, result, seed, value_of


def {helper}(name: str, inputs: list[Any]) -> dict[str, Any]:
    """Combine the stage's inputs into one small JSON document."""
{EDIT_MARKER}0  # the benchmark's helper edit changes this number: new code, same outputs
    values = [value_of(doc, name) for doc in inputs]
    acc = seed(name)
    for i, v in enumerate(values):
        {_STEPS[helper]}
    return result(name, acc, values)
'''


def _loader_for(path: str) -> str:
    return "pivot.loaders.PathOnly()" if path == LARGE_FILE else "pivot.loaders.JSON()"


def _type_for(path: str) -> str:
    return "Path" if path == LARGE_FILE else "dict[str, Any]"


def pipeline_source(layout: Layout) -> str:
    used = sorted({s.helper for s in layout.stages})
    lines = [
        f'"""Synthetic benchmark pipeline: {len(layout.stages)} stages in {layout.layers} layers '
        f'(generated by benchmarks/synth.py)."""',
        "",
        "from pathlib import Path",
        "from typing import Annotated, Any",
        "",
        "import pivot",
        "",
        *(f"from helpers.{h} import {h}" for h in used),
        "",
        'pipeline = pivot.Pipeline("synth")',
    ]
    for stage in layout.stages:
        args = [
            f"    d{i}: Annotated[{_type_for(p)}, pivot.Dep({p!r}, {_loader_for(p)})],"
            for i, p in enumerate(stage.deps)
        ]
        call_args = ", ".join(f"d{i}" for i in range(len(stage.deps)))
        lines += [
            "",
            "",
            f"def {stage.name}(",
            *args,
            f") -> Annotated[dict[str, Any], pivot.Out({stage.out!r}, pivot.loaders.JSON())]:",
            f"    return {stage.helper}({stage.name!r}, [{call_args}])",
            "",
            "",
            f"pipeline.register({stage.name})",
        ]
    return "\n".join(lines) + "\n"


_STAGES_MAIN = '''\
"""DVC/make twin of pipeline.py: `python stages.py NAME` runs one stage body.

The bodies live in stage_bodies.py, imported (so its bytecode is cached) rather than run as a
script (which would be compiled again by every one of the N processes). Generated by
benchmarks/synth.py.
"""

import sys

from stage_bodies import STAGES

STAGES[sys.argv[1]]()
print(f"ran {sys.argv[1]}")
'''


def stage_bodies_source(layout: Layout) -> str:
    used = sorted({s.helper for s in layout.stages})
    lines = [
        '"""The stage bodies of the DVC/make twin (generated by benchmarks/synth.py)."""',
        "",
        "import json",
        "from collections.abc import Callable",
        "from pathlib import Path",
        "from typing import Any",
        "",
        *(f"from helpers.{h} import {h}" for h in used),
        "",
        "",
        "def _load(path: str) -> Any:",
        "    return json.loads(Path(path).read_text())",
        "",
        "",
        "def _save(path: str, value: Any) -> None:",
        "    # Same bytes as pivot.loaders.JSON(); an unchanged file keeps its mtime (for make).",
        '    text = json.dumps(value, indent=2) + "\\n"',
        "    target = Path(path)",
        "    if target.exists() and target.read_text() == text:",
        "        return",
        "    target.parent.mkdir(parents=True, exist_ok=True)",
        '    tmp = target.with_name(f".{target.name}.tmp")',
        "    tmp.write_text(text)",
        "    tmp.replace(target)",
    ]
    for stage in layout.stages:
        loads = ", ".join(
            f"Path({p!r})" if p == LARGE_FILE else f"_load({p!r})" for p in stage.deps
        )
        lines += [
            "",
            "",
            f"def {stage.name}() -> None:",
            f"    _save({stage.out!r}, {stage.helper}({stage.name!r}, [{loads}]))",
        ]
    lines += [
        "",
        "",
        "STAGES: dict[str, Callable[[], None]] = {",
        *(f"    {s.name!r}: {s.name}," for s in layout.stages),
        "}",
    ]
    return "\n".join(lines) + "\n"


def _code_deps(stage: Stage) -> list[str]:
    return [
        "stages.py",
        "stage_bodies.py",
        "helpers/__init__.py",
        "helpers/common.py",
        f"helpers/{stage.helper}.py",
    ]


def dvc_yaml(layout: Layout) -> str:
    # Written by hand (no yaml dependency); every value is a plain, safe scalar.
    lines = ["stages:"]
    for stage in layout.stages:
        lines += [
            f"  {stage.name}:",
            f"    cmd: python stages.py {stage.name}",
            "    deps:",
            *(f"    - {p}" for p in (*_code_deps(stage), *stage.deps)),
            "    outs:",
            f"    - {stage.out}",
        ]
    return "\n".join(lines) + "\n"


def makefile(layout: Layout) -> str:
    stamps = [f".stamps/{s.name}" for s in layout.stages]
    lines = [
        "# make twin of pipeline.py (generated by benchmarks/synth.py). Run: make -j2",
        "# A stage's target is its stamp; its output has an empty recipe, and stages.py does not",
        "# rewrite an unchanged output, so an unchanged output does not re-run its downstream.",
        "PYTHON ?= python3",
        "",
        ".PHONY: all",
        "all: " + " ".join(stamps),
        "",
        ".stamps:",
        "\tmkdir -p .stamps",
    ]
    for stage in layout.stages:
        prereqs = " ".join((*stage.deps, *_code_deps(stage)))
        lines += [
            "",
            f".stamps/{stage.name}: {prereqs} | .stamps",
            f"\t@$(PYTHON) stages.py {stage.name} && touch $@",
            f"{stage.out}: .stamps/{stage.name} ;",
        ]
    return "\n".join(lines) + "\n"


def input_doc(layout: Layout) -> dict[str, object]:
    first = [s.name for s in layout.stages if s.layer == 0]
    return {"seeds": {name: (i * 7919 + 13) % 1_000_003 for i, name in enumerate(first)}}


_GITIGNORE = """\
/data/large.bin
/.stamps/
__pycache__/
"""


def write_project(root: Path, layout: Layout, *, large_mb: int = 0) -> None:
    """Write every file of the project (no tool initialisation, no git)."""
    root.mkdir(parents=True, exist_ok=True)
    helpers = root / "helpers"
    helpers.mkdir(exist_ok=True)
    (helpers / "__init__.py").write_text('"""Shared stage helpers (generated)."""\n')
    (helpers / "common.py").write_text(_COMMON)
    for helper in HELPERS:
        (helpers / f"{helper}.py").write_text(helper_source(helper))
    data = root / "data"
    data.mkdir(exist_ok=True)
    (data / "input.json").write_text(json.dumps(input_doc(layout), indent=2) + "\n")
    (data / "side.json").write_text(json.dumps({"value": 1}) + "\n")
    if layout.large:
        write_large(root / LARGE_FILE, large_mb)
    (root / "pipeline.py").write_text(pipeline_source(layout))
    (root / "stages.py").write_text(_STAGES_MAIN)
    (root / "stage_bodies.py").write_text(stage_bodies_source(layout))
    (root / "dvc.yaml").write_text(dvc_yaml(layout))
    (root / "Makefile").write_text(makefile(layout))
    (root / ".gitignore").write_text(_GITIGNORE)


def write_large(path: Path, megabytes: int) -> None:
    """``megabytes`` MiB of incompressible, deterministic bytes."""
    import hashlib

    block = b"".join(
        hashlib.sha256(i.to_bytes(4, "little")).digest() for i in range(32768)
    )  # 1 MiB
    with path.open("wb") as handle:
        for i in range(megabytes):
            handle.write(block[i % 997 :] + block[: i % 997])


def _run(cmd: Sequence[str], cwd: Path, env: dict[str, str] | None = None) -> None:
    merged = {**os.environ, **GIT_ENV, **(env or {})}
    proc = subprocess.run(list(cmd), cwd=cwd, env=merged, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd)} failed in {cwd} (exit {proc.returncode}):\n{proc.stdout}{proc.stderr}"
        )


def git_commit(root: Path, message: str) -> None:
    if not (root / ".git").exists():
        _run(["git", "init", "-q"], root)
    _run(["git", "add", "-A"], root)
    _run(["git", "commit", "-q", "--no-verify", "-m", message], root)


def pivot_command() -> list[str]:
    """The ``pivot`` console script next to this interpreter, else ``python -m pivot``."""
    script = Path(sys.executable).parent / "pivot"
    return [str(script)] if script.exists() else [sys.executable, "-m", "pivot"]


def generate(
    root: Path,
    n_stages: int = 176,
    *,
    width: int = 16,
    large_mb: int = 0,
    init: Iterable[str] = ("pivot",),
    git: bool = True,
    pivot: Sequence[str] | None = None,
    dvc: Sequence[str] | None = None,
    clean: bool = True,
    out_prefix: str = "",
) -> Layout:
    """Write a fresh project into ``root``; ``init`` names the tools to initialise there."""
    if clean and root.exists():
        shutil.rmtree(root)
    layout = plan(n_stages, width, large=large_mb > 0, out_prefix=out_prefix)
    write_project(root, layout, large_mb=large_mb)
    tools = set(init)
    if git:
        _run(["git", "init", "-q"], root)
    if "pivot" in tools:
        _run([*(pivot or pivot_command()), "init"], root)
    if "dvc" in tools:
        if dvc is None:
            raise ValueError("initialising DVC needs the dvc command")
        _run([*dvc, "init", "-q", *([] if git else ["--no-scm"])], root, {"DVC_NO_ANALYTICS": "1"})
        _run([*dvc, "config", "core.analytics", "false"], root, {"DVC_NO_ANALYTICS": "1"})
    if git:
        git_commit(root, f"synthetic pipeline, {n_stages} stages")
    return layout


def describe(layout: Layout) -> str:
    users = layout.helper_users()
    cone = layout.affected_by(SIDE_FILE)
    per_helper = ", ".join(f"{h}: {len(layout.helper_users(h))}" for h in HELPERS)
    return (
        f"{len(layout.stages)} stages, {layout.layers} layers of {layout.width}, lanes "
        f"{[len(lane) for lane in lanes(layout.width)]}\n"
        f"stages per helper: {per_helper}\n"
        f"helper edit (helpers/{EDITED_HELPER}.py) re-runs {len(users)} stages\n"
        f"input edit ({SIDE_FILE}) re-runs {len(cone)} stages\n"
        f"input edit ({INPUT_FILE}) re-runs {len(layout.affected_by(INPUT_FILE))} stages"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("directory", type=Path, nargs="?", help="Where to write the project.")
    parser.add_argument("--stages", type=int, default=176, help="Number of stages (default 176).")
    parser.add_argument("--width", type=int, default=16, help="Stages per layer (default 16).")
    parser.add_argument(
        "--large-mb", type=int, default=0, help="Add a large input of this many MiB."
    )
    parser.add_argument(
        "--init",
        action="append",
        choices=["pivot", "dvc", "none"],
        help="Tools to initialise (repeatable; default pivot). DVC needs `dvc` on PATH.",
    )
    parser.add_argument("--no-git", action="store_true", help="Do not git init and commit.")
    parser.add_argument(
        "--out-prefix",
        default="",
        help="Prefix of output file names (out/PREFIXs_000_00.json); default none.",
    )
    parser.add_argument(
        "--describe", action="store_true", help="Print the shape and the edit counts."
    )
    args = parser.parse_args(argv)
    layout = plan(args.stages, args.width, large=args.large_mb > 0, out_prefix=args.out_prefix)
    if args.describe:
        print(describe(layout))
        if args.directory is None:
            return 0
    if args.directory is None:
        parser.error("give a DIRECTORY (or --describe)")
    tools = [t for t in (args.init or ["pivot"]) if t != "none"]
    dvc = [shutil.which("dvc") or "dvc"] if "dvc" in tools else None
    generate(
        args.directory.resolve(),
        args.stages,
        width=args.width,
        large_mb=args.large_mb,
        init=tools,
        git=not args.no_git,
        dvc=dvc,
        out_prefix=args.out_prefix,
    )
    print(f"wrote {args.stages} stages to {args.directory}")
    return 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["Layout", "Stage", "describe", "generate", "plan"]
