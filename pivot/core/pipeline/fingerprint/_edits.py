"""Which definitions an edit touched, from a file's text alone, and what they now hash to.

A :class:`FileShape` cuts a source file into chunks, one per top-level statement (with the
blank and comment lines before it), each with the digest of its text, plus a last chunk for
the lines after the last statement. Matching the chunks of a new version of the file from
both ends finds the stretch an edit touched without parsing the rest of the file; only that
stretch is parsed. :func:`edited_bodies` accepts the edit only when every statement in the
stretch is a ``def`` that was there before under the same name, so an edit confined to
function bodies is told apart from one that adds, removes or reorders statements.

:func:`body_edit_hash` then decides whether a stage function's new version can be hashed
without importing anything: its header (decorators, arguments, annotations) must be
unchanged and its body must read exactly the names it read before, so that every other key
of the stage's manifest keeps its hash; the function's own key is hashed the way the
fingerprint walk hashes it.
"""

from __future__ import annotations

import ast
import dataclasses
from collections.abc import Sequence
from typing import Any

import xxhash

from pivot.core.pipeline.fingerprint._deps import statement_index
from pivot.core.pipeline.fingerprint._model import FileStat, digest
from pivot.core.pipeline.fingerprint._parse import ParsedFile, first_line

_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef)


@dataclasses.dataclass(frozen=True)
class Chunk:
    """Lines up to ``end`` (1-based, inclusive) from the end of the previous chunk."""

    end: int
    digest: str
    #: The name of the ``def`` the chunk ends with; None for any other statement.
    name: str | None
    #: False only for the last chunk: the lines after the last statement.
    statement: bool = True


@dataclasses.dataclass(frozen=True)
class FileShape:
    """The top-level layout of one version of a source file."""

    lines: int
    #: Whether importing the file runs nothing but definitions, imports and Pivot's API (no
    #: statement the fingerprint's purity rules call impure).
    pure: bool
    chunks: tuple[Chunk, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "lines": self.lines,
            "pure": self.pure,
            "chunks": [[c.end, c.digest, c.name, c.statement] for c in self.chunks],
        }

    @classmethod
    def from_dict(cls, data: Any) -> FileShape:
        return cls(
            lines=int(data["lines"]),
            pure=bool(data["pure"]),
            chunks=tuple(
                Chunk(int(end), str(text), None if name is None else str(name), bool(statement))
                for end, text, name, statement in data["chunks"]
            ),
        )


def _text_digest(lines: Sequence[str], start: int, end: int) -> str | None:
    """Digest of lines ``start..end`` (0-based, end exclusive); None when out of range."""
    if start < 0 or end > len(lines) or start > end:
        return None
    return xxhash.xxh64("\n".join(lines[start:end]).encode()).hexdigest()


def file_shape(parsed: ParsedFile) -> FileShape:
    """The shape of ``parsed`` (one pass over its top-level statements)."""
    lines = parsed.lines
    chunks: list[Chunk] = []
    previous_end = 0
    for stmt in parsed.tree.body:
        end: int = getattr(stmt, "end_lineno", None) or first_line(stmt)
        text = _text_digest(lines, previous_end, end) or ""
        chunks.append(Chunk(end, text, stmt.name if isinstance(stmt, _DEFS) else None))
        previous_end = end
    trailing = _text_digest(lines, previous_end, len(lines)) or ""
    chunks.append(Chunk(len(lines), trailing, None, statement=False))
    pure = not statement_index(parsed).impure
    return FileShape(len(lines), pure, tuple(chunks))


@dataclasses.dataclass(frozen=True)
class BodyEdits:
    """The touched stretch of a file, parsed alone, and its edited ``def``s by name."""

    parsed: ParsedFile
    defs: dict[str, ast.FunctionDef | ast.AsyncFunctionDef]


