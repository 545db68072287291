"""Both authoring styles, every built-in loader, and the ways a pipeline can be wrong."""

from __future__ import annotations

import json
import pickle

import polars as pl
import pytest
import yaml

from tests.helpers import TempProject

BOTH_STYLES = """
import pathlib
from typing import Annotated, TypedDict
import polars as pl
import pivot
from pivot import loaders, outputs
from pivot.registry import REGISTRY

pipeline = pivot.Pipeline("demo")

class CleanOut(TypedDict):
    clean: Annotated[pl.DataFrame, pivot.Out("data/clean.csv", pivot.loaders.CSV())]
    rows: Annotated[dict, pivot.Out("data/rows.json", pivot.loaders.JSON())]

def clean(raw: Annotated[pl.DataFrame, pivot.Dep("data/raw.csv", pivot.loaders.CSV())]) -> CleanOut:
    out = raw.drop_nulls()
    return CleanOut(clean=out, rows={"rows": out.height})

pipeline.register(clean)

def to_parquet(df: Annotated[pl.DataFrame, outputs.Dep("data/clean.csv", loaders.CSV())]) -> Annotated[pl.DataFrame, outputs.Out("data/clean.parquet", loaders.Parquet())]:
    return df

REGISTRY.register(to_parquet)

@REGISTRY.register
def many(parts: Annotated[list[str], outputs.Dep(["parts/a.txt", "parts/b.txt"], loaders.Text())]) -> Annotated[str, outputs.Out("joined.txt", loaders.Text())]:
    return "+".join(p.strip() for p in parts)
"""


def test_both_styles_and_list_deps(project: TempProject) -> None:
    project.write("pipeline.py", BOTH_STYLES)
    project.write("data/raw.csv", "a,b\n1,2\n3,\n5,6\n")
    project.write("parts/a.txt", "A\n")
    project.write("parts/b.txt", "B\n")
    assert project.statuses() == {"clean": "ran", "to_parquet": "ran", "many": "ran"}
    assert json.loads(project.read("data/rows.json")) == {"rows": 2}
    assert pl.read_parquet(project.root / "data/clean.parquet").to_dicts() == [
        {"a": 1, "b": 2},
        {"a": 5, "b": 6},
    ]
    assert project.read("joined.txt") == "A+B"
    project.write("parts/b.txt", "C\n")
    assert project.statuses() == {"clean": "skipped", "to_parquet": "skipped", "many": "ran"}


def test_dep_and_out_are_the_same_objects_in_both_modules() -> None:
    import pivot
    from pivot import outputs

    assert pivot.Dep is outputs.Dep and pivot.Out is outputs.Out


LOADERS = """
import dataclasses, pathlib
from typing import Annotated, TypedDict
import pivot
from pivot import loaders

@dataclasses.dataclass(frozen=True)
class Upper(loaders.Loader[str]):
    def load(self, path):
        return path.read_text().upper()
    def save(self, value, path):
        path.write_text(value.upper())

class Outs(TypedDict):
    y: Annotated[dict, pivot.Out("o/x.yaml", loaders.YAML())]
    p: Annotated[object, pivot.Out("o/x.pkl", loaders.Pickle())]
    l: Annotated[list, pivot.Out("o/x.jsonl", loaders.JSONL())]
    t: Annotated[str, pivot.Out("o/x.txt", loaders.Text())]
    u: Annotated[str, pivot.Out("o/x.up", Upper())]
    raw: Annotated[pathlib.Path, pivot.Out("o/raw.bin", loaders.PathOnly())]

def produce(src: Annotated[pathlib.Path, pivot.Dep("in.bin", loaders.PathOnly())]) -> Outs:
    pathlib.Path("o/raw.bin").write_bytes(src.read_bytes()[::-1])
    return Outs(y={"k": [1, 2]}, p={"set": {1, 2}}, l=[{"a": 1}, {"b": 2}], t="text", u="shout", raw=pathlib.Path("o/raw.bin"))

def consume(
    y: Annotated[dict, pivot.Dep("o/x.yaml", loaders.YAML())],
    p: Annotated[object, pivot.Dep("o/x.pkl", loaders.Pickle())],
    l: Annotated[list, pivot.Dep("o/x.jsonl", loaders.JSONL())],
    u: Annotated[str, pivot.Dep("o/x.up", Upper())],
) -> Annotated[dict, pivot.Out("summary.json", loaders.JSON())]:
    return {"y": y, "p": sorted(p["set"]), "l": l, "u": u}

pl = pivot.Pipeline("loaders")
pl.register(produce)
pl.register(consume)
"""


