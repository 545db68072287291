"""``pivot verify`` without ``--remote``: is everything this project produced recorded,
cached and intact on this machine?

It lives beside the remote code because ``verify --remote`` is its other half; it needs the
pipeline (to know every stage, and which outputs are kept out of the cache) but never the
network.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from pivot.core.project import Project
from pivot.core.remote._transfer import output_blobs
from pivot.core.store.artifacts import ArtifactHasher
from pivot.core.store.paths import normalize_path
from pivot.core.store.tracked import TrackedData, all_tracked, select_tracked
from pivot.exceptions import ProjectError, UsageError


@dataclasses.dataclass(frozen=True)
class VerifyProblem:
    """One thing that stops the project from being fully recorded and cached."""

    stage: str
    path: str | None  # None for a problem with the stage as a whole
    problem: str

    def describe(self) -> str:
        where = f"{self.stage}: {self.path}" if self.path else self.stage
        return f"{where}: {self.problem}"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def verify_local(project: Project, stages: Sequence[str] = ()) -> list[VerifyProblem]:
    """Check every stage of the pipeline (or ``stages``), and tracked data: its lock exists,
    each cached output's blobs are in the local cache with bytes matching their hash, and each
    output in the workspace matches its lock. Empty list: all good."""
    from pivot.core.pipeline.discovery import PipelineDefinition, has_pipeline, load_pipeline

    if has_pipeline(project.root):
        pipeline = load_pipeline(project.root)
    else:  # data only (tracked files, imports): nothing to load
        pipeline = PipelineDefinition(project.root, {})
    from pivot.core.pipeline.selection import expand_targets

    names = expand_targets(stages, pipeline.stages) or list(pipeline.stages)
    if stages:
        tracked = [
            t
            for name in names
            if name not in pipeline and (t := select_tracked(project.root, name))
        ]
        names = [
            name for name in names if name in pipeline or not select_tracked(project.root, name)
        ]
    else:
        tracked = all_tracked(project.root)
    unknown = [name for name in names if name not in pipeline]
    if unknown:
        known = ", ".join(pipeline.stages) or "none"
        raise UsageError(f"unknown stage '{unknown[0]}' (stages: {known})")
    hasher = ArtifactHasher(project.root, project.state)
    problems: list[VerifyProblem] = []
    verified: dict[str, bool] = {}
    try:
        for name in names:
            spec = pipeline[name]
            lock = project.locks.read(name)
            if lock is None:
                problems.append(VerifyProblem(name, None, f"no lock file; run `pivot run {name}`"))
                continue
            records = lock.out_records()
            cached = {out.path: out.cached for out in spec.outs}
            for out in spec.outs:
                if out.path not in records:
                    problems.append(
                        VerifyProblem(
                            name, out.path, f"not recorded in the lock; run `pivot run {name}`"
                        )
                    )
            for record in lock.outs:
                if cached.get(record.path, True):
                    for ref in output_blobs(name, record):
                        if ref.hash not in verified:
                            verified[ref.hash] = project.cache.verify(ref.hash)
                        if not verified[ref.hash]:
                            state = "corrupt in" if project.cache.has(ref.hash) else "missing from"
                            problems.append(
                                VerifyProblem(
                                    name,
                                    ref.path,
                                    f"blob {ref.hash} is {state} the local cache; `pivot pull {name}` or "
                                    f"`pivot run -f {name}`",
                                )
                            )
                try:
                    current = hasher.hash_path(normalize_path(record.path, project.root))
                except ProjectError as exc:
                    problems.append(VerifyProblem(name, record.path, str(exc)))
                    continue
                if current is None:
                    problems.append(
                        VerifyProblem(
                            name,
                            record.path,
                            f"missing from the workspace; `pivot run {name}` restores it from the cache, `pivot pull {name}` from the remote",
                        )
                    )
                elif current.hash != record.hash:
                    problems.append(
                        VerifyProblem(
                            name,
                            record.path,
                            f"differs from its lock (hash {current.hash}, locked {record.hash}); "
                            f"`pivot run {name}` to record it, or `pivot pull {name}` to restore it",
                        )
                    )
        for item in tracked:
            problems.extend(_verify_tracked(project, hasher, item, verified))
    finally:
        hasher.flush()
    return problems


def _verify_tracked(
    project: Project, hasher: ArtifactHasher, item: TrackedData, verified: dict[str, bool]
) -> list[VerifyProblem]:
    """Tracked data: its blobs are cached intact and the workspace matches its manifest."""
    problems = []
    for ref in output_blobs(item.manifest, item.record):
        if ref.hash not in verified:
            verified[ref.hash] = project.cache.verify(ref.hash)
        if not verified[ref.hash]:
            state = "corrupt in" if project.cache.has(ref.hash) else "missing from"
            problems.append(
                VerifyProblem(
                    item.manifest,
                    ref.path,
                    f"blob {ref.hash} is {state} the local cache; `pivot pull {item.path}`",
                )
            )
    current = hasher.hash_path(item.path)
    if current is None:
        problems.append(
            VerifyProblem(
                item.manifest,
                item.path,
                f"missing from the workspace; `pivot checkout {item.path}` or `pivot pull {item.path}`",
            )
        )
    elif current.hash != item.record.hash:
        problems.append(
            VerifyProblem(
                item.manifest,
                item.path,
                f"differs from its manifest; `pivot track {item.path}` records it, "
                f"`pivot checkout -f {item.path}` restores it",
            )
        )
    return problems
