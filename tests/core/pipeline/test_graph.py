"""The stage graph: edges come from paths, one line of GraphError for every impossible pipeline.

A stage depends on another when one of its deps is, lies inside, or contains one of the other's
outputs. Each test writes a real ``pipeline.py`` (see :func:`write_stages`) and loads it
through the real discovery, which normalizes the paths the graph compares.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import pytest

from pivot.core.pipeline.discovery import PipelineDefinition
from pivot.core.pipeline.graph import StageGraph, build_graph, check_sources_exist
from pivot.exceptions import GraphError
from tests.core.conftest import InProcessProject

Stage = tuple[Sequence[str], Sequence[str]]


def stage_source(name: str, deps: Sequence[str], outs: Sequence[str]) -> str:
    """A stage reading ``deps`` (as paths) and writing ``outs`` (paths it writes itself)."""
    args = f"deps: Annotated[list[Path], Dep({list(deps)!r})]" if deps else ""
    if not outs:
        returns = "None"
        lines = []
    elif len(outs) == 1:
        returns = f"Annotated[Path, Out({outs[0]!r})]"
        lines = []
    else:
        returns = f"Outs_{name}"
        fields = [f"    o{i}: Annotated[Path, Out({out!r})]" for i, out in enumerate(outs)]
        lines = [f"class Outs_{name}(TypedDict):", *fields, ""]
    return "\n".join([*lines, f"def {name}({args}) -> {returns}: ...", ""])


def write_stages(proj: InProcessProject, **stages: Stage) -> None:
    """``pipeline.py`` registering one stage per keyword, ``name=(deps, outs)``, in order."""
    header = [
        "from pathlib import Path",
        "from typing import Annotated, TypedDict",
        "from pivot import Dep, Out, Pipeline",
        "",
    ]
    body = [stage_source(name, deps, outs) for name, (deps, outs) in stages.items()]
    register = [f"pipeline.register({name})" for name in stages]
    proj.write("pipeline.py", "\n".join([*header, *body, "pipeline = Pipeline('g')", *register]))


def graph_of(proj: InProcessProject, **stages: Stage) -> StageGraph:
    write_stages(proj, **stages)
    return build_graph(proj.load())


def graph_error(proj: InProcessProject, **stages: Stage) -> str:
    """The one-line message of the GraphError the stages raise."""
    write_stages(proj, **stages)
    pipeline = proj.load()
    with pytest.raises(GraphError) as exc:
        build_graph(pipeline)
    message = str(exc.value)
    assert "\n" not in message
    return message


def check_sources(proj: InProcessProject, *names: str) -> None:
    pipeline: PipelineDefinition = proj.load()
    check_sources_exist(pipeline, build_graph(pipeline), names or pipeline.stages)


# -- edges -------------------------------------------------------------------------------------


def test_a_stage_reading_another_stages_output_depends_on_it(proj: InProcessProject) -> None:
    graph = graph_of(proj, make=(["raw.txt"], ["a.json"]), use=(["a.json"], ["b.txt"]))
    assert graph.upstream == {"make": frozenset(), "use": frozenset({"make"})}
    assert graph.downstream == {"make": frozenset({"use"}), "use": frozenset()}
    assert graph.producer == {"a.json": "make", "b.txt": "use"}


def test_a_dep_inside_an_output_folder_depends_on_the_folders_producer(
    proj: InProcessProject,
) -> None:
    graph = graph_of(proj, shard=([], ["data"]), read=(["data/part-0/x.csv"], ["y"]))
    assert graph.upstream["read"] == {"shard"}
    assert graph.producer_of("data/part-0/x.csv") == "shard"


def test_a_dep_folder_containing_outputs_depends_on_every_producer_inside(
    proj: InProcessProject,
) -> None:
    graph = graph_of(
        proj,
        a=([], ["data/a.csv"]),
        b=([], ["data/deep/b.csv"]),
        c=([], ["elsewhere.csv"]),
        merge=(["data"], ["merged.csv"]),
    )
    assert graph.upstream["merge"] == {"a", "b"}


def test_a_path_sharing_only_a_name_prefix_is_not_inside_a_folder(proj: InProcessProject) -> None:
    graph = graph_of(proj, shard=([], ["data"]), read=(["data2/x.csv", "database.csv"], ["y"]))
    assert graph.upstream["read"] == frozenset()


def test_a_dep_no_stage_writes_is_a_source_without_edges(proj: InProcessProject) -> None:
    graph = graph_of(proj, make=(["raw.txt"], ["a.json"]))
    assert graph.upstream == {"make": frozenset()}
    assert graph.producer_of("raw.txt") is None


def test_paths_are_compared_after_normalization(proj: InProcessProject) -> None:
    graph = graph_of(proj, make=([], ["./data/../data/a.json"]), use=(["data//a.json"], ["b"]))
    assert graph.producer == {"data/a.json": "make", "b": "use"}
    assert graph.upstream["use"] == {"make"}


def test_an_incremental_output_is_not_a_dependency_on_itself(proj: InProcessProject) -> None:
    proj.write(
        "pipeline.py",
        """
        from pathlib import Path
        from typing import Annotated
        import pivot

        def grow(log: Annotated[Path, pivot.IncrementalOut("log.txt")]) -> None: ...

        def read(log: Annotated[Path, pivot.Dep("log.txt")]) -> Annotated[Path, pivot.Out("n")]: ...

        pipeline = pivot.Pipeline("inc")
        pipeline.register(grow)
        pipeline.register(read)
        """,
    )
    graph = build_graph(proj.load())
    assert graph.upstream == {"grow": frozenset(), "read": frozenset({"grow"})}


# -- order -------------------------------------------------------------------------------------


def test_the_order_puts_every_stage_after_its_upstream(proj: InProcessProject) -> None:
    graph = graph_of(
        proj,
        report=(["model"], ["report.md"]),
        train=(["clean.csv"], ["model"]),
        clean=(["raw.csv"], ["clean.csv"]),
    )
    assert graph.order == ("clean", "train", "report")


def test_independent_stages_keep_their_registration_order(proj: InProcessProject) -> None:
    graph = graph_of(proj, c=([], ["c"]), a=([], ["a"]), b=([], ["b"]))
    assert graph.order == ("c", "a", "b")


def test_ancestors_descendants_and_ordered_follow_the_edges(proj: InProcessProject) -> None:
    graph = graph_of(
        proj,
        a=([], ["a"]),
        b=(["a"], ["b"]),
        c=(["b"], ["c"]),
        side=(["a"], ["side"]),
        alone=([], ["alone"]),
    )
    assert graph.ancestors(["c"]) == {"a", "b", "c"}
    assert graph.descendants(["a"]) == {"a", "b", "c", "side"}
    ordered = graph.ordered({"c", "a", "side"})  # a subset, in a valid run order
    assert sorted(ordered) == ["a", "c", "side"] and ordered[0] == "a"


# -- impossible pipelines ----------------------------------------------------------------------


def test_a_cycle_is_a_graph_error_naming_the_stages_in_it(proj: InProcessProject) -> None:
    message = graph_error(
        proj,
        a=(["c.txt"], ["a.txt"]),
        b=(["a.txt"], ["b.txt"]),
        c=(["b.txt"], ["c.txt"]),
        after=(["c.txt"], ["after.txt"]),
    )
    match = re.fullmatch(r"the stages form a cycle: (.+); break it by .+", message)
    assert match is not None, message
    cycle = match.group(1).split(" -> ")
    assert cycle[0] == cycle[-1] and sorted(cycle[1:]) == ["a", "b", "c"]


def test_two_stages_writing_one_file_is_a_graph_error_naming_both(
    proj: InProcessProject,
) -> None:
    message = graph_error(proj, second=([], ["out.txt"]), first=([], ["./out.txt"]))
    assert message == (
        "two stages write 'out.txt': 'first' and 'second'; each output needs exactly one producer"
    )


def test_a_stage_declaring_one_output_twice_is_a_graph_error(proj: InProcessProject) -> None:
    message = graph_error(proj, make=([], ["out.txt", "out.txt"]))
    assert message == "stage 'make' declares the output 'out.txt' twice; declare it once"


def test_an_output_inside_another_stages_output_folder_is_a_graph_error(
    proj: InProcessProject,
) -> None:
    message = graph_error(proj, shard=([], ["data"]), extra=([], ["data/extra.csv"]))
    assert message == (
        "'data/extra.csv' (from 'extra') is inside the output folder 'data' of 'shard'; "
        "move one of them"
    )


@pytest.mark.parametrize(
    ("dep", "out"),
    [("out.txt", "out.txt"), ("data", "data/part.csv"), ("data/part.csv", "data")],
    ids=["its-output", "a-folder-holding-its-output", "inside-its-output-folder"],
)
def test_a_stage_reading_what_it_writes_is_told_to_use_incremental_out(
    proj: InProcessProject, dep: str, out: str
) -> None:
    message = graph_error(proj, loop=([dep], [out]))
    assert message.startswith(f"stage 'loop' reads '{dep}', which it writes itself")
    assert "IncrementalOut" in message


# -- missing sources ---------------------------------------------------------------------------


def test_a_dep_that_no_stage_writes_and_that_does_not_exist_is_a_graph_error(
    proj: InProcessProject,
) -> None:
    write_stages(proj, make=(["raw.txt"], ["a.json"]))
    with pytest.raises(GraphError) as exc:
        check_sources(proj)
    assert str(exc.value) == (
        "stage 'make' depends on 'raw.txt', which no stage produces and which does not exist; "
        "create it or fix the path"
    )


def test_a_dep_that_exists_in_the_workspace_is_a_valid_source(proj: InProcessProject) -> None:
    write_stages(proj, make=(["raw/in.txt"], ["a.json"]))
    proj.write("raw/in.txt", "x")
    check_sources(proj)


@pytest.mark.parametrize(
    "dep",
    ["a.json", "data/deep/file.csv", "folder"],
    ids=["an-output", "inside-an-output-folder", "a-folder-holding-an-output"],
)
def test_a_dep_a_stage_will_write_need_not_exist_yet(proj: InProcessProject, dep: str) -> None:
    write_stages(
        proj,
        a=([], ["a.json"]),
        d=([], ["data"]),
        f=([], ["folder/x.csv"]),
        use=([dep], ["out"]),
    )
    check_sources(proj)


def test_only_the_selected_stages_sources_are_checked(proj: InProcessProject) -> None:
    write_stages(proj, ok=([], ["a"]), broken=(["missing.txt"], ["b"]))
    check_sources(proj, "ok")
    with pytest.raises(GraphError, match=r"'broken' depends on 'missing\.txt'"):
        check_sources(proj, "broken")
