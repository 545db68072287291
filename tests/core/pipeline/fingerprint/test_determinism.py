"""Same code, same hashes: across interpreters, hash seeds and runs in one process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.core.pipeline.fingerprint.conftest import FpProject

REPO = Path(__file__).resolve().parents[4]

PROJECT = {
    "helpers.py": """
        import dataclasses
        import enum
        import functools

        TAGS = {"alpha", "beta", "gamma", "delta", "epsilon"}
        FROZEN = frozenset({"x", "y", "z", ("t", 1)})
        TABLE = {"b": 2, "a": 1, ("k", 3): {"s", "t", "u"}}


        class Color(enum.Enum):
            RED = "r"
            BLUE = "b"


        @dataclasses.dataclass(frozen=True)
        class Config:
            names: frozenset = frozenset({"p", "q", "r"})
            color: Color = Color.RED


        CONFIG = Config()


        def add(a, b):
            return a + b


        def make(k):
            def inner(x):
                return add(x, k)
            return inner


        OPS = {"add": add, "inc": make(1), "dbl": lambda x: x * 2, "half": functools.partial(add, b=0.5)}
    """,
    "pipeline.py": """
        from helpers import CONFIG, FROZEN, OPS, TABLE, TAGS, Config


        def train(x: Config):
            return OPS["inc"](x), TAGS, FROZEN, TABLE, CONFIG
    """,
}

SCRIPT = """
import json, sys
sys.path.insert(0, sys.argv[1])
import pipeline
from pivot.core.pipeline.fingerprint import fingerprint_stage
fp = fingerprint_stage(pipeline.train, project_root=sys.argv[1])
print(json.dumps(fp.manifest))
"""


def _manifest_in_fresh_interpreter(root: Path, seed: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONHASHSEED"] = seed
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["PYTHONPATH"] = str(REPO)
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(root)],
        capture_output=True,
        text=True,
        env=env,
        cwd=root,
        timeout=120,
        check=True,
    )
    manifest: dict[str, str] = json.loads(result.stdout)
    return manifest


def test_two_interpreters_with_different_hash_seeds_agree(fp_project: FpProject) -> None:
    fp_project.write_all(PROJECT)
    first = _manifest_in_fresh_interpreter(fp_project.root, "1")
    second = _manifest_in_fresh_interpreter(fp_project.root, "4242")
    assert first == second
    assert {"const:helpers.TAGS", "const:helpers.TABLE", "func:helpers.OPS['dbl']"} <= set(first)
    in_process = fp_project.fingerprint()
    assert in_process.manifest == first
    assert in_process.warnings == ()


def test_repeated_fingerprints_in_one_process_agree(fp_project: FpProject) -> None:
    fp_project.write_all(PROJECT)
    module = fp_project.load()
    from pivot.core.pipeline.fingerprint import fingerprint_stage

    runs = [fingerprint_stage(module.train, project_root=fp_project.root) for _ in range(3)]
    assert runs[0] == runs[1] == runs[2]
