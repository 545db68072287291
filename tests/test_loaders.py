"""The tabular loaders read the DataFrame library the annotation names and save either kind.

CSV, Parquet and JSONL are configured at registration from the annotated type
(``Loader.for_type``); these tests call the loaders on real files and build real stage specs.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pandas as pd
import polars as pl
import pytest

import pivot
from pivot import loaders
from pivot._frames import frame_kind
from pivot.core.pipeline.fingerprint import fingerprint_stage
from pivot.exceptions import StageDefinitionError, StageOutputError
from pivot.registry import build_stage_spec
from pivot.stage_def import Dep, Out, StageDef
from tests.helpers import REPO, pivot_env


class TaggedFrame(pd.DataFrame):
    """A pandas subclass (as geopandas and others define) still reads as pandas."""


@pytest.mark.parametrize(
    ("annotation", "kind"),
    [
        (pd.DataFrame, "pandas"),
        (pl.DataFrame, "polars"),
        (TaggedFrame, "pandas"),
        (list[pd.DataFrame], "pandas"),
        (dict[str, pl.DataFrame], "polars"),
        (pd.DataFrame | None, "pandas"),
        (Dep[pd.DataFrame], "pandas"),
        (Out[pl.DataFrame], "polars"),
        (pd.DataFrame | pl.DataFrame, None),
        (Any, None),
        (list, None),
        (dict[str, int], None),
        (Path, None),
    ],
)
def test_frame_kind_of_an_annotation(annotation: object, kind: str | None) -> None:
    assert frame_kind(annotation) == kind


def test_polars_stages_never_import_pandas() -> None:
    code = (
        "import sys, tempfile, pathlib\n"
        "import polars as pl\n"
        "from pivot import loaders\n"
        "from pivot._frames import frame_kind, value_kind\n"
        "assert frame_kind(pl.DataFrame) == 'polars'\n"
        "path = pathlib.Path(tempfile.mkdtemp()) / 'a.csv'\n"
        "csv = loaders.CSV().for_type(pl.DataFrame)\n"
        "csv.save(pl.DataFrame({'a': [1]}), path)\n"
        "assert value_kind(csv.load(path)) == 'polars'\n"
        "print('pandas' in sys.modules)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=pivot_env(), capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"


# --- for_type ---------------------------------------------------------------------------


def test_for_type_returns_a_configured_copy_and_leaves_the_original_alone() -> None:
    csv = loaders.CSV(separator=";")
    typed = csv.for_type(pd.DataFrame)
    assert typed == loaders.CSV(separator=";", frame="pandas")
    assert csv.frame is None
    assert csv.for_type(Any) is csv
    assert loaders.JSON().for_type(pd.DataFrame) == loaders.JSON()


def test_an_explicit_frame_wins_over_the_annotation() -> None:
    csv = loaders.CSV(frame="pandas")
    assert csv.for_type(pl.DataFrame) is csv


def test_an_unknown_frame_is_a_definition_error() -> None:
    with pytest.raises(StageDefinitionError, match="frame must be 'polars' or 'pandas'"):
        loaders.Parquet(frame="arrow")  # type: ignore[arg-type]


# --- CSV --------------------------------------------------------------------------------

RAW = "id,score,name\n1,0.5,a\n2,,b\n3,1.5,\n"


def test_csv_reads_pandas_exactly_as_pandas_read_csv_does(tmp_path: Path) -> None:
    path = tmp_path / "raw.csv"
    path.write_text(RAW)
    frame = loaders.CSV(frame="pandas").load(path)
    assert isinstance(frame, pd.DataFrame)
    pd.testing.assert_frame_equal(frame, pd.read_csv(path))
    assert frame.dropna()["id"].tolist() == [1]


def test_csv_without_a_frame_reads_polars_as_before(tmp_path: Path) -> None:
    path = tmp_path / "raw.csv"
    path.write_text(RAW)
    frame = loaders.CSV().load(path)
    assert isinstance(frame, pl.DataFrame)
    assert frame.drop_nulls()["id"].to_list() == [1]


def test_csv_honours_separator_and_header_for_pandas(tmp_path: Path) -> None:
    path = tmp_path / "raw.tsv"
    path.write_text("1\tx\n2\ty\n")
    csv = loaders.CSV(separator="\t", has_header=False, frame="pandas")
    assert csv.load(path).values.tolist() == [[1, "x"], [2, "y"]]
    csv.save(pd.DataFrame({"a": [3], "b": ["z"]}), path)
    assert path.read_text() == "3\tz\n"


def test_csv_saves_whichever_frame_is_returned_without_an_index(tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}, index=[10, 20])
    loaders.CSV(frame="polars").save(frame, target)
    assert target.read_text() == "a,b\n1,x\n2,y\n"
    loaders.CSV(frame="pandas").save(pl.DataFrame({"a": [3]}), target)
    assert target.read_text() == "a\n3\n"


def test_csv_refuses_to_save_something_that_is_not_a_frame(tmp_path: Path) -> None:
    with pytest.raises(StageOutputError, match="CSV saves a polars or pandas DataFrame, got list"):
        loaders.CSV().save([1, 2], tmp_path / "out.csv")


# --- Parquet ----------------------------------------------------------------------------


def test_parquet_round_trips_a_pandas_frame_with_its_index(tmp_path: Path) -> None:
    target = tmp_path / "out.parquet"
    frame = pd.DataFrame({"a": [1.0, None]}, index=pd.Index(["x", "y"], name="key"))
    parquet = loaders.Parquet().for_type(pd.DataFrame)
    parquet.save(frame, target)
    pd.testing.assert_frame_equal(parquet.load(target), frame)


def test_parquet_reads_polars_by_default_whoever_wrote_it(tmp_path: Path) -> None:
    target = tmp_path / "out.parquet"
    loaders.Parquet(compression="uncompressed").save(pd.DataFrame({"a": [1, 2]}), target)
    frame = loaders.Parquet().load(target)
    assert isinstance(frame, pl.DataFrame)
    assert frame["a"].to_list() == [1, 2]
    loaders.Parquet().save(pl.DataFrame({"b": ["x"]}), target)
    assert loaders.Parquet(frame="pandas").load(target)["b"].tolist() == ["x"]


# --- JSONL ------------------------------------------------------------------------------


def test_jsonl_is_a_list_unless_the_annotation_names_a_frame(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_text('{"a": 1, "b": "x"}\n{"a": 2, "b": null}\n')
    assert loaders.JSONL().load(path) == [{"a": 1, "b": "x"}, {"a": 2, "b": None}]
    polars_frame = loaders.JSONL().for_type(pl.DataFrame).load(path)
    assert polars_frame.to_dicts() == [{"a": 1, "b": "x"}, {"a": 2, "b": None}]
    pandas_frame = loaders.JSONL().for_type(pd.DataFrame).load(path)
    pd.testing.assert_frame_equal(pandas_frame, pd.read_json(path, lines=True))


def test_jsonl_saves_frames_one_record_per_line(tmp_path: Path) -> None:
    target = tmp_path / "rows.jsonl"
    loaders.JSONL().save(pd.DataFrame({"a": [1, 2]}), target)
    assert target.read_text().splitlines() == ['{"a":1}', '{"a":2}']
    loaders.JSONL().save(pl.DataFrame({"a": [3]}), target)
    assert target.read_text().splitlines() == ['{"a":3}']
    loaders.JSONL().save([{"a": 4}], target)
    assert target.read_text().splitlines() == ['{"a": 4}']


@pytest.mark.parametrize(
    ("loader", "expected"),
    [
        (loaders.JSONL(), list),
        (loaders.JSONL(frame="pandas"), pd.DataFrame),
        (loaders.CSV(), pl.DataFrame),
        (loaders.CSV(frame="pandas"), pd.DataFrame),
        (loaders.Parquet(frame="polars"), pl.DataFrame),
    ],
)
def test_an_incremental_output_starts_from_an_empty_value_of_its_kind(
    loader: loaders.Loader[Any], expected: type
) -> None:
    empty = loader.empty()
    assert type(empty) is expected and len(empty) == 0


# --- registration -----------------------------------------------------------------------


class Tables(TypedDict):
    clean: Annotated[pd.DataFrame, pivot.Out("clean.parquet", loaders.Parquet())]
    rows: Annotated[list[Any], pivot.Out("rows.jsonl", loaders.JSONL())]


def typed_stage(
    raw: Annotated[pd.DataFrame, pivot.Dep("raw.csv", loaders.CSV())],
    fast: Annotated[pl.DataFrame, pivot.Dep("fast.csv", loaders.CSV())],
    loose: Annotated[Any, pivot.Dep("loose.csv", loaders.CSV())],
    parts: Annotated[list[pd.DataFrame], pivot.Dep(["p1.csv", "p2.csv"], loaders.CSV())],
) -> Tables:
    raise NotImplementedError


def single_out(
    raw: Annotated[pd.DataFrame, pivot.Dep("raw.csv", loaders.CSV())],
) -> Annotated[pd.DataFrame, pivot.Out("single.csv", loaders.CSV())]:
    raise NotImplementedError


def append(
    log: Annotated[pd.DataFrame, pivot.IncrementalOut("log.jsonl", loaders.JSONL())],
) -> Annotated[pd.DataFrame, pivot.IncrementalOut("log.jsonl", loaders.JSONL())]:
    raise NotImplementedError


class Train(StageDef):
    data: Dep[pd.DataFrame] = Dep("clean.csv", loaders.CSV())
    table: Out[pd.DataFrame] = Out("table.parquet", loaders.Parquet())
    rows: Out[list[Any]] = Out("rows.jsonl", loaders.JSONL())
    epochs: int = 1


class TrainMore(Train):
    extra: Dep[pl.DataFrame] = Dep("extra.csv", loaders.CSV())


def train(p: TrainMore) -> None:
    raise NotImplementedError


def test_registration_configures_deps_and_outs_from_their_annotations() -> None:
    spec = build_stage_spec(typed_stage)
    assert {dep.arg: dep.loader.frame for dep in spec.deps} == {  # type: ignore[attr-defined]
        "raw": "pandas",
        "fast": "polars",
        "loose": None,
        "parts": "pandas",
    }
    assert {out.key: out.loader for out in spec.outs} == {
        "clean": loaders.Parquet(frame="pandas"),
        "rows": loaders.JSONL(),
    }
    single = build_stage_spec(single_out)
    assert single.outs[0].loader == loaders.CSV(frame="pandas")
    assert isinstance(single.outs[0].marker, pivot.Out)


def test_registration_configures_incremental_outputs_on_both_sides() -> None:
    spec = build_stage_spec(append)
    assert spec.incremental_args[0].loader == loaders.JSONL(frame="pandas")
    assert spec.outs[0].loader == loaders.JSONL(frame="pandas")
    assert isinstance(spec.outs[0].marker, pivot.IncrementalOut)


def test_registration_reads_stagedef_attribute_annotations_inherited_ones_too() -> None:
    spec = build_stage_spec(train)
    assert {dep.arg: dep.loader for dep in spec.deps} == {
        "data": loaders.CSV(frame="pandas"),
        "extra": loaders.CSV(frame="polars"),
    }
    assert {out.key: out.loader for out in spec.outs} == {
        "table": loaders.Parquet(frame="pandas"),
        "rows": loaders.JSONL(),
    }
    assert set(TrainMore.model_fields) == {"epochs"}


def polars_single_out(
    raw: Annotated[pl.DataFrame, pivot.Dep("raw.csv", loaders.CSV())],
) -> Annotated[pl.DataFrame, pivot.Out("single.csv", loaders.CSV())]:
    raise NotImplementedError


def test_the_frame_kind_is_part_of_the_fingerprinted_loader_configuration() -> None:
    """Retyping a dep changes ``loader-config:CSV``, not only the function's source."""
    configs = []
    for func in (single_out, polars_single_out):
        spec = build_stage_spec(func)
        manifest = fingerprint_stage(
            spec.func, project_root=REPO, extra_objects=spec.loaders()
        ).manifest
        configs.append(manifest["loader-config:CSV"])
    assert configs[0] != configs[1]
