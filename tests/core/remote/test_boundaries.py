"""The remote package is used through its facade: nothing outside ``pivot/core/remote/``
imports its private modules (``_s3``, ``_folder``, ``_transfer``…), so a new kind of remote is
one more :class:`BlobStore`, and the S3 details cannot leak back into the CLI or the engine."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import pivot
import pivot.exceptions
from pivot.core import remote

PACKAGE = Path(pivot.__file__).parent
REMOTE = PACKAGE / "core" / "remote"
PRIVATE = "pivot.core.remote._"


def private_imports(source: str) -> list[tuple[int, str]]:
    """(line, module) for each import of a private module of the remote package, at any
    depth (imports inside functions count too)."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
            if node.module == "pivot.core.remote":  # `from pivot.core.remote import _s3`
                names += [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        found += [(node.lineno, name) for name in names if name.startswith(PRIVATE)]
    return found


def test_nothing_outside_the_remote_package_imports_its_private_modules() -> None:
    offenders = [
        f"{path.relative_to(PACKAGE.parent)}:{line} imports {name}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if not path.is_relative_to(REMOTE)
        for line, name in private_imports(path.read_text(encoding="utf-8"))
    ]

    assert offenders == [], "import these from pivot.core.remote instead"


@pytest.mark.parametrize(
    "source",
    [
        "from pivot.core.remote._s3 import S3BlobStore\n",
        "from pivot.core.remote import _s3\n",
        "import pivot.core.remote._folder\n",
        "def f():\n    from pivot.core.remote._store import open_store\n",
    ],
)
def test_the_check_sees_each_form_of_import(source: str) -> None:
    assert len(private_imports(source)) == 1


def test_the_facade_exports_what_the_outside_needs() -> None:
    assert all(hasattr(remote, name) for name in remote.__all__)
    for name in ("BlobStore", "open_store", "RemoteLocation", "resolve_remote"):
        assert name in remote.__all__
    for name in ("RemoteUnavailableError", "BlobCorruptError", "BlobMissingError"):
        error = getattr(remote, name)
        assert error is getattr(pivot.exceptions, name)
        assert issubclass(error, pivot.exceptions.RemoteError)
