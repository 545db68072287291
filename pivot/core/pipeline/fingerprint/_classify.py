"""Which code is the project's, which is Pivot's, and which third-party distribution owns the rest.

Project code is every file that resolves under the project root, except files below a
``site-packages``/``dist-packages`` directory, a virtualenv (``.venv``, ``venv``), tool
directories (``.tox``, ``.nox``, ``__pypackages__``) or ``.pivot``. Pivot's own package is
never project code, even when a project lives inside Pivot's source tree. Everything else is
either the standard library (``sys.stdlib_module_names``; ignored) or belongs to an installed
distribution, recorded by version as ``pkg:<name>`` with the PEP 503 normalized name.

``importlib.metadata.packages_distributions()`` reads every installed distribution's metadata
(tens of milliseconds), so it runs at most once per process, and only when a fingerprint is
actually computed rather than loaded from cache.
"""

from __future__ import annotations

import enum
import functools
import importlib.metadata
import os
import re
import sys
import types
from pathlib import PurePath

import pivot
from pivot.core.store.paths import NON_PROJECT_DIRS

_STDLIB = frozenset(sys.stdlib_module_names) | {"__main__", "__mp_main__", "builtins"}

#: The directory of the ``pivot`` package (…/pivot), whose files are Pivot's own.
PIVOT_PACKAGE_DIR = os.path.dirname(os.path.abspath(pivot.__file__))
_PIVOT_PREFIX = PIVOT_PACKAGE_DIR + os.sep


class Kind(enum.Enum):
    PROJECT = "project"
    PIVOT = "pivot"
    OTHER = "other"


@functools.lru_cache(maxsize=65536)
def _realpath(path: str) -> str:
    return os.path.realpath(path)


class ProjectFiles:
    """Classifies files and modules for one project root; one instance per root per process."""

    def __init__(self, root: str) -> None:
        self.root = root
        self._prefix = root.rstrip(os.sep) + os.sep
        self._files: dict[str, tuple[Kind, str]] = {}

    def file_kind(self, filename: str) -> tuple[Kind, str]:
        """Kind of a source file and, for project and Pivot files, its display path.

        The display path is relative to the project root (``helpers.py``, ``pkg/sub.py``) or,
        for Pivot's files, starts at the package (``pivot/loaders.py``).
        """
        known = self._files.get(filename)
        if known is not None:
            return known
        result: tuple[Kind, str] = (Kind.OTHER, "")
        if filename and not filename.startswith("<"):
            real = _realpath(os.path.abspath(filename))
            if real.startswith(_PIVOT_PREFIX):
                rel = os.path.relpath(real, os.path.dirname(PIVOT_PACKAGE_DIR))
                result = (Kind.PIVOT, PurePath(rel).as_posix())
            elif real.startswith(self._prefix):
                rel_parts = PurePath(os.path.relpath(real, self.root)).parts
                if not NON_PROJECT_DIRS.intersection(rel_parts):
                    result = (Kind.PROJECT, "/".join(rel_parts))
        self._files[filename] = result
        return result

    def module_kind(self, module: types.ModuleType) -> tuple[Kind, str]:
        """Kind of a module object, and its display path when it has one."""
        name = getattr(module, "__name__", "") or ""
        top = name.partition(".")[0]
        if top == "pivot":
            return Kind.PIVOT, ""
        filename = getattr(module, "__file__", None)
        if isinstance(filename, str):
            return self.file_kind(filename)
        # namespace packages: project code when one of their directories is
        for entry in list(getattr(module, "__path__", None) or ()):
            if isinstance(entry, str):
                probe = os.path.join(entry, "__init__.py")
                kind, rel = self.file_kind(probe)
                if kind is Kind.PROJECT:
                    return kind, rel.rpartition("/")[0]
        return Kind.OTHER, ""


_PROJECTS: dict[str, ProjectFiles] = {}


def project_files(root: str) -> ProjectFiles:
    found = _PROJECTS.get(root)
    if found is None:
        found = _PROJECTS[root] = ProjectFiles(root)
    return found


@functools.lru_cache(maxsize=4096)
def module_path(rel: str) -> str:
    """Dotted name of a project file from its relative path: ``pkg/sub.py`` → ``pkg.sub``.

    Keys are named after where the code *lives*, not after the name it was imported under, so
    they do not depend on how ``pipeline.py`` was loaded.
    """
    stem = rel.rsplit(".", 1)[0] if rel.endswith((".py", ".pyw")) else rel
    dotted = stem.replace("/", ".")
    if dotted == "__init__":
        return "__init__"
    if dotted.endswith(".__init__"):
        dotted = dotted[: -len(".__init__")]
    return dotted


def is_stdlib(module_name: str) -> bool:
    return module_name.partition(".")[0] in _STDLIB


@functools.cache
def _top_level_distributions() -> dict[str, list[str]]:
    try:
        return {k: list(v) for k, v in importlib.metadata.packages_distributions().items()}
    except Exception:
        return {}


def normalize_dist(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@functools.cache
def dist_version(name: str) -> str | None:
    """Installed version of a distribution, memoized for the process (None if not installed)."""
    try:
        return importlib.metadata.version(name)
    except Exception:
        return None


def distributions_of(module_name: str) -> list[tuple[str, str]]:
    """``(normalized distribution name, version)`` of the distributions providing a module.

    Empty for the standard library, Pivot itself, and modules that no installed distribution
    claims (e.g. a directory on ``sys.path`` outside the project).
    """
    top = module_name.partition(".")[0]
    if not top or top in _STDLIB or top == "pivot":
        return []
    found: list[tuple[str, str]] = []
    for dist in sorted(set(_top_level_distributions().get(top, ()))):
        version = dist_version(dist)
        if version is not None:
            found.append((normalize_dist(dist), version))
    return found