def edited_bodies(shape: FileShape, text: str) -> BodyEdits | None:
    """The new version of every ``def`` whose text changed from ``shape`` to ``text``; None
    when the edit did anything else (added, removed, renamed or reordered a statement, or
    changed one that is not a ``def``) or the touched stretch does not parse."""
    lines = text.splitlines()  # as ParsedFile splits a file, so both versions cut alike
    chunks = shape.chunks
    delta = len(lines) - shape.lines
    starts = [0, *(c.end for c in chunks[:-1])]
    first = 0
    while first < len(chunks) and (
        _text_digest(lines, starts[first], chunks[first].end) == chunks[first].digest
    ):
        first += 1
    last = len(chunks) - 1
    while last >= first and (
        _text_digest(lines, starts[last] + delta, chunks[last].end + delta) == chunks[last].digest
    ):
        last -= 1
    if first > last:
        # Every chunk matched from one end or the other: identical text when nothing moved,
        # else lines were added or removed between two chunks, which no chunk covers.
        return None if delta else BodyEdits(_empty(), {})
    low, high = starts[first], chunks[last].end + delta
    if high < low:
        return None
    region = _parsed_text("\n".join(lines[low:high]) + "\n", "<edited>")
    if region is None:
        return None
    old = [c for c in chunks[first : last + 1] if c.statement]
    if len(region.tree.body) != len(old):
        return None
    defs: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = {}
    for chunk, stmt in zip(old, region.tree.body, strict=True):
        if chunk.name is None or not isinstance(stmt, _DEFS) or stmt.name != chunk.name:
            return None
        defs[stmt.name] = stmt
    return BodyEdits(region, defs)


def _empty() -> ParsedFile:
    parsed = _parsed_text("", "<edited>")
    assert parsed is not None
    return parsed


def _header(node: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    """Everything of a ``def`` that runs or matters at import time: all but its body."""
    fields = {
        "kind": type(node).__name__,
        "name": node.name,
        "args": ast.dump(node.args),
        "returns": ast.dump(node.returns) if node.returns is not None else "",
        "decorators": [ast.dump(d) for d in node.decorator_list],
        "type_params": [ast.dump(p) for p in getattr(node, "type_params", [])],
    }
    return repr(fields)


def _reads(parsed: ParsedFile, node: ast.FunctionDef | ast.AsyncFunctionDef) -> Any:
    """What a stage function reads from outside itself, without line numbers."""
    info = parsed.function_info(node, annotations=True)
    refs = {(r.root, r.attrs, r.annotation) for r in info.refs}
    imports = {dataclasses.replace(i, line=0) for i in info.imports}
    dynamic = {
        (
            d.kind,
            d.callee.root,
            d.callee.attrs,
            d.constant,
            None if d.target is None else (d.target.root, d.target.attrs),
        )
        for d in info.dynamic
    }
    return refs, imports, dynamic


def _parsed_text(text: str, label: str) -> ParsedFile | None:
    try:
        return ParsedFile(label, text.encode(), FileStat(label, -1, -1, -1, "", True))
    except (SyntaxError, ValueError):
        return None


def body_edit_hash(
    key: str,
    old_source: str,
    edits: BodyEdits,
    new_node: ast.FunctionDef | ast.AsyncFunctionDef,
) -> str | None:
    """The manifest hash of stage function key ``key`` (``self:name``) after its body was
    edited to ``new_node`` (a def of ``edits``), given the text it had (``old_source``, as the
    source store keeps it); None when the edit changed its header or what it reads, which
    only the full walk can follow."""
    old = _parsed_text(old_source, "<before>")
    if old is None or len(old.tree.body) != 1 or not isinstance(old.tree.body[0], _DEFS):
        return None
    old_node = old.tree.body[0]
    if _header(old_node) != _header(new_node):
        return None
    if _reads(old, old_node) != _reads(edits.parsed, new_node):
        return None
    return digest(key, edits.parsed.function_info(new_node, annotations=True).digest)
