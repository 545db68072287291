"""Stage names on the command line: ``demo/`` selects every stage of the pipeline ``demo``."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from pivot.core.store.paths import PIPELINE_FILE


def expand_targets(names: Iterable[str], stages: Iterable[str]) -> list[str]:
    """``names`` with each ``pipeline/`` (a trailing slash) replaced by that pipeline's stages,
    in ``stages`` order; other names pass unchanged (callers report unknown ones). A prefix
    that matches no stage also passes unchanged, to be reported as unknown."""
    known = list(stages)
    expanded: list[str] = []
    for name in names:
        if name.endswith("/") and len(name) > 1:
            members = [stage for stage in known if stage.startswith(name)]
            expanded.extend(members or [name])
        else:
            expanded.append(name)
    return list(dict.fromkeys(expanded))


def pipeline_of(stage: str) -> str | None:
    """The pipeline a namespaced stage belongs to (``demo`` for ``demo/clean``); None for a
    stage named without one (registered in the root pipeline.py)."""
    prefix, slash, _ = stage.partition("/")
    return prefix if slash else None


def grouped(stages: Iterable[str]) -> list[tuple[str | None, list[str]]]:
    """``stages`` grouped by pipeline, groups in order of first appearance, each group's
    stages in the given order (un-namespaced stages form the group None)."""
    groups: dict[str | None, list[str]] = {}
    for stage in stages:
        groups.setdefault(pipeline_of(stage), []).append(stage)
    return list(groups.items())


def cwd_pipeline_folder(root: Path, cwd: Path | None = None) -> str | None:
    """The folder of the project (one level below ``root``) that holds its own pipeline.py
    and that the working directory is in, or None: run there, ``pivot run`` means that
    folder's pipelines (``--all`` means every pipeline)."""
    here = Path(os.path.realpath(cwd or Path.cwd()))
    try:
        rel = here.relative_to(os.path.realpath(root))
    except ValueError:
        return None
    if not rel.parts or not (root / rel.parts[0] / PIPELINE_FILE).is_file():
        return None
    return rel.parts[0]
