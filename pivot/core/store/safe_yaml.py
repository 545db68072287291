"""YAML from files Pivot did not write itself (locks from git, params, config, metrics, dvc.yaml).

Every YAML read goes through :func:`load_yaml`: the C loader for speed, and never a crash on
absurdly nested input. libyaml's loader recurses in C once per nesting level and overflows the
stack (a segfault, not an exception) near 25,000 levels, so text that could nest that deep
goes to the pure-Python loader, which raises RecursionError instead. Parsed data nested deeper
than :data:`MAX_DEPTH` is refused the same way: no file Pivot reads nests that deep, and
sorting, hashing or caching such data would hit Python's recursion limit later, far from the
file's name.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

_FastLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

#: Text that could nest deeply: a very long indent, or a long run of "- " / "? " on one line.
_MAYBE_DEEP = re.compile(r"^ {1000,}|(?:[-?][ \t]+){500,}", re.MULTILINE)


#: Far deeper than any real lock, params, config or metrics file (they nest a few levels),
#: far below Python's recursion limit.
MAX_DEPTH = 100


def load_yaml(text: str | bytes) -> Any:
    """Parse YAML safely: raises yaml.YAMLError for bad syntax and RecursionError for nesting
    deeper than :data:`MAX_DEPTH`; never crashes the process."""
    probe = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    deep = probe.count("[") + probe.count("{") > 1000 or _MAYBE_DEEP.search(probe) is not None
    data = yaml.load(text, Loader=yaml.SafeLoader if deep else _FastLoader)
    if _nests_deeper_than(data, MAX_DEPTH):
        raise RecursionError(f"YAML nests more than {MAX_DEPTH} levels deep")
    return data


def _nests_deeper_than(data: Any, limit: int) -> bool:
    """True if lists/dicts in ``data`` nest more than ``limit`` levels (checked without
    recursion, so the check itself cannot overflow)."""
    stack: list[tuple[Any, int]] = [(data, 0)]
    while stack:
        value, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)
    return False


def first_line(exc: BaseException) -> str:
    """The first line of a YAML error's message, for one-line reports."""
    text = str(exc)
    return text.splitlines()[0] if text else type(exc).__name__
