"""The TUI's UI-free parts: state model, event batching, paging, text helpers (the DAG drawing:
`test_dag_graph.py`)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

from pivot.core.pipeline.graph import StageGraph
from pivot.core.run.events import (
    RunFinished,
    RunStarted,
    StageFinished,
    StageLog,
    StageLogPending,
    StageQueued,
    StageStarted,
    StageStatus,
)
from pivot.core.run.planner import Action, Decision
from pivot.tui._batch import EventBatcher
from pivot.tui._diffpages import PAGE_SIZE, build_page, page_count
from pivot.tui._model import Phase, PipelineModel
from pivot.tui._text import format_duration
from tests.helpers import TempProject, make_project

if TYPE_CHECKING:
    from pivot.core.reports.datadiff import DataDiff


def graph(edges: dict[str, set[str]]) -> StageGraph:
    order = tuple(edges)
    downstream: dict[str, set[str]] = {name: set() for name in order}
    for name, ups in edges.items():
        for up in ups:
            downstream[up].add(name)
    return StageGraph(
        order=order,
        upstream={k: frozenset(v) for k, v in edges.items()},
        downstream={k: frozenset(v) for k, v in downstream.items()},
        producer={},
    )


DIAMOND = graph({"a": set(), "b": {"a"}, "c": {"a"}, "d": {"b", "c"}})


class TestModel:
    def test_plan_then_run_events_drive_phases(self) -> None:
        model = PipelineModel(DIAMOND)
        assert {s.phase for s in model.stages.values()} == {Phase.UNKNOWN}
        model.apply_plan(
            [
                Decision("a", Action.SKIP, "up to date"),
                Decision("b", Action.RUN, "code changed"),
                Decision("c", Action.SKIP, "up to date"),
                Decision("d", Action.RUN, "upstream b will run"),
            ]
        )
        assert model.stages["a"].phase is Phase.FRESH
        assert model.stages["b"].phase is Phase.STALE
        assert model.summary() == "4 stages · 2 stale"

        changes = model.apply(
            [
                RunStarted(run_id="r1", stages=("a", "b", "c", "d"), jobs=2),
                StageFinished(run_id="r1", stage="a", status=StageStatus.SKIPPED, reason="ok"),
                StageQueued(run_id="r1", stage="b", reason="code changed"),
                StageStarted(run_id="r1", stage="b", time=100.0),
                StageLog(run_id="r1", stage="b", line="\x1b[31mred\x1b[0m text"),
            ]
        )
        assert changes.run_started and model.running
        assert [(e.plain, e.text) for e in changes.logs["b"]] == [
            ("red text", "\x1b[31mred\x1b[0m text")
        ]
        assert model.stages["b"].phase is Phase.RUNNING
        assert model.stages["b"].elapsed(now=102.5) == 2.5
        assert model.stages["d"].phase is Phase.PENDING

        changes = model.apply(
            [
                StageFinished(
                    run_id="r1", stage="b", status=StageStatus.FAILED, reason="boom", duration=1.5
                ),
                StageFinished(run_id="r1", stage="d", status=StageStatus.BLOCKED, reason="up"),
                RunFinished(run_id="r1", counts={}, duration=2.0, exit_code=1),
            ]
        )
        assert changes.run_finished is not None and not model.running
        # A failed stage stays visibly failed while the plan still says it is stale.
        assert model.stages["b"].phase is Phase.FAILED
        assert model.stages["b"].duration == 1.5
        assert model.stages["d"].phase is Phase.BLOCKED
        assert model.stages["a"].phase is Phase.FRESH

    def test_new_run_of_a_stage_clears_its_log(self) -> None:
        model = PipelineModel(DIAMOND)
        model.apply(
            [
                RunStarted(run_id="r", stages=("a",), jobs=1),
                StageStarted(run_id="r", stage="a"),
                StageLog(run_id="r", stage="a", line="old"),
            ]
        )
        changes = model.apply(
            [StageStarted(run_id="r", stage="a"), StageLog(run_id="r", stage="a", line="new")]
        )
        assert "a" in changes.cleared
        assert [entry.text for entry in model.stages["a"].log.lines] == ["new"]

    def test_pending_progress_line_is_replaced_not_appended(self) -> None:
        model = PipelineModel(DIAMOND)
        model.apply(
            [RunStarted(run_id="r", stages=("a",), jobs=1), StageStarted(run_id="r", stage="a")]
        )
        changes = model.apply(
            [
                StageLog(run_id="r", stage="a", line="start"),
                StageLogPending(run_id="r", stage="a", line=" 10%", stderr=True),
                StageLogPending(run_id="r", stage="a", line=" 20%", stderr=True),
            ]
        )
        assert [(e.text, e.partial) for e in changes.logs["a"]] == [
            ("start", False),
            (" 20%", True),
        ]
        model.apply([StageLogPending(run_id="r", stage="a", line=" 60%", stderr=True)])
        assert [e.text for e in model.stages["a"].log.lines] == ["start", " 60%"]
        model.apply(
            [
                StageLog(run_id="r", stage="a", line="100%", stderr=True),
                StageLog(run_id="r", stage="a", line="done"),
            ]
        )
        log = model.stages["a"].log.lines
        assert [(e.text, e.stderr, e.partial) for e in log] == [
            ("start", False, False),
            ("100%", True, False),
            ("done", False, False),
        ]

    def test_filter_matches_words_in_name_or_status(self) -> None:
        model = PipelineModel(DIAMOND)
        model.apply_plan([Decision("b", Action.RUN, "x"), Decision("c", Action.SKIP, "x")])
        assert model.filtered("") == ["a", "b", "c", "d"]
        assert model.filtered("B") == ["b"]
        assert model.filtered("stale") == ["b"]
        assert model.filtered("c date") == ["c"]

    def test_stages_are_grouped_by_pipeline_and_a_pipeline_filters_as_a_word(self) -> None:
        two = graph(
            {"prep/load": set(), "seed": set(), "fit/train": {"prep/load"}, "prep/clean": set()}
        )
        model = PipelineModel(two)
        assert model.filtered("") == ["prep/load", "prep/clean", "seed", "fit/train"]
        assert model.filtered("prep/") == ["prep/load", "prep/clean"]

    def test_rebuild_keeps_known_stages(self) -> None:
        model = PipelineModel(DIAMOND)
        model.apply_plan([Decision("a", Action.SKIP, "ok")])
        model.rebuild(graph({"a": set(), "e": {"a"}}))
        assert model.order == ("a", "e")
        assert model.stages["a"].phase is Phase.FRESH


class TestBatcher:
    def test_delivers_in_order_and_in_few_batches(self) -> None:
        now = [0.0]
        batches: list[list[object]] = []
        batcher = EventBatcher(batches.append, interval=0.05, clock=lambda: now[0])
        for i in range(1000):
            now[0] = i * 0.001  # 1 ms apart: 1 s in total
            batcher(StageLog(run_id="r", stage="a", line=str(i)))
        batcher.flush()
        lines = [e.line for batch in batches for e in batch]  # type: ignore[attr-defined]
        assert lines == [str(i) for i in range(1000)]
        assert 15 <= len(batches) <= 25

    def test_flush_if_due_delivers_a_quiet_tail(self) -> None:
        now = [0.0]
        batches: list[list[object]] = []
        batcher = EventBatcher(batches.append, interval=0.05, clock=lambda: now[0])
        batcher(StageLog(run_id="r", stage="a", line="x"))
        batcher.flush_if_due()
        assert batches == []
        now[0] = 1.0
        batcher.flush_if_due()
        assert len(batches) == 1


class TestPaging:
    def test_a_large_diff_is_paged(self, tmp_path: Path) -> None:
        from pivot.core.reports.datadiff import diff_files

        old = tmp_path / "old.csv"
        new = tmp_path / "new.csv"
        old.write_text("id,v\n" + "".join(f"{i},{i}\n" for i in range(2500)))
        new.write_text("id,v\n" + "".join(f"{i},{i * (2 if i % 2 else 1)}\n" for i in range(2500)))
        diff = diff_files(old, new, keys=["id"], max_rows=1_000_000)
        assert diff.counts.modified == 1250
        first = build_page(diff, "modified", 0)
        assert len(first.rows) == PAGE_SIZE
        assert first.count == page_count(1250) == 13
        assert first.columns == ("id", "v")
        assert [cell.plain for cell in first.rows[0]] == ["1", "1 → 2"]
        last = build_page(diff, "modified", 99)  # clamped
        assert last.index == 12 and len(last.rows) == 50
        assert last.label == "rows 1,201-1,250 of 1,250 · page 13/13"


def test_formatting() -> None:
    assert format_duration(0.312) == "0.31s"
    assert format_duration(75) == "1m15s"


def test_outputs_tab_compares_hashes_not_sizes(demo_ran: TempProject) -> None:
    from pivot.core.project import Project
    from pivot.core.run.engine import Engine
    from pivot.tui._details import stage_outputs
    from pivot.tui._render import output_cells

    engine = Engine(Project(demo_ran.root))
    try:
        states = {row.path: output_cells(row)[4] for row in stage_outputs(engine, "load")}
        assert states == {"data/words.json": "ok"}
        original = demo_ran.read("data/words.json")
        same_size = original.replace("a", "b") if "a" in original else original.upper()
        assert len(same_size) == len(original) and same_size != original
        (demo_ran.root / "data/words.json").write_text(same_size)
        states = {row.path: output_cells(row)[4] for row in stage_outputs(engine, "load")}
        assert states == {"data/words.json": "changed"}
        (demo_ran.root / "data/words.json").unlink()
        states = {row.path: output_cells(row)[4] for row in stage_outputs(engine, "load")}
        assert states == {"data/words.json": "missing"}
    finally:
        engine.close()


MATRIX_PIPELINE = """
from typing import Annotated
import pivot
from pivot import loaders
from pivot.stage_def import StageParams

