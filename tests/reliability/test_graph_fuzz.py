"""Bad pipeline definitions never get past the graph builder as anything but one typed error.

Hypothesis generates random sets of stages (random deps and outs drawn from a small pool of
path pieces, so collisions are common: cycles, two stages writing one file, a stage reading
its own output, folder outputs containing another stage's file, ``..``, absolute paths inside
and outside the project, empty paths, control characters, duplicate and invalid stage names)
and registers them through the real authoring API (``Pipeline.register`` on annotated
functions), then runs discovery's path normalization (``collect``) and ``build_graph``.

Either the result is a DAG whose order puts every producer before every stage that reads its
output (or a folder holding it, or a file inside it), or the builder raised one PivotError
with exit code 2 and a one-line message. No other exception type is allowed.

A few CLI cases at the end show what the user sees for a cycle, a doubly written output and a
path outside the project: one ``error:`` line, exit 2, nothing written.
"""

from __future__ import annotations

import inspect
import os
import posixpath
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from pivot import registry
from pivot.core.pipeline.discovery import PipelineDefinition, collect
from pivot.core.pipeline.graph import StageGraph, build_graph
from pivot.core.store.paths import is_within
from pivot.exceptions import PivotError
from pivot.outputs import Dep, DirectoryOut, IncrementalOut, Metric, Out
from tests.helpers import TempProject

#: Graph building never touches the disk, so the project root need not exist.
ROOT = Path("/fuzz/project")

PIECES = ["a", "b", "c", "x.txt", "out", "dir/", "é", "a b"]
BAD_NAMES = ["two words", "@x", "a@b@c", "1st"]
KINDS: list[Callable[[str], Out[Any]]] = [Out, Out, DirectoryOut, IncrementalOut, Metric]
#: How a drawn path may be damaged (in a pipeline drawn as "damaged"; the others keep every
#: path plain, so that they get as far as the graph and collide there).
FORMS = ["plain"] * 12 + [
    "dotdot",
    "dot",
    "trailing-dotdot",
    "pivot-dir",
    "abs-in",
    "abs-out",
    "empty",
    "control",
]


@st.composite
def paths(draw: st.DrawFn, damaged: bool) -> str:
    """A project-relative path from a small pool of pieces (so stages collide); when
    ``damaged``, now and then with ``..``, ``.``, absolute inside or outside the project,
    empty, under ``.pivot/``, or with a control character."""
    rel = "/".join(draw(st.lists(st.sampled_from(PIECES), min_size=1, max_size=2)))
    form = draw(st.sampled_from(FORMS)) if damaged else "plain"
    return {
        "plain": rel,
        "dotdot": f"../{rel}",
        "dot": f"./{rel}/.",
        "trailing-dotdot": f"{rel}/../..",
        "pivot-dir": f".pivot/{rel}",
        "abs-in": f"{ROOT}/{rel}",
        "abs-out": f"/elsewhere/{rel}",
        "empty": "",
        "control": rel + draw(st.sampled_from(["\n", "\x00", "\t", "\r"])) + "z",
    }[form]


Deps = list[list[str]]
Outs = list[tuple[int, str]]
StageDefs = list[tuple[str, Deps, Outs]]


@st.composite
def pipelines(draw: st.DrawFn) -> StageDefs:
    """1-6 stages named s0, s1, ... over a shared pool of artifact paths. Usually each path
    has at most one producer (so examples reach the edges: cycles, self-reads, nesting);
    sometimes outputs are drawn freely (double producers). Sometimes two stages share a name
    or one has an invalid name."""
    damaged = draw(st.booleans())
    pool = draw(st.lists(paths(damaged), min_size=1, max_size=8, unique=True))
    count = draw(st.integers(1, 6))
    indexes = st.integers(0, len(pool) - 1)
    outs: list[Outs] = [[] for _ in range(count)]
    if draw(st.integers(0, 4)):
        for path in pool:
            owner = draw(st.integers(-1, count - 1))  # -1: a source file no stage writes
            if owner >= 0:
                outs[owner].append((draw(st.integers(0, len(KINDS) - 1)), path))
    else:
        for stage_outs in outs:
            for index in draw(st.lists(indexes, max_size=3)):
                stage_outs.append((draw(st.integers(0, len(KINDS) - 1)), pool[index]))
    deps: list[Deps] = []
    for stage_outs in outs:
        own = {path for _, path in stage_outs}
        # Mostly read what others write (cycles need that); sometimes anything (self-reads).
        readable = [p for p in pool if p not in own] or pool
        choice = st.sampled_from(readable if draw(st.integers(0, 4)) else pool)
        groups = draw(st.lists(st.lists(choice, min_size=1, max_size=2), max_size=3))
        deps.append([list(group) for group in groups])
    names = [f"s{index}" for index in range(count)]
    twist = draw(st.sampled_from(["none"] * 18 + ["duplicate", "bad-name"]))
    if twist == "duplicate" and count > 1:
        names[-1] = names[0]
    elif twist == "bad-name":
        names[-1] = draw(st.sampled_from(BAD_NAMES))
    return list(zip(names, deps, outs, strict=True))


