"""A throwaway project on disk whose modules are really imported, edited and re-imported."""

from __future__ import annotations

import importlib
import os
import sys
import textwrap
import types
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from pivot.core.pipeline.fingerprint import CodeFingerprint, fingerprint_stage


class FpProject:
    """Files under ``root``, imported from ``root`` as top-level modules (``pipeline``, ...)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._saved: dict[str, types.ModuleType] = {}

    def write(self, rel: str, text: str) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    def write_all(self, files: dict[str, str]) -> None:
        for rel, text in files.items():
            self.write(rel, text)

    def edit(self, rel: str, old: str, new: str) -> None:
        """Replace exactly one occurrence of ``old`` (dedented) in ``rel``."""
        path = self.root / rel
        text = path.read_text(encoding="utf-8")
        old = textwrap.dedent(old).strip("\n")
        new = textwrap.dedent(new).strip("\n")
        assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times in {rel}"
        path.write_text(text.replace(old, new), encoding="utf-8")

    def _own_modules(self) -> list[str]:
        root = os.path.realpath(self.root)
        names = []
        for name, module in list(sys.modules.items()):
            file = getattr(module, "__file__", None)
            paths = list(getattr(module, "__path__", None) or ())
            if file:
                paths.append(file)
            if any(
                os.path.realpath(p).startswith(root + os.sep) for p in paths if isinstance(p, str)
            ):
                names.append(name)
        return names

    def forget(self) -> None:
        """Drop every module imported from the project, as a fresh process would not have it."""
        for name in self._own_modules():
            del sys.modules[name]
        importlib.invalidate_caches()

    def load(self, module: str = "pipeline") -> types.ModuleType:
        """Import ``module`` fresh from disk."""
        self.forget()
        top = module.partition(".")[0]
        if top in sys.modules:
            self._saved.setdefault(top, sys.modules.pop(top))
        for entry in self.root.iterdir():
            name = entry.stem if entry.suffix == ".py" else entry.name
            if name in sys.modules and name not in self._saved:
                self._saved[name] = sys.modules.pop(name)
        return importlib.import_module(module)

    def fingerprint(
        self,
        stage: str = "train",
        module: str = "pipeline",
        extra: Sequence[object] | str = (),
    ) -> CodeFingerprint:
        """Import ``module`` fresh and fingerprint its function ``stage``.

        ``extra`` may name a module-level list in ``module`` holding the extra objects, so that
        loaders and params models come from the freshly imported code.
        """
        loaded = self.load(module)
        extra_objects = getattr(loaded, extra) if isinstance(extra, str) else extra
        return fingerprint_stage(
            getattr(loaded, stage), project_root=self.root, extra_objects=extra_objects
        )

    def restore(self) -> None:
        self.forget()
        for name, module in self._saved.items():
            sys.modules[name] = module


def changed_keys(before: CodeFingerprint, after: CodeFingerprint) -> set[str]:
    """Keys added, removed or re-hashed between two fingerprints."""
    a, b = before.manifest, after.manifest
    return {key for key in a.keys() | b.keys() if a.get(key) != b.get(key)}


@pytest.fixture
def fp_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FpProject]:
    root = tmp_path / "proj"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    # edits within one second must not be hidden by a stale .pyc
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    project = FpProject(root)
    yield project
    project.restore()
