"""YAML from files Pivot did not write itself (locks from git, params, config, metrics, dvc.yaml).

Every YAML read goes through :func:`load_yaml`: the C loader for speed, and never a crash on
absurdly nested input. libyaml's loader recurses in C once per nesting level and overflows the
stack (a segfault, not an exception) near 25,000 levels, so text that could nest that deep
goes to the pure-Python loader, which raises RecursionError instead.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

_FastLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

#: Text that could nest deeply: a very long indent, or a long run of "- " / "? " on one line.
_MAYBE_DEEP = re.compile(r"^ {1000,}|(?:[-?][ \t]+){500,}", re.MULTILINE)


def load_yaml(text: str | bytes) -> Any:
    """Parse YAML safely: raises yaml.YAMLError for bad syntax and RecursionError for nesting
    too deep to read; never crashes the process."""
    probe = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    deep = probe.count("[") + probe.count("{") > 1000 or _MAYBE_DEEP.search(probe) is not None
    return yaml.load(text, Loader=yaml.SafeLoader if deep else _FastLoader)


def first_line(exc: BaseException) -> str:
    """The first line of a YAML error's message, for one-line reports."""
    text = str(exc)
    return text.splitlines()[0] if text else type(exc).__name__
