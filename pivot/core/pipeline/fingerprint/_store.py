"""Source texts kept by manifest hash, and unified diffs between two versions of a key.

A lock file records only hashes. To show *what* changed in a helper, ``explain`` needs the
source text that produced the old hash: :class:`SourceStore` keeps every recorded text as a small
JSON file addressed by that hash (``<root>/ab/cdef0123456789``), written atomically. Because the
key is part of every hash, a hash names exactly one key's text. A text that only differs in
comments or docstrings has the same hash as the one already stored and is not rewritten.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path

from pivot.core.pipeline.fingerprint._model import SourceRecord
from pivot.core.store.hashing import is_digest
from pivot.exceptions import FingerprintError

_HUNK = re.compile(r"^@@ -(\d+)(,\d+)? \+(\d+)(,\d+)? @@")


class SourceStore:
    """File-backed store of :class:`SourceRecord` texts, addressed by manifest hash."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path_for(self, digest: str) -> Path:
        if not is_digest(digest):
            raise ValueError(f"not a code hash: {digest!r}")
        return self.root / digest[:2] / digest[2:]

    def __contains__(self, digest: object) -> bool:
        return isinstance(digest, str) and is_digest(digest) and self.path_for(digest).exists()

    def put(self, digest: str, record: SourceRecord) -> bool:
        """Store ``record`` under ``digest`` unless already there; True if it was written."""
        target = self.path_for(digest)
        if target.exists():
            return False
        payload = json.dumps(
            {"key": record.key, "file": record.file, "line": record.line, "source": record.source},
            ensure_ascii=False,
        )
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, temp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    handle.write(payload)
                os.replace(temp, target)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temp)
                raise
        except OSError as exc:
            raise FingerprintError(
                f"cannot write code source to {target}: {exc.strerror or exc}; "
                "check that the .pivot/cache directory is writable"
            ) from exc
        return True

    def put_many(self, records: Mapping[str, SourceRecord], manifest: Mapping[str, str]) -> int:
        """Store the record of every manifest key that has one; returns how many were new."""
        written = 0
        for key, record in records.items():
            digest = manifest.get(key)
            if digest is not None and is_digest(digest) and self.put(digest, record):
                written += 1
        return written

    def get(self, digest: str) -> SourceRecord | None:
        """The record stored under ``digest``, or None when absent, malformed or unreadable."""
        if not isinstance(digest, str) or not is_digest(digest):
            return None
        try:
            data = json.loads(self.path_for(digest).read_text(encoding="utf-8"))
            return SourceRecord(
                key=str(data["key"]),
                file=str(data["file"]),
                line=int(data["line"]),
                source=str(data["source"]),
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None


def _where(record: SourceRecord) -> str:
    if record.file:
        return f"{record.file}:{record.line}" if record.line else record.file
    return record.key


def _shift_hunks(lines: list[str], old_start: int, new_start: int) -> list[str]:
    """Renumber hunk headers from snippet-relative lines to lines in the files."""
    shifted = []
    for line in lines:
        match = _HUNK.match(line)
        if match:
            old_line = int(match.group(1)) + max(old_start - 1, 0)
            new_line = int(match.group(3)) + max(new_start - 1, 0)
            rest = line[match.end() :]
            line = (
                f"@@ -{old_line}{match.group(2) or ''} +{new_line}{match.group(4) or ''} @@{rest}"
            )
        shifted.append(line)
    return shifted


def code_diff(
    key: str,
    old_hash: str | None,
    new_hash: str | None,
    store: SourceStore,
    *,
    current: SourceRecord | None = None,
    context: int = 3,
) -> str:
    """A unified diff of ``key``'s source between two manifest hashes, for ``pivot explain``.

    ``old_hash``/``new_hash`` are None when the key was added/removed. ``current`` is the
    record from a fresh fingerprint; when omitted the new text is looked up in ``store``.
    ``pkg:`` keys hold versions, so their "diff" is ``old -> new``. Always returns text; missing
    sources are said in words ("(old source not available)").
    """
    if key.startswith("pkg:"):
        return f"{key}: {old_hash or '(not used)'} -> {new_hash or '(not used)'}\n"
    if old_hash == new_hash:
        return f"{key}: unchanged\n"
    old = store.get(old_hash) if old_hash else None
    new = current if current is not None else (store.get(new_hash) if new_hash else None)
    if new_hash is None:
        if old is None:
            return f"{key}: no longer used (old source not available)\n"
        header = [f"--- a/{_where(old)} ({key})", "+++ /dev/null (no longer used)"]
        return "\n".join(header + ["-" + line for line in old.source.splitlines()]) + "\n"
    if new is None:
        return f"{key}: changed (new source not available)\n"
    if old_hash is None:
        header = ["--- /dev/null (new)", f"+++ b/{_where(new)} ({key})"]
        return "\n".join(header + ["+" + line for line in new.source.splitlines()]) + "\n"
    if old is None:
        body = "\n".join("    " + line for line in new.source.splitlines())
        return f"--- {key} (old source not available)\n+++ b/{_where(new)} ({key})\n{body}\n"
    old_lines = old.source.splitlines()
    new_lines = new.source.splitlines()
    diff = list(
        difflib.unified_diff(
            old_lines,
            new_lines,
            fromfile=f"a/{_where(old)} ({key})",
            tofile=f"b/{_where(new)} ({key})",
            n=context,
            lineterm="",
        )
    )
    if not diff:
        return (
            f"{key}: source text unchanged; what it refers to changed "
            f"(a value it computes, or code it resolves to)\n"
        )
    return "\n".join(_shift_hunks(diff, old.line, new.line)) + "\n"