def _stage_function(name: str, deps: Deps, outs: Outs) -> Callable[..., Any]:
    """A function annotated as a user would write it: one Annotated Dep per parameter (a list
    of paths for a multi-path dep), a TypedDict of Annotated outputs as its return type."""

    def stage(**kwargs: Any) -> None:
        return None

    annotations: dict[str, Any] = {}
    params = []
    for index, dep_paths in enumerate(deps):
        arg = f"d{index}"
        marker = Dep(dep_paths[0]) if len(dep_paths) == 1 else Dep(dep_paths)
        annotations[arg] = Annotated[Any, marker]
        params.append(inspect.Parameter(arg, inspect.Parameter.KEYWORD_ONLY))
    if outs:
        fields = {f"o{i}": Annotated[Any, KINDS[kind](path)] for i, (kind, path) in enumerate(outs)}
        annotations["return"] = TypedDict(f"Out_{len(fields)}", fields)
    else:
        annotations["return"] = None
    stage.__signature__ = inspect.Signature(params)
    stage.__annotations__ = annotations
    stage.__name__ = stage.__qualname__ = name or "unnamed"
    return stage


def _build(stages: StageDefs) -> tuple[PipelineDefinition, StageGraph]:
    registry.begin_collection()
    pipeline = registry.Pipeline("fuzz")
    for name, deps, outs in stages:
        pipeline.register(_stage_function(name, deps, outs), name=name)
    definition = collect(ROOT)
    return definition, build_graph(definition)


@pytest.fixture(autouse=True)
def _fresh_registry() -> Iterator[None]:
    registry.begin_collection()
    yield
    registry.begin_collection()


def _related(dep: str, out: str) -> bool:
    """The graph's edge rule: the dep is the output, lies inside it, or contains it."""
    return is_within(dep, out) or is_within(out, dep)


def _assert_clean(path: str) -> None:
    assert path and not path.startswith("/"), path
    assert posixpath.normpath(path) == path, path
    assert ".." not in path.split("/") and path != "."
    assert path.split("/")[0] != ".pivot", path
    assert not any(ch < " " or ch == "\x7f" for ch in path), repr(path)


def _must_fail(stages: StageDefs) -> str | None:
    """An independent reason the definition cannot be valid, when one is easy to see."""
    names = [name for name, _, _ in stages]
    if len(set(names)) != len(names):
        return "duplicate stage name"
    if any(not registry.STAGE_NAME.match(name) for name in names):
        return "bad stage name"
    every_path = [p for _, deps, outs in stages for ps in deps for p in ps] + [
        p for _, _, outs in stages for _, p in outs
    ]
    for path in every_path:
        if not path or any(ch < " " for ch in path):
            return "empty path or control character"
        if path.startswith("/elsewhere/"):
            return "absolute path outside the project"
        rel = path.removeprefix(f"{ROOT}/") if path.startswith(f"{ROOT}/") else path
        normal = posixpath.normpath(rel)
        if normal in (".", "..") or normal.startswith("../") or normal.split("/")[0] == ".pivot":
            return "path outside the project or inside .pivot"
    return None


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(pipelines())
def test_graph_builder_builds_a_valid_dag_or_raises_one_typed_error(stages: StageDefs) -> None:
    try:
        definition, graph = _build(stages)
    except PivotError as exc:
        message = str(exc)
        event(f"refused: {type(exc).__name__}: {message.split(':')[0].split(chr(39))[0]}")
        assert exc.exit_code == 2, f"{type(exc).__name__} exits {exc.exit_code}: {message}"
        assert message and "\n" not in message and "\r" not in message, repr(message)
        return
    except Exception as exc:  # pragma: no cover - the failure this test exists to catch
        pytest.fail(f"graph builder raised {type(exc).__name__}, not a PivotError: {exc!r}")

    event(f"built a DAG of {len(graph.order)} stages")
    reason = _must_fail(stages)
    assert reason is None, f"accepted a definition with a {reason}: {stages!r}"

    assert sorted(graph.order) == sorted(definition.stages)
    position = {name: index for index, name in enumerate(graph.order)}
    producers: dict[str, str] = {}
    for spec in definition.stages.values():
        for path in (*spec.dep_paths, *spec.out_paths):
            _assert_clean(path)
        for path in spec.out_paths:
            assert producers.setdefault(path, spec.name) == spec.name, f"two producers: {path}"
    for outer, outer_stage in producers.items():
        for inner, inner_stage in producers.items():
            if inner != outer and is_within(inner, outer):
                assert inner_stage == outer_stage, f"{inner} nested in another stage's {outer}"
    for spec in definition.stages.values():
        for dep in spec.dep_paths:
            for out, producer in producers.items():
                if _related(dep, out):
                    assert producer != spec.name, f"{spec.name} reads its own output {out}"
                    assert position[producer] < position[spec.name], (
                        f"{producer} writes {out} but runs after {spec.name}, which reads {dep}"
                    )
                    assert producer in graph.upstream[spec.name]


