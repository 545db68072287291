"""pivot.render is shared by the CLI and the TUI: it never imports Textual, and it imports rich
only inside the functions that draw with it, so that ``--json``, ``--md`` and ``pivot --help``
never pay for rich."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.core.test_imports import ui_imports
from tests.helpers import REPO, pivot_env

RENDER = REPO / "pivot" / "render"


def render_modules() -> list[str]:
    return sorted(
        ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
        for path in RENDER.rglob("*.py")
    )


def test_importing_render_loads_neither_rich_nor_textual() -> None:
    code = (
        "import importlib, json, sys\n"
        "for name in json.loads(sys.argv[1]):\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('rich', 'textual'))))\n"
    )
    modules = render_modules()
    assert "pivot.render.datadiff" in modules and "pivot.render.progress" in modules
    proc = subprocess.run(
        [sys.executable, "-c", code, json.dumps(modules)],
        cwd=REPO,
        env=pivot_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == []


def test_no_render_source_imports_textual() -> None:
    offenders = [
        hit
        for path in sorted(RENDER.rglob("*.py"))
        for hit in ui_imports(path.read_text(encoding="utf-8"), str(path.relative_to(REPO)))
        if hit.split()[-1].split(".")[0] == "textual"
    ]
    assert offenders == []
