"""pivot.core has no UI: no module under it imports rich or Textual, now or lazily.

Two checks, because each misses what the other sees: importing every core module in a fresh
interpreter catches a UI library pulled in through a dependency, and reading the sources
catches imports hidden in functions that no import runs (a ``ConsoleProgress.__enter__``).
Presentation belongs in ``pivot.render`` (shared by the CLI and the TUI) or ``pivot.tui``.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys

import pytest

from tests.helpers import REPO, pivot_env

CORE = REPO / "pivot" / "core"
UI_PACKAGES = ("rich", "textual")


def core_modules() -> list[str]:
    """Every module under pivot/core, named as imported (packages by their ``__init__``)."""
    names = []
    for path in sorted(CORE.rglob("*.py")):
        parts = path.relative_to(REPO).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names.append(".".join(parts))
    return names


def test_core_modules_are_found() -> None:
    names = core_modules()
    assert "pivot.core" in names and "pivot.core.reports.datadiff" in names
    assert "pivot.core.remote._progress" in names and len(names) > 40


def test_importing_all_of_core_loads_no_ui_library() -> None:
    code = (
        "import importlib, json, sys\n"
        "for name in json.loads(sys.argv[1]):\n"
        "    importlib.import_module(name)\n"
        f"roots = {UI_PACKAGES!r}\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in roots)))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, json.dumps(core_modules())],
        cwd=REPO,
        env=pivot_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == []


def ui_imports(source: str, where: str) -> list[str]:
    """``where:line module`` for each import of a UI package anywhere in ``source``: at module
    level, inside functions, under ``TYPE_CHECKING``, or through ``importlib``."""
    tree = ast.parse(source, where)
    found = []
    for node in ast.walk(tree):
        modules: list[str] = []
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [node.module]
        elif (
            isinstance(node, ast.Call)
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
            and (
                (isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
                or (isinstance(node.func, ast.Name) and node.func.id == "__import__")
            )
        ):
            modules = [node.args[0].value]
        found += [
            f"{where}:{node.lineno} {name}" for name in modules if name.split(".")[0] in UI_PACKAGES
        ]
    return found


def test_no_core_source_imports_a_ui_library() -> None:
    offenders = [
        hit
        for path in sorted(CORE.rglob("*.py"))
        for hit in ui_imports(path.read_text(encoding="utf-8"), str(path.relative_to(REPO)))
    ]
    assert offenders == []


@pytest.mark.parametrize(
    "source",
    [
        "import rich",
        "from rich.console import Console",
        "def f():\n    from textual.app import App",
        "if TYPE_CHECKING:\n    from rich.progress import Progress",
        "import importlib\nimportlib.import_module('rich.table')",
        "__import__('textual')",
    ],
)
def test_the_source_scan_sees_every_kind_of_import(source: str) -> None:
    assert len(ui_imports(source, "probe.py")) == 1
    assert ui_imports(source.replace("rich", "richer").replace("textual", "textually"), "p") == []
