"""The exception tree: one module holds every error Pivot raises on purpose, drawn in its
docstring, each a PivotError; error classes elsewhere are private signals."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pivot
import pivot.exceptions as exceptions
from pivot.exceptions import PivotError

PACKAGE = Path(pivot.__file__).parent


def _public_error_classes() -> list[type[BaseException]]:
    return [
        cls
        for _name, cls in inspect.getmembers(exceptions, inspect.isclass)
        if issubclass(cls, BaseException) and cls.__module__ == exceptions.__name__
    ]


def test_every_error_in_the_module_is_a_pivot_error_and_drawn_in_the_tree() -> None:
    doc = exceptions.__doc__ or ""
    classes = _public_error_classes()
    assert len(classes) > 10
    for cls in classes:
        assert issubclass(cls, PivotError), cls
        assert f" {cls.__name__} " in doc or f"\n{cls.__name__} " in doc, cls


def test_the_tree_drawn_matches_the_class_hierarchy() -> None:
    """Each class is drawn one level below its base (2 columns of indent per level)."""
    doc = exceptions.__doc__ or ""
    drawing = doc.split("```")[1].strip("\n").splitlines()
    depth: dict[str, int] = {}
    for line in drawing:
        name = line.lstrip("│├└─ ").split()[0]
        depth[name] = (len(line) - len(line.lstrip("│├└─ "))) // 4
    for cls in _public_error_classes():
        if cls is PivotError:
            assert depth[cls.__name__] == 0
            continue
        base = cls.__bases__[0]
        assert depth[cls.__name__] == depth[base.__name__] + 1, cls


def test_no_error_class_is_defined_outside_the_exceptions_module() -> None:
    """Outside pivot/exceptions.py only private signals (``_Name``) may subclass an exception."""
    offenders: list[str] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "exceptions.py" and path.parent == PACKAGE:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.ClassDef) or node.name.startswith("_"):
                continue
            bases = {ast.unparse(base).rsplit(".", 1)[-1] for base in node.bases}
            if any(b.endswith(("Error", "Exception", "Failed", "Lost")) for b in bases):
                offenders.append(f"{path.relative_to(PACKAGE.parent)}: {node.name}")
    assert offenders == []