def test_every_builtin_loader_and_a_custom_one(project: TempProject) -> None:
    project.write("pipeline.py", LOADERS)
    (project.root / "in.bin").write_bytes(b"\x00\x01\x02")
    assert project.statuses() == {"produce": "ran", "consume": "ran"}
    assert yaml.safe_load(project.read("o/x.yaml")) == {"k": [1, 2]}
    assert pickle.loads((project.root / "o/x.pkl").read_bytes()) == {"set": {1, 2}}
    assert project.read("o/x.jsonl").splitlines() == ['{"a": 1}', '{"b": 2}']
    assert (project.root / "o/raw.bin").read_bytes() == b"\x02\x01\x00"
    assert json.loads(project.read("summary.json")) == {
        "y": {"k": [1, 2]},
        "p": [1, 2],
        "l": [{"a": 1}, {"b": 2}],
        "u": "SHOUT",
    }


def test_path_only_output_must_exist(project: TempProject) -> None:
    project.write(
        "pipeline.py",
        """
        import pathlib
        from typing import Annotated
        import pivot

        def lazy() -> Annotated[pathlib.Path, pivot.Out("never.bin", pivot.loaders.PathOnly())]:
            return pathlib.Path("never.bin")

        pivot.Pipeline("p").register(lazy)
        """,
    )
    proc = project.pivot("--no-tui", "run", check=1)
    assert "did not write its output 'never.bin'" in proc.stdout
    assert not (project.root / ".pivot/stages/lazy.lock").exists()


def test_directory_out_both_ways(project: TempProject) -> None:
    project.write(
        "pipeline.py",
        """
        import pathlib
        from typing import Annotated
        import pivot
        from pivot import loaders

        def shards() -> Annotated[dict, pivot.DirectoryOut("shards", loaders.JSON())]:
            return {"a.json": {"i": 1}, "sub/b.json": {"i": 2}}

        def images() -> Annotated[pathlib.Path, pivot.DirectoryOut("images")]:
            for i in range(3):
                pathlib.Path(f"images/{i}.txt").write_text(str(i))
            return pathlib.Path("images")

        def count(d: Annotated[pathlib.Path, pivot.Dep("shards")]) -> Annotated[dict, pivot.Out("count.json", loaders.JSON())]:
            return {"n": len(list(d.rglob("*.json")))}

        p = pivot.Pipeline("p")
        for f in (shards, images, count):
            p.register(f)
        """,
    )
    assert project.statuses() == {"shards": "ran", "images": "ran", "count": "ran"}
    assert json.loads(project.read("count.json")) == {"n": 2}
    assert "files:" in project.lock("shards") and "sub/b.json" in project.lock("shards")
    import shutil

    shutil.rmtree(project.root / "images")
    (project.root / "shards" / "a.json").unlink()
    statuses = project.statuses()
    assert statuses["images"] == "restored"
    assert statuses["shards"] == "ran"  # a folder with a missing file was modified, not missing
    assert sorted(p.name for p in (project.root / "images").iterdir()) == [
        "0.txt",
        "1.txt",
        "2.txt",
    ]