pipeline = pivot.Pipeline("grid")


class FitParams(StageParams):
    hidden: int = 8
    flag: bool = False
    note: str = "x"


def fit(params: FitParams) -> Annotated[dict, pivot.Out("fit/{size}.json", loaders.JSON())]:
    return {"hidden": params.hidden}


pipeline.register(fit, matrix={"size": {"small": {"hidden": 4}, "big": {"hidden": 64}}})
"""


def test_params_tab_and_params_show_agree(tmp_path: Path) -> None:
    """The Params tab and `pivot params show` label each value's source alike: one function
    decides the source (core) and one words it (pivot.render.params)."""
    from pivot.core.project import Project
    from pivot.core.run.engine import Engine
    from pivot.tui._details import params_info
    from pivot.tui._render import Palette, params_renderable

    project = make_project(tmp_path / "grid")
    project.write("pipeline.py", MATRIX_PIPELINE)
    project.write("params.yaml", "fit@big:\n  flag: true\n")
    shown = json.loads(project.pivot("params", "show", "--json").stdout)["stages"]
    text = project.pivot("--no-tui", "params", "show", "fit@big").stdout

    engine = Engine(Project(project.root))
    try:
        info = params_info(engine, "fit@big")
    finally:
        engine.close()
    tab = {row.name: (row.value, row.source) for row in info.rows}
    cli = {name: (p["value"], p["source"]) for name, p in shown["fit@big"].items()}
    assert (
        tab
        == cli
        == {
            "flag": (True, "params.yaml"),
            "hidden": (64, "matrix"),
            "note": ("x", "default"),
        }
    )

    console = Console(width=80, record=True, color_system=None)
    console.print(params_renderable(info, Palette({}, dark=True)))
    drawn = console.export_text()
    for name, value, source in (("flag", "true", "params.yaml"), ("hidden", "64", "matrix")):
        line = next(line for line in drawn.splitlines() if f" {name} " in f" {line} ")
        cli_line = next(line for line in text.splitlines() if f" {name} " in f" {line} ")
        assert line.split()[-2:] == cli_line.split()[-2:] == [value, source]


class TestRowFinder:
    """Search over every listed row of a diff, by key then by text (pivot.tui._diffsearch)."""

    def diff(self, tmp_path: Path, keys: Sequence[str]) -> DataDiff:
        from pivot.core.reports.datadiff import diff_files

        old = tmp_path / "old.csv"
        new = tmp_path / "new.csv"
        old.write_text("a,b,v\nx,1,old\ny,1,gone\n")
        new.write_text("a,b,v\nx,1,NEW\nz,2,x\n")
        return diff_files(old, new, keys=keys, max_rows=1_000_000)

    def test_compound_key_then_text(self, tmp_path: Path) -> None:
        from pivot.tui._diffsearch import Hit, RowFinder

        finder = RowFinder(self.diff(tmp_path, ["a", "b"]))
        by_key = finder.find(" x, 1 ")
        assert (by_key.by_key, by_key.hits) == (True, (Hit(2, 0),))  # the modified row
        by_text = finder.find("X")  # no key "X": text, in any case, in every kind
        assert not by_text.by_key
        assert [h.kind for h in by_text.hits] == ["added", "modified"]
        assert by_text.first_from(Hit(1, 0)) == 1
        assert by_text.first_from(Hit(2, 5)) == 0  # wraps
        assert finder.find("old").hits == (Hit(2, 0),)  # a modified row's old value
        missing = finder.find("nope")
        assert missing.describe(None) == "no row with key 'nope', and no cell contains it"

    def test_without_key_everything_is_text(self, tmp_path: Path) -> None:
        from pivot.tui._diffsearch import RowFinder

        finder = RowFinder(self.diff(tmp_path, []))
        assert not finder.find("x").by_key
        assert finder.find("zzz").describe(None) == (
            "no row with 'zzz' in any cell (no --key: no key to go to)"
        )


def test_tui_pages_tint_rows_with_the_cli_colours(tmp_path: Path) -> None:
    """One definition (pivot.render.datadiff.TONE_STYLES) colours both front ends' rows."""
    from rich.table import Table

    from pivot.core.reports.datadiff import diff_files
    from pivot.render.datadiff import TONE_STYLES, text_renderables

    old = tmp_path / "old.csv"
    new = tmp_path / "new.csv"
    old.write_text("id,v\n1,a\n2,b\n")
    new.write_text("id,v\n1,A\n3,c\n")
    diff = diff_files(old, new, keys=["id"], max_rows=100)
    added, removed, _ = (r for r in text_renderables(diff) if isinstance(r, Table))
    assert added.columns[1].style == TONE_STYLES["added"] == "green"
    assert removed.columns[1].style == TONE_STYLES["removed"] == "red"
    assert {str(c.style) for c in build_page(diff, "added", 0).rows[0][1:]} == {"green"}
    assert {str(c.style) for c in build_page(diff, "removed", 0).rows[0][1:]} == {"red"}
    (change,) = build_page(diff, "modified", 0).rows[0][1:]
    assert [(change.plain[s.start : s.end], str(s.style)) for s in change.spans] == [
        ("a", "red"),
        (" → ", "dim"),
        ("A", "green"),
    ]
