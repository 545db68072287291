"""A cached fingerprint survives an edit of a file it read only when the statements behind
the names it read are unchanged, and then it must equal a fresh fingerprint.

Each case edits a realistic ``pipeline.py`` (several stages, helpers, a constant, a registry
filled by a decorator, an import) and checks, for every stage, the one property that matters:
an entry the cache still accepts is exactly what fingerprinting from scratch gives. The cases
also say which stages the cache keeps, so the speed-up is pinned too.
"""

from __future__ import annotations

import pytest

from pivot.core.pipeline.fingerprint import fingerprint_cache_entry, load_cached_fingerprint
from tests.core.pipeline.fingerprint.conftest import FpProject

PIPELINE = """
from helpers import double as twice

LIMIT = 10
OPS = {}


def register(fn):
    OPS[fn.__name__] = fn
    return fn


@register
def add(a, b):
    return a + b


def clip(x):
    return min(x, LIMIT)


def first(x):
    return clip(x) + 1


def second(x):
    return twice(x) * 2


def third(x):
    return OPS["add"](x, 1)


def fourth(x):
    return x - 1
"""

HELPERS = """
def double(x):
    return x * 2


def triple(x):
    return x * 3
"""

STAGES = ("first", "second", "third", "fourth")

#: edit name -> ((file, old, new), the stages whose cached entry must survive)
EDITS: dict[str, tuple[tuple[str, str, str], set[str]]] = {
    "body of one stage": (("pipeline.py", "return x - 1", "return x - 2"), {"first", "second", "third"}),
    "helper it calls": (("pipeline.py", "return min(x, LIMIT)", "return max(x, LIMIT)"), {"second", "third", "fourth"}),
    "constant it reads": (("pipeline.py", "LIMIT = 10", "LIMIT = 11"), {"second", "third", "fourth"}),
    "a new unused function": (
        ("pipeline.py", "def fourth(x):", "def unused():\n    return 0\n\n\ndef fourth(x):"),
        set(STAGES),
    ),
    "a new registered function": (
        ("pipeline.py", "def clip(x):", "@register\ndef sub(a, b):\n    return a - b\n\n\ndef clip(x):"),
        set(),  # a decorator runs code at import: every entry that read the file is recomputed
    ),
    "an import rebound": (
        ("pipeline.py", "from helpers import double as twice", "from helpers import triple as twice"),
        {"first", "third", "fourth"},
    ),
    "a name rebound further down": (
        ("pipeline.py", "def fourth(x):", "twice = clip\n\n\ndef fourth(x):"),
        {"first", "third", "fourth"},
    ),
    "a comment in a stage": (("pipeline.py", "return x - 1", "return x - 1  # minus one"), {"first", "second", "third"}),
    "another helper in the helper module": (("helpers.py", "return x * 3", "return x * 4"), set(STAGES)),
    "the helper it calls, in its module": (
        ("helpers.py", "return x * 2", "return x * 5"),
        {"first", "third", "fourth"},
    ),
}  # fmt: skip


@pytest.mark.parametrize("edit", sorted(EDITS))
def test_a_kept_entry_equals_a_fresh_fingerprint(fp_project: FpProject, edit: str) -> None:
    fp_project.write_all({"pipeline.py": PIPELINE, "helpers.py": HELPERS})
    blobs = {stage: fingerprint_cache_entry(fp_project.fingerprint(stage)) for stage in STAGES}
    (rel, old, new), survivors = EDITS[edit]

    fp_project.edit(rel, old, new)

    kept = set()
    for stage in STAGES:
        cached = load_cached_fingerprint(blobs[stage], str(fp_project.root))
        if cached is None:
            continue
        kept.add(stage)
        fresh = fp_project.fingerprint(stage)
        assert cached.fingerprint.manifest == fresh.manifest, stage
        assert cached.fingerprint.sources == fresh.sources, stage
    assert kept == survivors