def test_helpers_module_beside_pipeline_needs_no_pythonpath(project: TempProject) -> None:
    project.write("mylib/__init__.py", "")
    project.write("mylib/text.py", "def shout(s):\n    return s.upper()\n")
    project.write(
        "pipeline.py",
        """
        from typing import Annotated
        import pivot
        from mylib.text import shout

        def greet() -> Annotated[str, pivot.Out("greeting.txt", pivot.loaders.Text())]:
            return shout("hi")

        pivot.Pipeline("p").register(greet)
        """,
    )
    project.pivot("run")
    assert project.read("greeting.txt") == "HI"


def _one_line_error(project: TempProject, *args: str) -> str:
    proc = project.pivot("--no-tui", *(args or ("run",)), check=2)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in proc.stderr
    return lines[0]


STAGE = """
def {name}({args}) -> Annotated[str, pivot.Out("{out}", pivot.loaders.Text())]:
    return "x"
p.register({name})
"""


def _pipeline(*stages: tuple[str, str, str]) -> str:
    head = "from typing import Annotated\nimport pivot\np = pivot.Pipeline('p')\n"
    body = ""
    for name, deps, out in stages:
        args = ", ".join(
            f"d{i}: Annotated[str, pivot.Dep('{d}', pivot.loaders.Text())]"
            for i, d in enumerate(deps.split())
            if d
        )
        body += STAGE.format(name=name, args=args, out=out)
    return head + body


@pytest.mark.parametrize(
    ("stages", "expected"),
    [
        ([("a", "b.txt", "a.txt"), ("b", "a.txt", "b.txt")], "cycle"),
        ([("a", "", "x.txt"), ("b", "", "x.txt")], "two stages write 'x.txt': 'a' and 'b'"),
        (
            [("a", "missing.txt", "a.txt")],
            "stage 'a' depends on 'missing.txt', which no stage produces",
        ),
        ([("a", "", "../outside.txt")], "outside the project"),
        ([("a", "/etc/passwd", "a.txt")], "outside the project"),
        ([("a", "a.txt", "a.txt")], "which it writes itself"),
    ],
)
def test_graph_errors_are_one_line_exit_2(
    project: TempProject, stages: list[tuple[str, str, str]], expected: str
) -> None:
    project.write("pipeline.py", _pipeline(*stages))
    assert expected in _one_line_error(project)
    assert expected in _one_line_error(project, "status")


def test_cycle_message_names_the_stages(project: TempProject) -> None:
    project.write("pipeline.py", _pipeline(("a", "b.txt", "a.txt"), ("b", "a.txt", "b.txt")))
    line = _one_line_error(project)
    assert "a -> b" in line or "b -> a" in line


def test_bad_stage_name(project: TempProject) -> None:
    project.write(
        "pipeline.py",
        """
        from typing import Annotated
        import pivot

        def f() -> Annotated[str, pivot.Out("x.txt", pivot.loaders.Text())]:
            return "x"

        pivot.Pipeline("p").register(f, name="bad name/with slash")
        """,
    )
    assert "bad stage name 'bad name/with slash'" in _one_line_error(project)


def test_broken_pipeline_file(project: TempProject) -> None:
    project.write("pipeline.py", "def broken(:\n    pass\n")
    assert "pipeline.py:1: syntax error" in _one_line_error(project)
    project.write("pipeline.py", "import pivot\nraise RuntimeError('nope')\n")
    line = _one_line_error(project)
    assert "pipeline.py:2" in line and "RuntimeError: nope" in line


def test_unannotated_parameter_is_rejected(project: TempProject) -> None:
    project.write(
        "pipeline.py",
        """
        import pivot

        def f(x) -> None:
            pass

        pivot.Pipeline("p").register(f)
        """,
    )
    assert "parameter 'x' needs Annotated" in _one_line_error(project)


def test_unknown_stage_name_on_the_command_line(project: TempProject) -> None:
    project.write("pipeline.py", _pipeline(("a", "", "a.txt")))
    assert "unknown stage 'zzz'" in _one_line_error(project, "run", "zzz")
