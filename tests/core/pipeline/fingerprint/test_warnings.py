"""Dynamic code is reported, never silently ignored; odd objects never crash fingerprinting."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from pivot.core.pipeline.fingerprint import FingerprintError, fingerprint_stage
from tests.core.pipeline.fingerprint.conftest import FpProject

HELPERS = "def scale(x):\n    return x * 2\n"


@pytest.mark.parametrize(
    ("body", "warning"),
    [
        ("return getattr(helpers, name)(1)", "train: getattr with computed name at pipeline.py:5"),
        ("return eval(name)", "train: eval of dynamic code at pipeline.py:5"),
        ("exec(name)", "train: exec of dynamic code at pipeline.py:5"),
        (
            "return importlib.import_module(name)",
            "train: importlib.import_module with computed name at pipeline.py:5",
        ),
        (
            "return import_module(name)",
            "train: importlib.import_module with computed name at pipeline.py:5",
        ),
        ("return __import__(name)", "train: __import__ with computed name at pipeline.py:5"),
    ],
    ids=["getattr", "eval", "exec", "import_module", "import_module-alias", "__import__"],
)
def test_dynamic_constructs_are_warned_with_location(
    fp_project: FpProject, body: str, warning: str
) -> None:
    fp_project.write("helpers.py", HELPERS)
    fp_project.write(
        "pipeline.py",
        "import importlib\nfrom importlib import import_module\nimport helpers\n"
        f"def train(name):\n    {body}\n",
    )
    fp = fp_project.fingerprint()
    assert fp.warnings == (warning,)


@pytest.mark.parametrize(
    ("body", "warning"),
    [
        ("return globals()[name](1)", "train: globals() lookup with computed key at pipeline.py:6"),
        (
            "return globals().get(name)",
            "train: globals() lookup with computed key at pipeline.py:6",
        ),
        (
            "return vars(helpers)[name](1)",
            "train: vars() lookup with computed key at pipeline.py:6",
        ),
    ],
    ids=["globals", "globals-get", "vars"],
)
def test_namespace_lookups_with_computed_keys_are_warned(
    fp_project: FpProject, body: str, warning: str
) -> None:
    fp_project.write("helpers.py", HELPERS)
    fp_project.write(
        "pipeline.py",
        f"import helpers\n\ndef scale(x):\n    return x\ndef train(name):\n    {body}\n",
    )
    fp = fp_project.fingerprint()
    assert fp.warnings == (warning,)
    # what it may reach is hashed as a whole: an edit anywhere in that module re-runs
    assert ("mod:pipeline" if "globals" in body else "mod:helpers") in fp.manifest


def test_namespace_lookups_with_constant_keys_follow_the_name(fp_project: FpProject) -> None:
    fp_project.write("helpers.py", HELPERS)
    fp_project.write(
        "pipeline.py",
        "import helpers\n\ndef local(x):\n    return x\n\n"
        "def train(x):\n    return globals()['local'](x) + vars(helpers)['scale'](x)\n",
    )
    fp = fp_project.fingerprint()
    assert fp.warnings == ()
    assert {"func:pipeline.local", "func:helpers.scale"} <= set(fp.manifest)
    before = fp.manifest["func:helpers.scale"]
    fp_project.edit("helpers.py", "x * 2", "x * 3")
    assert fp_project.fingerprint().manifest["func:helpers.scale"] != before


def test_computed_getattr_on_a_project_module_hashes_the_whole_module(
    fp_project: FpProject,
) -> None:
    fp_project.write("helpers.py", HELPERS)
    fp_project.write(
        "pipeline.py", "import helpers\n\ndef train(name):\n    return getattr(helpers, name)\n"
    )
    before = fp_project.fingerprint()
    assert "mod:helpers" in before.manifest
    fp_project.edit("helpers.py", "x * 2", "x * 3")
    assert fp_project.fingerprint().manifest["mod:helpers"] != before.manifest["mod:helpers"]


def test_warnings_in_reached_helpers_name_the_stage_and_the_helper_file(
    fp_project: FpProject,
) -> None:
    fp_project.write("helpers.py", "def run(code):\n    return eval(code)\n")
    fp_project.write("pipeline.py", "from helpers import run\n\ndef train(c):\n    return run(c)\n")
    assert fp_project.fingerprint().warnings == ("train: eval of dynamic code at helpers.py:2",)


def test_user_functions_named_like_dynamic_builtins_are_not_warned(fp_project: FpProject) -> None:
    fp_project.write(
        "pipeline.py",
        """
        def getattr(obj, name):
            return name


        def train(x, name):
            return getattr(x, name)
        """,
    )
    fp = fp_project.fingerprint()
    assert fp.warnings == ()
    assert "func:pipeline.getattr" in fp.manifest


def test_constant_dynamic_names_resolve_without_warning(fp_project: FpProject) -> None:
    fp_project.write("helpers.py", HELPERS)
    fp_project.write(
        "pipeline.py",
        "import helpers\n\ndef train(obj):\n    getattr(obj, 'shape')\n"
        "    return getattr(helpers, 'scale')(1), __import__('json')\n",
    )
    fp = fp_project.fingerprint()
    assert fp.warnings == ()
    assert "func:helpers.scale" in fp.manifest


def test_function_without_source_file_is_warned(fp_project: FpProject) -> None:
    fp_project.write(
        "pipeline.py",
        """
        namespace = {}
        exec("def generated(x):\\n    return x\\n", globals())


        def train(x):
            return generated(x)
        """,
    )
    fp = fp_project.fingerprint()
    assert fp.warnings == (
        "train: function pipeline.generated has no source file (created by exec?)",
    )


def test_source_deleted_after_import_is_a_warning(fp_project: FpProject) -> None:
    fp_project.write("helpers.py", HELPERS)
    fp_project.write(
        "pipeline.py", "from helpers import scale\n\ndef train(x):\n    return scale(x)\n"
    )
    module = fp_project.load()
    (fp_project.root / "helpers.py").unlink()
    fp = fingerprint_stage(module.train, project_root=fp_project.root)
    assert "self:train" in fp.manifest
    assert len(fp.warnings) == 1 and "cannot read the source of helpers.py" in fp.warnings[0]


def test_fingerprints_with_unreadable_sources_are_never_served_from_cache(
    fp_project: FpProject,
) -> None:
    from pivot.core.pipeline.fingerprint import fingerprint_cache_entry, load_cached_fingerprint

    fp_project.write("helpers.py", HELPERS)
    fp_project.write(
        "pipeline.py", "from helpers import scale\n\ndef train(x):\n    return scale(x)\n"
    )
    module = fp_project.load()
    (fp_project.root / "helpers.py").unlink()
    blob = fingerprint_cache_entry(fingerprint_stage(module.train, project_root=fp_project.root))
    assert load_cached_fingerprint(blob) is None
    fp_project.write("helpers.py", HELPERS)
    assert load_cached_fingerprint(blob) is None


def test_classes_of_unregistered_modules_are_found_through_their_methods(
    fp_project: FpProject,
) -> None:
    import importlib.util

    path = fp_project.write(
        "pipeline.py",
        """
        class Model:
            def fit(self, x):
                return x


        def train(x):
            return Model().fit(x)
        """,
    )
    spec = importlib.util.spec_from_file_location("pivot_unregistered_pipeline", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # never put in sys.modules
    fp = fingerprint_stage(module.train, project_root=fp_project.root)
    assert set(fp.manifest) == {"self:train", "class:pipeline.Model", "func:pipeline.Model.fit"}
    assert fp.warnings == ()


def test_source_changed_after_import_is_a_warning(fp_project: FpProject) -> None:
    fp_project.write("helpers.py", HELPERS)
    fp_project.write(
        "pipeline.py", "from helpers import scale\n\ndef train(x):\n    return scale(x)\n"
    )
    module = fp_project.load()
    # scale moves down: the live code object no longer matches the file
    fp_project.write("helpers.py", "# moved\n\n\n" + HELPERS)
    fp = fingerprint_stage(module.train, project_root=fp_project.root)
    assert fp.warnings == (
        "train: source of helpers.scale not found (file changed since import?) at helpers.py:1",
    )


def test_stage_outside_the_project_is_warned_not_fingerprinted(tmp_path: Path) -> None:
    fp = fingerprint_stage(json.dumps, project_root=tmp_path)
    assert fp.manifest == {}
    assert fp.warnings == (
        "dumps: stage function json.dumps is not project code; only its package version is tracked",
    )


@pytest.mark.parametrize("stage", [len, print, object(), 42], ids=["len", "print", "object", "int"])
def test_objects_that_are_not_functions_do_not_crash(tmp_path: Path, stage: object) -> None:
    fp = fingerprint_stage(stage, project_root=tmp_path)  # type: ignore[arg-type]
    assert "self:" not in "".join(fp.manifest)
    assert fp.warnings and "is not a Python function" in fp.warnings[0]


def test_missing_project_root_is_a_typed_error(tmp_path: Path) -> None:
    with pytest.raises(FingerprintError, match="not a directory"):
        fingerprint_stage(len, project_root=tmp_path / "nope")


def test_weird_values_do_not_crash(fp_project: FpProject) -> None:
    fp_project.write(
        "pipeline.py",
        """
        import logging
        import re
        import threading


        class Anything:
            '''Answers every attribute with itself, like a proxy or a mock.'''

            def __getattr__(self, name):
                return self

            def __call__(self, *args):
                return self


        PROXY = Anything()
        LOOP = []
        LOOP.append(LOOP)
        DEEP = 1
        for _ in range(60):
            DEEP = [DEEP]
        LOCK = threading.Lock()
        LOG = logging.getLogger(__name__)
        PATTERN = re.compile(r"[a-z]+", re.I)
        HUGE = 10 ** 5000


        def train(x):
            return PROXY.a.b(x), LOOP, DEEP, LOCK, LOG, PATTERN, HUGE
        """,
    )
    fp = fp_project.fingerprint()
    assert fp.warnings == ()
    for name in ("PROXY", "LOOP", "DEEP", "LOCK", "LOG", "PATTERN", "HUGE"):
        assert f"const:pipeline.{name}" in fp.manifest
    assert "class:pipeline.Anything" in fp.manifest


def test_several_lambdas_on_one_line_are_told_apart(fp_project: FpProject) -> None:
    fp_project.write(
        "pipeline.py",
        "PAIR = (lambda x: x + 1, lambda y: y * 2)\n\ndef train(v):\n    return PAIR[1](v)\n",
    )
    before = fp_project.fingerprint()
    assert {"func:pipeline.PAIR[0]", "func:pipeline.PAIR[1]"} <= set(before.manifest)
    fp_project.edit("pipeline.py", "y * 2", "y * 3")
    after = fp_project.fingerprint()
    changed = {k for k in after.manifest if after.manifest[k] != before.manifest.get(k)}
    assert changed == {"func:pipeline.PAIR[1]"}
    source = after.sources["func:pipeline.PAIR[1]"].source
    assert source == "PAIR = (lambda x: x + 1, lambda y: y * 3)\n"


def test_recursive_stage_terminates(fp_project: FpProject) -> None:
    fp_project.write("pipeline.py", "def train(n):\n    return train(n - 1) if n else 0\n")
    assert set(fp_project.fingerprint().manifest) == {"self:train"}


def test_code_outside_the_project_on_sys_path_is_warned(
    fp_project: FpProject, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outside = tmp_path / "shared"
    outside.mkdir()
    (outside / "extlib.py").write_text("def shout(x):\n    return x.upper()\n")
    monkeypatch.syspath_prepend(str(outside))
    monkeypatch.delitem(sys.modules, "extlib", raising=False)
    fp_project.write("pipeline.py", "import extlib\n\ndef train(x):\n    return extlib.shout(x)\n")
    fp = fp_project.fingerprint()
    assert fp.warnings == (
        f"train: module extlib ({outside / 'extlib.py'}) is outside the project and not an "
        "installed package: edits to it are not detected (move it into the project, or "
        "pip install -e it)",
    )
