"""Every row of the change matrix (``docs/change-detection.md``), through the real CLI.

The unit tests in ``tests/core/pipeline/fingerprint/test_detection.py`` fingerprint ``pipeline.train``
in-process. Here each of their cases (the same ``DETECTED`` / ``NOT_DETECTED`` dicts, reused
verbatim) becomes a real project: the case's files are written to a temp git repository, a
real Pivot stage that reaches ``train`` is appended to ``pipeline.py``, ``pivot run`` records
it, the case's edits are applied to the files on disk, and ``pivot status --json`` (a fresh
process) must say ``stale`` with the expected changed keys, or ``cached``. The warning cases of
``test_warnings.py`` are checked in the ``warnings`` of the status row.

Most case functions cannot be registered as they are (``def train(x)`` has no Dep for ``x``),
so the registered stage is a wrapper that *references* ``train``. ``train`` is then reached as a
helper instead of being the stage itself, which renames a few keys (see ``_cli_keys``).
Loaders and params models that the unit tests pass as extra objects are really used by the
stage here: a loader reads a Dep, a params model is the stage's params argument.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import py_compile
import shutil
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.core.pipeline.fingerprint import test_warnings
from tests.core.pipeline.fingerprint.test_detection import DETECTED, NOT_DETECTED, Case, case
from tests.helpers import TempProject, make_project

STAGE = "pivot_stage"

_HEADER = """

import pivot as _pivot
from typing import Annotated as _Annotated
"""

_OUT = '_Annotated[dict, _pivot.Out("out.json", _pivot.loaders.JSON())]'
_REGISTER = '_pivot.Pipeline("matrix").register(pivot_stage)\n'

#: How the stage really uses the extra objects of a case (the list named by ``Case.extra``):
#: "dep" = the first object is a loader, used to load a Dep of the stage;
#: "params" = the first object is a params model, the stage's params argument.
EXTRA_USES: dict[str, str] = {
    "loader-configuration": "dep",
    "custom-loader-code": "dep",
    "custom-loader-configuration": "dep",
    "params-model-default": "params",
}

#: Keys named after the stage itself in-process, named after the global ``train`` here.
_RENAMED_KEYS: dict[str, str] = {
    "self:train": "func:pipeline.train",
    # a partial stage: its bound arguments vs a partial reached as a module-level value
    "self:_train:args": "const:pipeline.train",
    # closure labels are the global a closure was reached through
    "closure:pipeline.make_stage.<locals>.train.n": "closure:pipeline.train.n",
    "closure:deco.retry.<locals>.decorate.<locals>.wrapper.times": "closure:pipeline.train.times",
}


#: Keys that change through the CLI on top of the case's own: the stage's Dep annotation reads
#: the case's EXTRA list, so an edit to the loader written in that list also changes the list's
#: value, a constant the stage reaches (in-process, the loader is handed over directly).
_ALSO_CHANGED: dict[str, set[str]] = {
    "loader-configuration": {"const:pipeline.EXTRA"},
    "custom-loader-configuration": {"const:pipeline.EXTRA"},
}


def _dedent(text: str) -> str:
    # the same normalization as FpProject.write in tests/core/pipeline/fingerprint/conftest.py
    return textwrap.dedent(text).lstrip("\n")


def _stage_source(name: str, spec: Case) -> tuple[str, dict[str, str]]:
    """The stage appended to pipeline.py, and the data files it needs."""
    if not spec.extra:
        return (
            f"{_HEADER}\n\ndef pivot_stage() -> {_OUT}:\n"
            f'    return {{"ref": callable(train)}}\n\n\n{_REGISTER}',
            {},
        )
    if name not in EXTRA_USES:
        raise AssertionError(
            f"case {name!r} passes extra objects: add it to EXTRA_USES so the CLI stage uses them"
        )
    if EXTRA_USES[name] == "dep":
        arg = f'data: _Annotated[object, _pivot.Dep("input.csv", {spec.extra}[0])]'
        files = {"input.csv": "a,b\n1,2\n"}
    else:
        arg = f"params: {spec.extra}[0]"
        files = {}
    return (
        f"{_HEADER}\n\ndef pivot_stage({arg}) -> {_OUT}:\n"
        f'    return {{"ref": callable(train), "used": type({arg.split(":")[0]}).__name__}}\n\n\n'
        f"{_REGISTER}",
        files,
    )


def _edit(root: Path, rel: str, old: str, new: str) -> None:
    """Replace exactly one occurrence of ``old``, like FpProject.edit."""
    path = root / rel
    text = path.read_text(encoding="utf-8")
    old = textwrap.dedent(old).strip("\n")
    new = textwrap.dedent(new).strip("\n")
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times in {rel}"
    path.write_text(text.replace(old, new), encoding="utf-8")


def _cli_keys(name: str, keys: frozenset[str]) -> set[str]:
    return {_RENAMED_KEYS.get(key, key) for key in keys} | _ALSO_CHANGED.get(name, set())


def _lock_code(project: TempProject) -> dict[str, str]:
    return yaml.safe_load(project.lock(STAGE))["code"]


def _run_case(project: TempProject, name: str, spec: Case) -> dict[str, Any]:
    """Write the case, run it, apply its edits; return the stage's `status --json` row."""
    stage, data = _stage_source(name, spec)
    for rel, text in spec.files.items():
        project.write(rel, _dedent(text))
    pipeline = project.root / "pipeline.py"
    pipeline.write_text(pipeline.read_text(encoding="utf-8") + stage, encoding="utf-8")
    for rel, text in data.items():
        project.write(rel, text)
    project.pivot("--no-tui", "run", "-j", "1")
    out = json.loads(project.read("out.json"))
    assert out["ref"] is True
    if spec.extra:  # CSV / Lines really loaded input.csv, or the params model was passed in
        assert out["used"] in {"DataFrame", "list", "TrainParams"}, out
    code = _lock_code(project)
    # the stage really reaches the case's train (else every case would be trivially cached)
    assert any(key.endswith("pipeline.train") or ".train." in key for key in code), sorted(code)
    for rel, old, new in spec.edits:
        _edit(project.root, rel, old, new)
    return project.status_json()[STAGE]


