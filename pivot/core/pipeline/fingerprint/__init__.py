"""Code fingerprints of stages: what code a stage reaches, hashed so edits re-run exactly it.

:func:`fingerprint_stage` walks from a stage function through everything its code reaches
(helpers in any project module, constants, classes and their methods, decorators, closures,
dispatch tables, partials, lazily imported modules, the loaders it uses) and returns a
:class:`CodeFingerprint`: a flat manifest of stable keys to 16-hex xxhash64 hashes (``pkg:``
keys hold third-party versions instead), the source text behind each key, and warnings for
dynamic code it cannot follow (``getattr`` with a computed name, ``eval``/``exec``,
``import_module``/``__import__`` of a computed name).

Hashes come from normalized syntax trees, so comments, docstrings and formatting never re-run a
stage; renaming a local variable does. The walk is one ``Walker`` made of parts, each a module:
``_walk`` (entry points, and the key naming), ``_walk_core`` (state, keys, the queue),
``_walk_values``, ``_walk_functions``, ``_walk_classes``, ``_walk_names`` (globals, imports,
dynamic lookups) and ``_walk_canon`` (canonical reprs). Key naming is described in ``_walk``;
``docs/change-detection.md`` lists every case that is (and is not) detected.

:class:`SourceStore` and :func:`code_diff` let ``pivot explain`` show the old and new source of a
changed key; :func:`fingerprint_cache_entry`/:func:`load_cached_fingerprint` serialize a
fingerprint valid for as long as the files it read keep their stat.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

from pivot.core.pipeline.fingerprint._cache import fingerprint_cache_entry, load_cached_fingerprint
from pivot.core.pipeline.fingerprint._classify import module_path, project_files
from pivot.core.pipeline.fingerprint._edits import (
    BodyEdits,
    FileShape,
    body_edit_hash,
    edited_bodies,
    file_shape,
)
from pivot.core.pipeline.fingerprint._model import CodeFingerprint, FileStat, SourceRecord
from pivot.core.pipeline.fingerprint._store import SourceStore, code_diff
from pivot.core.pipeline.fingerprint._walk import Walker, unwrap
from pivot.exceptions import FingerprintError

__all__ = [
    "BodyEdits",
    "CodeFingerprint",
    "FileShape",
    "FileStat",
    "FingerprintError",
    "SourceRecord",
    "SourceStore",
    "body_edit_hash",
    "code_diff",
    "edited_bodies",
    "file_shape",
    "fingerprint_cache_entry",
    "fingerprint_stage",
    "load_cached_fingerprint",
    "module_path",
    "unwrap",
]


def fingerprint_stage(
    func: Callable[..., object],
    *,
    project_root: Path,
    extra_objects: Sequence[object] = (),
) -> CodeFingerprint:
    """Fingerprint the code ``func`` reaches, plus ``extra_objects`` (loaders, params models).

    Raises :class:`FingerprintError` only when ``project_root`` is not a directory; anything
    the walk cannot follow becomes a warning in the result.
    """
    root = os.path.realpath(os.path.abspath(project_root))
    if not os.path.isdir(root):
        raise FingerprintError(
            f"project root {project_root} is not a directory; run pivot from inside a project"
        )
    target = unwrap(func)
    stage = getattr(target, "__name__", None) or getattr(func, "__name__", None)
    walker = Walker(stage if isinstance(stage, str) else type(func).__name__, project_files(root))
    walker.add_stage(func)
    for obj in extra_objects:
        walker.add_extra(obj)
    walker.run()
    return walker.result()
