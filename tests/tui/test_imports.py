"""No Textual outside the TUI: core never imports it, and headless CLI paths never load it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.helpers import REPO, TempProject, pivot_env

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


def test_core_never_imports_textual() -> None:
    code = (
        "import sys, pivot.core.run.engine, pivot.core.run.watch, pivot.core.run.explain, pivot.core.reports.datadiff;"
        "print([m for m in sys.modules if m.startswith(('textual', 'pivot.tui'))])"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=pivot_env(), capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_no_textual_import_in_core_sources() -> None:
    offenders = [
        str(path.relative_to(REPO))
        for path in (REPO / "pivot" / "core").rglob("*.py")
        if "textual" in path.read_text(encoding="utf-8")
        and any(
            line.lstrip().startswith(("import textual", "from textual"))
            for line in path.read_text(encoding="utf-8").splitlines()
        )
    ]
    assert offenders == []


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