@pytest.fixture(autouse=True)
def _no_bytecode(monkeypatch: pytest.MonkeyPatch) -> None:
    # Edits land within a second of `pivot run`; with timestamp-validated .pyc files the next
    # process may import stale bytecode (test_same_second_edit_with_bytecode_cache). The matrix
    # is about fingerprinting, so, like tests/core/pipeline/fingerprint/conftest.py, write no bytecode.
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")


@pytest.fixture(scope="module")
def _template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_project(tmp_path_factory.mktemp("template") / "proj").root


@pytest.fixture
def project(_template: Path, tmp_path: Path) -> TempProject:
    """A copy of one `pivot init`-ed git project (one `init` per module, not per case)."""
    root = tmp_path / "proj"
    shutil.copytree(_template, root, symlinks=True)
    return TempProject(root)


# ---- the case dicts of test_detection.py: detected / not detected


@pytest.mark.parametrize("name", sorted(DETECTED))
def test_detected(project: TempProject, name: str) -> None:
    _assert_stale(_run_case(project, name, DETECTED[name]), _cli_keys(name, DETECTED[name].changed))


@pytest.mark.parametrize("name", sorted(NOT_DETECTED))
def test_not_detected(project: TempProject, name: str) -> None:
    row = _run_case(project, name, NOT_DETECTED[name])
    assert row["status"] == "cached", row
    assert row["reason"] == "up to date"
    assert row["changes"] == []
    assert row["warnings"] == []


def _assert_stale(row: dict[str, Any], keys: set[str]) -> None:
    assert row["status"] == "stale", row
    assert row["reason"].startswith("code changed: "), row
    changed = {change["key"] for change in row["changes"] if change["kind"] == "code"}
    assert changed == keys, row
    assert row["reason"].removeprefix("code changed: ").split(", ")[0] in changed
    assert row["warnings"] == []


# ---- the parametrized warning cases of test_warnings.py


