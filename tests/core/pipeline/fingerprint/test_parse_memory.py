"""Re-parsing an edited file must not keep the earlier parses alive (watch mode re-imports
the pipeline after every code edit)."""

from __future__ import annotations

import gc
import weakref
from pathlib import Path

from pivot.core.pipeline.fingerprint import _deps, _parse


def test_earlier_parses_of_an_edited_file_are_freed(tmp_path: Path) -> None:
    path = tmp_path / "stages.py"
    seen: list[weakref.ref[_parse.ParsedFile]] = []
    for version in range(30):
        path.write_text(f"X = {version}\n\ndef f():\n    return X + {version}\n" + "#" * version)
        parsed = _parse.load_file(str(path))
        _deps.statement_index(parsed)
        seen.append(weakref.ref(parsed))
    del parsed
    gc.collect()

    alive = [ref for ref in seen if ref() is not None]
    assert len(alive) <= 1  # only the latest parse, still cached for the unchanged file
