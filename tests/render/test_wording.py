"""The wording pivot/render gives facts: what the CLI and the TUI both show."""

from __future__ import annotations

from pathlib import Path

import pytest

from pivot.core.reports.datadiff import diff_files
from pivot.render.counts import plural
from pivot.render.datadiff import cell_text, mode_text, rows_text, schema_lines, status_line
from pivot.render.params import SOURCE_LABELS, format_param, source_label
from pivot.render.sizes import human_size
from pivot.render.tables import md_table


def test_md_table_escapes_cells() -> None:
    assert md_table(("a|b", "c"), [("x\\y", "line\nbreak")]) == [
        "| a\\|b | c |",
        "|---|---|",
        "| x\\\\y | line break |",
    ]


def test_sizes() -> None:
    assert human_size(512) == "512 B"
    assert human_size(2048) == "2.0 kB"
    assert human_size(3_500_000_000) == "3.5 GB"
    assert human_size(None) == "-"


def test_counts_are_pluralised() -> None:
    assert [plural(n, "stage") for n in (0, 1, 2)] == ["0 stages", "1 stage", "2 stages"]
    assert plural(1, "entry", "entries") == "1 entry"
    assert plural(3, "entry", "entries") == "3 entries"
    assert plural(12_000, "row", grouped=True) == "12,000 rows"


def test_param_values_and_sources() -> None:
    assert [source_label(s) for s in ("default", "params.yaml", "matrix", "call")] == [
        "default",
        "params.yaml",
        "matrix",
        "call",
    ]
    assert set(SOURCE_LABELS) == {"default", "params.yaml", "matrix", "call"}
    assert [format_param(v) for v in (True, None, 0.1, "x", [1, "a"], {"lr": 1})] == [
        "true",
        "null",
        "0.1",
        "x",
        '[1, "a"]',
        '{"lr": 1}',
    ]


@pytest.mark.parametrize(
    ("old", "new", "status"),
    [
        ("id,v\n1,a\n2,b\n", "id,v\n1,a\n2,b\n", "no changes"),
        ("id,v\n1,a\n2,b\n", "id,v\n2,b\n1,a\n", "reordered only: same 2 rows, 2 moved"),
        (
            "id,v\n1,a\n2,b\n",
            "id,v\n1,A\n3,c\n4,d\n",
            "2 added, 1 removed, 1 modified, 0 unchanged",
        ),
    ],
)
def test_data_diff_status_and_counts(tmp_path: Path, old: str, new: str, status: str) -> None:
    (tmp_path / "old.csv").write_text(old)
    (tmp_path / "new.csv").write_text(new)
    diff = diff_files(tmp_path / "old.csv", tmp_path / "new.csv", keys=["id"])
    assert status_line(diff) == status
    assert mode_text(diff) == "by key id"
    rows_old, rows_new = old.count("\n") - 1, new.count("\n") - 1
    delta = "" if rows_old == rows_new else f" (+{rows_new - rows_old})"
    assert rows_text(diff) == f"{rows_old} → {rows_new}{delta}"


def test_data_diff_schema_lines(tmp_path: Path) -> None:
    (tmp_path / "old.csv").write_text("id,v,gone\n1,2,x\n")
    (tmp_path / "new.csv").write_text("id,v,extra\n1,a,3\n")
    diff = diff_files(tmp_path / "old.csv", tmp_path / "new.csv")
    lines = ["".join(text for text, _ in pieces) for _, pieces in schema_lines(diff)]
    assert lines == ["+ extra (Int64)", "- gone (String)", "~ v: Int64 → String"]


def test_cell_text() -> None:
    assert [cell_text(v) for v in (None, True, 1.5, " padded", "plain")] == [
        "null",
        "true",
        "1.5",
        "' padded'",
        "plain",
    ]
    assert cell_text("x" * 50, 10) == "x" * 9 + "…"