def _warning_cases() -> dict[str, tuple[str, str]]:
    """The (body, warning) parameters of test_dynamic_constructs_are_warned_with_location."""
    (mark,) = [
        m
        for m in test_warnings.test_dynamic_constructs_are_warned_with_location.pytestmark
        if m.name == "parametrize"
    ]
    return dict(zip(mark.kwargs["ids"], mark.args[1], strict=True))


WARNED = _warning_cases()


@pytest.mark.parametrize("name", sorted(WARNED))
def test_warned(project: TempProject, name: str) -> None:
    body, warning = WARNED[name]
    # the project written by test_dynamic_constructs_are_warned_with_location
    files = {
        "helpers.py": test_warnings.HELPERS,
        "pipeline.py": "import importlib\nfrom importlib import import_module\nimport helpers\n"
        f"def train(name):\n    {body}\n",
    }
    _assert_warned(_run_case(project, name, case(files, [], set())), [warning])


def _assert_warned(row: dict[str, Any], warnings: list[str]) -> None:
    # in-process the stage is `train`; here warnings name the registered stage
    assert all(w.startswith("train: ") for w in warnings)
    assert row["warnings"] == [f"{STAGE}: {w.removeprefix('train: ')}" for w in warnings]
    assert row["status"] == "cached", row


# ---- rows whose unit test is not a case dict: the same projects, written out here

OTHER_DETECTED: dict[str, Case] = {
    # test_warnings.py::test_recursive_stage_terminates
    "recursive-stage": case(
        {"pipeline.py": "def train(n):\n    return train(n - 1) if n else 0\n"},
        [("pipeline.py", "else 0", "else 1")],
        {"self:train"},
    ),
    # test_warnings.py::test_weird_values_do_not_crash (there: no crash; here: an edit of one)
    "values-without-canonical-repr": case(
        {
            "pipeline.py": """
                import logging
                import re
                import threading


                class Anything:
                    def __getattr__(self, name):
                        return self

                    def __call__(self, *args):
                        return self


                PROXY = Anything()
                LOOP = []
                LOOP.append(LOOP)
                LOCK = threading.Lock()
                LOG = logging.getLogger(__name__)
                PATTERN = re.compile(r"[a-z]+", re.I)


                def train(x):
                    return PROXY.a.b(x), LOOP, LOCK, LOG, PATTERN
            """
        },
        [("pipeline.py", 'r"[a-z]+"', 'r"[a-y]+"'), ("pipeline.py", ".Lock()", ".RLock()")],
        {"const:pipeline.PATTERN", "const:pipeline.LOCK"},
    ),
}


@pytest.mark.parametrize("name", sorted(OTHER_DETECTED))
def test_other_detected(project: TempProject, name: str) -> None:
    spec = OTHER_DETECTED[name]
    _assert_stale(_run_case(project, name, spec), _cli_keys(name, spec.changed))


OTHER_WARNED: dict[str, tuple[dict[str, str], str]] = {
    # test_warnings.py::test_warnings_in_reached_helpers_name_the_stage_and_the_helper_file
    "in-helper": (
        {
            "helpers.py": "def run(code):\n    return eval(code)\n",
            "pipeline.py": "from helpers import run\n\ndef train(c):\n    return run(c)\n",
        },
        "train: eval of dynamic code at helpers.py:2",
    ),
    # test_warnings.py::test_function_without_source_file_is_warned
    "function-without-source": (
        {
            "pipeline.py": """
                namespace = {}
                exec("def generated(x):\\n    return x\\n", globals())


                def train(x):
                    return generated(x)
            """
        },
        "train: function pipeline.generated has no source file (created by exec?)",
    ),
}


@pytest.mark.parametrize("name", sorted(OTHER_WARNED))
def test_other_warned(project: TempProject, name: str) -> None:
    files, warning = OTHER_WARNED[name]
    _assert_warned(_run_case(project, name, case(files, [], set())), [warning])


