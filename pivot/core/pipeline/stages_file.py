"""``pivot.yaml`` (or ``pivot.yml``): stages named in YAML, beside or instead of ``pipeline.py``.

::

    stages:
      preprocess:
        python: stages.preprocess        # module.function (or module:function)
        deps: [data.csv]                 # a list, or a mapping of names to paths
        outs:
          - processed.parquet
          - database.db: {incremental: true}
        metrics: [metrics.json]
        params: {lr: 0.01}               # the stage's params; params.yaml overrides them
      train:
        function: stages:train           # an annotated function: its deps/outs come from it
        matrix:
          model:
            bert: {params: {hidden_size: 768}}
            gpt: {params: {hidden_size: 1024}, deps+: [data/gpt_tokenizer.json]}
          dataset: [swe, human]
        resources: {gpu: 1}

Each entry compiles, through :meth:`pivot.registry.Pipeline.add_stage` (or ``register`` for
a bare ``function:``), to the same :class:`~pivot.registry.StageSpec` as ``pipeline.py``
stages; ``${dim}`` placeholders (DVC's spelling) are ``{dim}`` ones. Every problem is one
:class:`~pivot.exceptions.PipelineError` line naming the file, the stage and the key.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NoReturn

from pivot import outputs, registry
from pivot.core.store.safe_yaml import load_yaml
from pivot.exceptions import PipelineError

#: Keys a stage entry may hold.
STAGE_KEYS = frozenset(
    {"python", "function", "deps", "outs", "metrics", "plots", "params", "matrix", "resources"}
)
#: Options of one output (``- model.pkl: {cache: false}``).
OUT_OPTIONS = frozenset({"incremental", "persist", "cache", "directory", "x", "y", "title"})
#: Keys of a matrix label that adds to its variants rather than naming params fields.
OPTION_KEYS = frozenset({"params", "deps+", "outs+"})

_DOLLAR = re.compile(r"\$\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}")
_HINTS = {
    "cmd": "; Pivot runs Python functions: use 'python: module.function'",
    "wdir": "; stages run in the project root",
}


def read_stages_file(path: Path) -> dict[str, Any]:
    """The ``stages:`` mapping of the file."""
    import yaml

    try:
        data = load_yaml(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise PipelineError(f"{path.name} is not valid YAML: {str(exc).splitlines()[0]}") from None
    except UnicodeDecodeError:
        raise PipelineError(f"{path.name} is not UTF-8 text; fix it") from None
    except RecursionError:
        raise PipelineError(f"{path.name} nests too deeply to read; fix it") from None
    except OSError as exc:
        raise PipelineError(f"cannot read {path.name} ({exc.strerror}); fix it") from None
    stages = data.get("stages") if isinstance(data, dict) else None
    if not isinstance(stages, dict):
        raise PipelineError(f"{path.name} needs a top-level 'stages:' mapping of name to stage")
    return stages


def load_stages_file(path: Path) -> registry.Pipeline:
    """Register every stage of the file on a pipeline named after it."""
    pipeline = registry.Pipeline(path.name)
    for name, entry in read_stages_file(path).items():
        if not isinstance(name, str):
            raise PipelineError(f"{path.name}: stage name {name!r} is not text; quote it")
        _Entry(path.name, name, entry).register(pipeline)
    return pipeline


def dollar_to_braces(text: str) -> str:
    """``models/${model}.pkl`` -> ``models/{model}.pkl`` (the placeholder form matrices fill)."""
    return _DOLLAR.sub(r"{\1}", text)


class _Entry:
    """One ``stages:`` entry, checked key by key."""

    def __init__(self, file: str, name: str, entry: object) -> None:
        self.file = file
        self.name = name
        if not isinstance(entry, dict):
            self.fail("needs 'python: module.function' (or 'function: module:function')")
        self.entry: dict[str, Any] = entry

    def fail(self, message: str) -> NoReturn:
        raise PipelineError(f"{self.file}: stage '{self.name}': {message}")

    def register(self, pipeline: registry.Pipeline) -> None:
        unknown = sorted(str(key) for key in self.entry if key not in STAGE_KEYS)
        if unknown:
            raise PipelineError(
                f"{self.file}: stage '{self.name}' has unknown key '{unknown[0]}'"
                f"{_HINTS.get(unknown[0], '')}"
            )
        func = self.function()
        matrix = self.mapping("matrix")
        resources = self.mapping("resources", "such as {gpu: 1}")
        if "python" not in self.entry and not (self.entry.keys() & {"deps", "outs", "params"}):
            # The original pivot.yaml: an annotated function, registered as pipeline.py would.
            pipeline.register(func, name=self.name, matrix=matrix, resources=resources)
            return
        outs: list[Any] = [*self.outs("outs"), *self.outs("metrics"), *self.outs("plots")]
        pipeline.add_stage(
            func,
            deps=self.deps(self.entry.get("deps"), "deps"),
            outs=outs,
            params=self.mapping("params"),
            name=self.name,
            matrix=self.matrix(matrix) if matrix is not None else None,
            resources=resources,
        )

    def function(self) -> Any:
        both = [key for key in ("python", "function") if key in self.entry]
        if len(both) != 1:
            self.fail(
                "give one of 'python: module.function' and 'function: module:function'"
                if both
                else "needs 'python: module.function' (or 'function: module:function')"
            )
        key = both[0]
        target = self.entry[key]
        if not isinstance(target, str):
            self.fail(
                "needs 'python: module.function'"
                if key == "python"
                else "needs 'function: module:function'"
            )
        if ":" in target:
            module_name, _, func_name = target.partition(":")
        elif key == "python":
            module_name, _, func_name = target.rpartition(".")
        else:
            module_name = func_name = ""
        if not module_name or not func_name:
            self.fail(
                "needs 'python: module.function'"
                if key == "python"
                else "needs 'function: module:function'"
            )
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:
            return self.fail(f"cannot import '{target}' ({type(exc).__name__}: {exc})")
        func = getattr(module, func_name, None)
        if func is None:
            self.fail(f"cannot import '{target}' (module '{module_name}' has no '{func_name}')")
        return func

    def mapping(self, key: str, example: str = "") -> dict[str, Any] | None:
        value = self.entry.get(key)
        if value is not None and not isinstance(value, dict):
            self.fail(f"'{key}' must be a mapping{' ' + example if example else ''}")
        return value

    def path(self, key: str, value: object) -> str:
        if not isinstance(value, str) or not value:
            self.fail(f"'{key}' holds {value!r}; give a path relative to the project root")
        return dollar_to_braces(str(value))

    def deps(self, value: object, key: str) -> Any:
        """A list of paths, or a mapping of names to a path or a list of paths."""
        if value is None:
            return ()
        if isinstance(value, dict):
            named: dict[str, Any] = {}
            for name, paths in value.items():
                if isinstance(paths, list):
                    named[str(name)] = [self.path(key, p) for p in paths]
                else:
                    named[str(name)] = self.path(key, paths)
            return named
        if isinstance(value, list):
            return [self.path(key, p) for p in value]
        return self.fail(f"'{key}' must be a list of paths or a mapping of names to paths")

    def outs(self, key: str, value: object = None) -> list[outputs.Out[Any]]:
        """``outs``/``metrics``/``plots`` as markers: a list whose items are a path or
        ``{path: {options}}``, or a mapping of names to paths."""
        value = self.entry.get(key) if value is None else value
        if value is None:
            return []
        items: list[tuple[object, object]]
        if isinstance(value, dict):  # named outputs: the names are labels
            items = [(path, None) for path in value.values()]
        elif isinstance(value, list):
            items = []
            for item in value:
                if isinstance(item, dict) and len(item) == 1:
                    items.append(next(iter(item.items())))
                else:
                    items.append((item, None))
        else:
            return self.fail(f"'{key}' must be a list of paths")
        return [self.marker(key, path, options) for path, options in items]

    def marker(self, key: str, path: object, options: object) -> outputs.Out[Any]:
        text = self.path(key, path)
        if options is None:
            options = {}
        if not isinstance(options, dict):
            return self.fail(f"'{key}' entry '{text}' must map to options such as {{cache: false}}")
        unknown = sorted(str(k) for k in options if k not in OUT_OPTIONS)
        if unknown:
            self.fail(f"'{key}' entry '{text}' has unknown option '{unknown[0]}'")
        for flag in ("incremental", "persist", "cache", "directory"):
            if flag in options and not isinstance(options[flag], bool):
                self.fail(f"'{key}' entry '{text}': '{flag}' must be true or false")
        cache = options.get("cache")
        kind: type[outputs.Out[Any]]
        if key == "metrics":
            kind = outputs.Metric
        elif key == "plots":
            kind = outputs.Plot
        elif options.get("incremental") or options.get("persist"):
            kind = outputs.IncrementalOut
        elif options.get("directory") or text.endswith("/"):
            kind = outputs.DirectoryOut
        else:
            kind = outputs.Out
        if key != "plots" and options.keys() & {"x", "y", "title"}:
            self.fail(f"'{key}' entry '{text}': x, y and title are options of plots")
        extra: dict[str, Any] = {k: options[k] for k in ("x", "y", "title") if k in options}
        if cache is not None:
            extra["cache"] = cache
        return kind(text.rstrip("/") or text, **extra)

    def matrix(self, matrix: Mapping[str, Any]) -> dict[str, Any]:
        """A matrix whose labels may hold ``params:``/``deps+:``/``outs+:``."""
        result: dict[str, Any] = {}
        for dim, values in matrix.items():
            if not isinstance(values, dict):
                result[dim] = values
                continue
            options: dict[Any, Any] = {}
            for label, value in values.items():
                if isinstance(value, dict) and value and value.keys() <= OPTION_KEYS:
                    params = value.get("params") or {}
                    if not isinstance(params, dict):
                        self.fail(f"matrix '{dim}' label '{label}': 'params' must be a mapping")
                    added = value.get("deps+")
                    if added is not None and not isinstance(added, list):
                        self.fail(f"matrix '{dim}' label '{label}': 'deps+' must be a list")
                    options[label] = registry.MatrixOption(
                        params=params,
                        deps=tuple(self.deps(added, "deps+")),
                        outs=tuple(self.outs("outs+", value.get("outs+") or [])),
                    )
                else:
                    options[label] = value
            result[dim] = options
        return result
