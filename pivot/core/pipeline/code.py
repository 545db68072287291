"""Code manifests of stages, cached in LMDB by the stat of the source files they read."""

from __future__ import annotations

from typing import Any

from pivot.core.pipeline.fingerprint import (
    CodeFingerprint,
    SourceStore,
    fingerprint_cache_entry,
    fingerprint_stage,
    load_cached_fingerprint,
)
from pivot.core.project import Project
from pivot.core.store.state import DB_FINGERPRINTS
from pivot.registry import StageSpec


class CodeIndex:
    """Fingerprints stages, reusing cached manifests while no source file changed."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.sources = SourceStore(project.code_store_dir)
        self._pending: list[tuple[bytes, bytes]] = []
        self._memo: dict[str, CodeFingerprint] = {}

    def _cache_key(self, spec: StageSpec) -> bytes:
        """Keyed by the project root too: an entry holds absolute paths, so a copy of the
        project (state included) must not validate its code against the original's files."""
        func: Any = spec.func
        parts = [
            str(self.project.root),
            spec.name,
            f"{getattr(func, '__module__', '')}.{getattr(func, '__qualname__', '')}",
            repr(spec.loaders()),
            getattr(spec.params_model, "__qualname__", ""),
        ]
        return "\0".join(parts).encode()

    def fingerprint(self, spec: StageSpec) -> CodeFingerprint:
        memo = self._memo.get(spec.name)
        if memo is not None:
            return memo
        key = self._cache_key(spec)
        blob = self.project.state.get(DB_FINGERPRINTS, key)
        cached = load_cached_fingerprint(blob, str(self.project.root)) if blob else None
        fingerprint = cached.fingerprint if cached is not None else None
        if cached is not None and cached.refreshed:
            # a file it read changed elsewhere: keep the entry, with the new stats
            self._pending.append((key, fingerprint_cache_entry(cached.fingerprint)))
        if fingerprint is None:
            extra: list[object] = list(spec.loaders())
            if spec.params_model is not None:
                extra.append(spec.params_model)
            fingerprint = fingerprint_stage(
                spec.func, project_root=self.project.root, extra_objects=extra
            )
            self._pending.append((key, fingerprint_cache_entry(fingerprint)))
        self._memo[spec.name] = fingerprint
        return fingerprint

    def keep_sources(self, fingerprint: CodeFingerprint) -> None:
        """Store the source texts of a committed manifest so `explain` can diff them later."""
        self.sources.put_many(fingerprint.sources, fingerprint.manifest)

    def flush(self) -> None:
        if self._pending:
            self.project.state.put_many(DB_FINGERPRINTS, self._pending)
            self._pending = []