NOT_WARNED: dict[str, tuple[dict[str, str], str]] = {
    # test_warnings.py::test_constant_dynamic_names_resolve_without_warning
    "constant-dynamic-names": (
        {
            "helpers.py": test_warnings.HELPERS,
            "pipeline.py": "import helpers\n\ndef train(obj):\n    getattr(obj, 'shape')\n"
            "    return getattr(helpers, 'scale')(1), __import__('json')\n",
        },
        "func:helpers.scale",
    ),
    # test_warnings.py::test_user_functions_named_like_dynamic_builtins_are_not_warned
    "user-function-named-getattr": (
        {
            "pipeline.py": """
                def getattr(obj, name):
                    return name


                def train(x, name):
                    return getattr(x, name)
            """
        },
        "func:pipeline.getattr",
    ),
}


@pytest.mark.parametrize("name", sorted(NOT_WARNED))
def test_not_warned(project: TempProject, name: str) -> None:
    files, key = NOT_WARNED[name]
    _assert_warned(_run_case(project, name, case(files, [], set())), [])
    assert key in _lock_code(project)


def test_builtin_loader_code_and_packages_are_in_the_lock(project: TempProject) -> None:
    # test_detection.py::test_builtin_loader_code_is_fingerprinted and
    # ::test_third_party_packages_are_recorded_by_version, on the lock `pivot run` writes
    _run_case(project, "loader-configuration", DETECTED["loader-configuration"])
    code = _lock_code(project)
    for key in ("loader:CSV", "loader:CSV:load", "loader:CSV:save", "loader:Loader"):
        assert key in code
    assert "loader-config:CSV" in code
    assert code["pkg:polars"] == importlib.metadata.version("polars")  # CSV.load imports it
    assert not [key for key in code if key.startswith("pkg:pivot")]


def test_stages_that_are_not_project_functions_are_warned(project: TempProject) -> None:
    # test_warnings.py::test_stage_outside_the_project_is_warned_not_fingerprinted and
    # ::test_objects_that_are_not_functions_do_not_crash, as registered stages
    project.write(
        "pipeline.py",
        """
        import os
        import platform

        import pivot

        pipeline = pivot.Pipeline("p")
        pipeline.register(platform.python_version)
        pipeline.register(os.getcwd)
        """,
    )
    project.pivot("--no-tui", "run", "-j", "1")
    rows = project.status_json()
    assert rows["python_version"]["warnings"] == [
        "python_version: stage function platform.python_version is not project code; "
        "only its package version is tracked"
    ]
    assert rows["getcwd"]["warnings"] == ["getcwd: stage object getcwd is not a Python function"]
    assert {row["status"] for row in rows.values()} == {"cached"}


# ---- a Pivot bug the matrix tests avoid (see _no_bytecode)


def test_same_second_edit_with_bytecode_cache(
    project: TempProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PYTHONDONTWRITEBYTECODE", raising=False)
    project.write(
        "pipeline.py",
        """
        from typing import Annotated

        import pivot
        from helpers import THRESHOLD


        def train() -> Annotated[dict, pivot.Out("out.json", pivot.loaders.JSON())]:
            return {"threshold": THRESHOLD}


        pivot.Pipeline("p").register(train)
        """,
    )
    helpers = project.write("helpers.py", "THRESHOLD = 0.5\n")
    second = (helpers.stat().st_mtime_ns // 10**9 - 10) * 10**9
    os.utime(helpers, ns=(second, second + 100_000_000))
    project.pivot("--no-tui", "run", "-j", "1")
    # Pivot compiles project modules from source and writes no bytecode; a .pyc left by
    # anything else (an IDE, `python helpers.py`, a test run) must not be trusted either.
    py_compile.compile(str(helpers), cfile=importlib.util.cache_from_source(str(helpers)))
    # a same-size edit saved in the same second as the version the run compiled (forced here;
    # by chance for a user whose editor, script or watch loop saves right after a run)
    helpers.write_text("THRESHOLD = 0.7\n")
    os.utime(helpers, ns=(second, second + 200_000_000))
    row = project.status_json()["train"]
    assert row["status"] == "stale", row
    project.pivot("run")
    assert json.loads(project.read("out.json")) == {"threshold": 0.7}
