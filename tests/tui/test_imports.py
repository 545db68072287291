"""No Textual outside the TUI: headless CLI paths never load it.

(That core imports neither Textual nor rich is checked in ``tests/core/test_imports.py``; that
``pivot.render`` never imports Textual, in ``tests/render/test_imports.py``.)
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.helpers import TempProject, pivot_env

PIPELINE = """
from typing import Annotated
import pivot
from pivot import loaders
pipeline = pivot.Pipeline("p")
def one() -> Annotated[dict, pivot.Out("one.json", loaders.JSON())]:
    return {"n": 1}
pipeline.register(one)
"""

#: Runs the CLI in-process with the given argv and environment, then reports whether any
#: Textual module was imported. stdout is a pipe here, so it is not a TTY.
PROBE = """
import json, sys
from pivot.cli import main
try:
    main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
else:
    code = 0
loaded = sorted(m for m in sys.modules if m == "textual" or m.startswith(("textual.", "pivot.tui")))
sys.stderr.write("\\nPROBE " + json.dumps({"code": code, "loaded": loaded}) + "\\n")
"""


def probe(project: TempProject, *args: str, ci: bool = True) -> dict[str, object]:
    env = pivot_env()
    if not ci:
        env.pop("CI", None)
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        cwd=project.root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    line = [x for x in proc.stderr.splitlines() if x.startswith("PROBE ")]
    assert line, proc.stderr
    result: dict[str, object] = json.loads(line[-1][6:])
    return result


@pytest.mark.parametrize(
    ("args", "ci"),
    [
        (("--no-tui", "run"), False),  # explicit flag
        (("run",), True),  # CI set
        (("run",), False),  # stdout is not a TTY
        ((), False),  # bare `pivot` without a TTY prints help
        (("--no-tui", "status"), False),
    ],
)
def test_headless_paths_never_load_textual(
    project: TempProject, args: tuple[str, ...], ci: bool
) -> None:
    project.write("pipeline.py", PIPELINE)
    result = probe(project, *args, ci=ci)
    assert result["code"] in (0, None)
    assert result["loaded"] == []