def test_named_shapes_raise_their_own_errors() -> None:
    """The shapes the brief names, once each, with the error they must produce."""
    cases: list[tuple[StageDefs, str]] = [
        ([("s0", [["b"]], [(0, "a")]), ("s1", [["a"]], [(0, "b")])], "cycle"),
        ([("s0", [], [(0, "x.txt")]), ("s1", [], [(0, "./x.txt")])], "two stages write"),
        ([("s0", [["a/x.txt"]], [(2, "a")])], "which it writes itself"),
        ([("s0", [], [(2, "out/a")]), ("s1", [], [(0, "out/a/b.txt")])], "inside the output"),
        ([("s0", [], [(0, "../up.txt")])], "outside the project"),
        ([("s0", [], [(0, "/etc/passwd")])], "outside the project"),
        ([("s0", [["a/../../b"]], [])], "outside the project"),
        ([("s0", [[""]], [])], "empty path"),
        ([("s0", [], [(0, ".pivot/x")])], ".pivot"),
        ([("s0", [], [(0, "a\nb")])], "control character"),
        ([("s0", [], [(0, "x"), (1, "x")])], "twice"),
    ]
    for stages, expected in cases:
        with pytest.raises(PivotError) as info:
            _build(stages)
        assert expected in str(info.value), (stages, str(info.value))
        assert info.value.exit_code == 2
        assert "\n" not in str(info.value)
    definition, _ = _build([("s0", [], [(0, f"{ROOT}/inside.txt")])])
    assert definition["s0"].out_paths == ("inside.txt",)


# -- through the CLI -------------------------------------------------------------------------

HEADER = """
from typing import Annotated
import pivot
from pivot import loaders

pipeline = pivot.Pipeline("bad")
"""


def _stage(name: str, dep: str | None, out: str) -> str:
    arg = f"raw: Annotated[str, pivot.Dep({dep!r}, loaders.Text())]" if dep else ""
    body = "raw" if dep else "'x'"
    return (
        f"\ndef {name}({arg}) -> Annotated[str, pivot.Out({out!r}, loaders.Text())]:\n"
        f"    return {body}\n\npipeline.register({name})\n"
    )


def _snapshot(root: Path) -> dict[str, bytes]:
    """Every file of the project outside .git and Pivot's local state."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in (".git", "state.lmdb", "logs")]
        for name in filenames:
            path = Path(dirpath) / name
            if name != "run.lock":
                found[path.relative_to(root).as_posix()] = path.read_bytes()
    return found


@pytest.mark.parametrize(
    ("stages", "expected"),
    [
        pytest.param(
            _stage("first", "b.txt", "a.txt") + _stage("second", "a.txt", "b.txt"),
            "the stages form a cycle: ",
            id="cycle",
        ),
        pytest.param(
            _stage("first", None, "same.txt") + _stage("second", None, "same.txt"),
            "two stages write 'same.txt': 'first' and 'second'",
            id="duplicate-output",
        ),
        pytest.param(
            _stage("escape", None, "../escaped.txt"),
            "stage 'escape': path '../escaped.txt' is outside the project",
            id="outside-project",
        ),
        pytest.param(
            _stage("loop", "loop.txt", "loop.txt"),
            "stage 'loop' reads 'loop.txt', which it writes itself",
            id="reads-own-output",
        ),
    ],
)
def test_cli_shows_one_line_and_exits_2(project: TempProject, stages: str, expected: str) -> None:
    project.write("pipeline.py", HEADER + stages)
    before = _snapshot(project.root)
    for command in (["--no-tui", "run"], ["status"], ["dag"]):
        proc = project.pivot(*command, check=2)
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        assert lines == [lines[0]] and lines[0].startswith("error: "), proc.stderr
        assert expected in lines[0], lines[0]
        assert "Traceback" not in proc.stdout + proc.stderr
    assert _snapshot(project.root) == before
    assert not (project.root.parent / "escaped.txt").exists()
