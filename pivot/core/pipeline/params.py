"""A stage's params: its model's fields, and the params-file keys it tracks.

Two kinds of params, both recorded in the stage's lock and compared on every plan:

- **model params** — the fields of a ``StageParams`` model: its defaults, overridden by the
  stage's own section of ``params.yaml`` (``{stage: {field: value}}``); see
  :func:`effective_params`.
- **tracked keys** — keys a :class:`~pivot.outputs.ParamsDep` lists, read by value from any
  params file, in any layout (DVC's ``params:``); see :func:`tracked_params`. They are
  recorded as ``FILE:KEY`` (``params.yaml:train.lr``), a name no model field can have, so the
  two kinds share one mapping without clashing; :func:`model_values` takes the model's back.

``params.yaml`` itself must be a mapping. A top-level value only overrides a model when it is
named after a stage with a model; anything else in the file is left to the stages (and
scripts) that read it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from pivot.core.store.paths import PARAMS_FILE
from pivot.core.store.safe_yaml import load_yaml
from pivot.exceptions import ConfigError, StageDefinitionError
from pivot.registry import StageSpec

#: Separates the file from the key in the name of a tracked value (``params.yaml:train.lr``).
TRACKED_SEPARATOR = ":"


def read_params_file(path: Path) -> dict[str, Any]:
    """params.yaml as a mapping (``{stage: {field: value}}`` and anything else DVC-style
    scripts keep there); empty when the file is absent."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not UTF-8 text; fix or delete it") from None
    except OSError as exc:  # unreadable, or a folder in its place
        raise ConfigError(f"cannot read {path} ({exc.strerror}); fix or delete it") from None
    return parse_params_text(text, str(path))


def parse_params_text(text: str, source: str) -> dict[str, Any]:
    try:
        data = load_yaml(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source} is not valid YAML: {str(exc).splitlines()[0]}") from exc
    except RecursionError:
        raise ConfigError(f"{source} nests too deeply to read; fix or delete it") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{source} must be a mapping (stage names to {{field: value}}, or keys the "
            "stages' ParamsDep list)"
        )
    return {str(k): v for k, v in data.items()}


def _reads_params_yaml(spec: StageSpec) -> bool:
    return any(dep.file == PARAMS_FILE for dep in spec.params_deps)


def effective_params(spec: StageSpec, overrides: Any) -> dict[str, Any]:
    """Validate ``overrides`` (the stage's section of params.yaml) against the stage's params
    model and return the full values.

    A stage without a model that tracks params.yaml keys ignores its section: in DVC's
    layout a section named after a stage is read by the stage's script. Raises
    StageDefinitionError naming the bad field.
    """
    if spec.params_model is None:
        if overrides not in (None, {}) and not _reads_params_yaml(spec):
            shown = sorted(overrides) if isinstance(overrides, Mapping) else overrides
            raise StageDefinitionError(
                f"params.yaml sets {shown} for stage '{spec.name}', which takes no params "
                "model (give it a StageParams argument, or a ParamsDep to track keys its "
                "code reads)"
            )
        return {}
    if overrides is None:
        overrides = {}
    if not isinstance(overrides, Mapping):
        raise StageDefinitionError(
            f"stage '{spec.name}': params.yaml sets '{spec.name}' to {overrides!r}; it must "
            "map the model's fields to values"
        )
    import pydantic

    merged = {**dict(spec.params_overrides), **overrides}
    try:
        model = spec.params_model(**merged)
    except pydantic.ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise StageDefinitionError(f"stage '{spec.name}': invalid params: {problems}") from None
    dumped = model.model_dump(mode="json")
    return json.loads(json.dumps(dumped, sort_keys=True))


# -- tracked keys ---------------------------------------------------------------------------


def tracked_name(file: str, key: str) -> str:
    """The name a tracked value has in a lock and in ``explain``: ``params.yaml:train.lr``."""
    return f"{file}{TRACKED_SEPARATOR}{key}"


def model_values(params: Mapping[str, Any]) -> dict[str, Any]:
    """The model's fields out of a stage's recorded params (tracked keys left out)."""
    return {k: v for k, v in params.items() if TRACKED_SEPARATOR not in k}


class ParamsFiles:
    """Params files as read once for a plan (or a command): params.yaml and every other file
    a ParamsDep names.

    ``read`` returns a file's bytes by project-relative path, or None when it is absent (it may
    raise OSError), so the same code reads the workspace or a git revision.
    """

    def __init__(self, read: Callable[[str], bytes | None], where: str = "") -> None:
        self._read = read
        self._where = where
        self._loaded: dict[str, tuple[bool, Any]] = {}
        self._params_yaml: dict[str, Any] | None = None

    @classmethod
    def workspace(cls, root: Path) -> ParamsFiles:
        def read(rel: str) -> bytes | None:
            try:
                return (root / rel).read_bytes()
            except FileNotFoundError:
                return None

        return cls(read)

    def _label(self, rel: str) -> str:
        return f"{rel} at {self._where}" if self._where else rel

    def _text(self, rel: str) -> str | None:
        """The file's text; ConfigError (saying what to do) when it cannot be read."""
        try:
            data = self._read(rel)
            return None if data is None else data.decode("utf-8")
        except UnicodeDecodeError:
            raise ConfigError(f"{self._label(rel)} is not UTF-8 text; fix or delete it") from None
        except OSError as exc:  # unreadable, or a folder in its place
            raise ConfigError(
                f"cannot read {self._label(rel)} ({exc.strerror}); fix or delete it"
            ) from None

    @property
    def params_yaml(self) -> dict[str, Any]:
        """params.yaml (ConfigError when it cannot be read as a mapping: every stage needs it)."""
        if self._params_yaml is None:
            text = self._text(PARAMS_FILE)
            self._params_yaml = (
                {} if text is None else parse_params_text(text, self._label(PARAMS_FILE))
            )
        return self._params_yaml

    def section(self, stage: str) -> Any:
        """The stage's section of params.yaml (its model's overrides), ``{}`` when absent."""
        return self.params_yaml.get(stage, {})

    def data(self, rel: str) -> tuple[bool, Any]:
        """``(True, mapping)`` for a params file, or ``(False, what is wrong with it)``."""
        if rel not in self._loaded:
            self._loaded[rel] = self._parse(rel)
        return self._loaded[rel]

    def _parse(self, rel: str) -> tuple[bool, Any]:
        try:
            text = self._text(rel)
            if text is None:
                return False, f"{self._label(rel)} does not exist"
            if rel == PARAMS_FILE:
                return True, self.params_yaml
        except ConfigError as exc:
            return False, str(exc).removesuffix("; fix or delete it")
        try:
            if rel.lower().endswith(".json"):
                data = json.loads(text)
            elif rel.lower().endswith(".toml"):
                import tomllib

                data = tomllib.loads(text)
            else:
                data = load_yaml(text)
        except (ValueError, yaml.YAMLError, RecursionError) as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            return False, f"{self._label(rel)} cannot be parsed ({first})"
        if data is None:
            data = {}
        if not isinstance(data, dict):
            return False, f"{self._label(rel)} is not a mapping of keys to values"
        return True, data


def _lookup(data: Any, key: str) -> tuple[bool, Any]:
    """The value at dotted ``key`` (DVC's notation: mapping keys, list indexes)."""
    if isinstance(data, Mapping) and key in data:  # a top-level key that holds a dot
        return True, data[key]
    value = data
    for part in key.split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return False, None
    return True, value


def _plain(value: Any) -> Any:
    """``value`` as JSON would hold it (dates as text), so locks compare and print alike."""
    return json.loads(json.dumps(value, sort_keys=True, default=str))


def tracked_params(spec: StageSpec, files: ParamsFiles) -> dict[str, Any]:
    """``{"FILE:KEY": value}`` for every params-file key the stage tracks; a file tracked whole
    gives one entry per top-level key.

    Raises StageDefinitionError, naming the stage, for a missing file or key.
    """
    values: dict[str, Any] = {}
    for file, keys in spec.tracked_params().items():
        found, data = files.data(file)
        if not found:
            raise StageDefinitionError(
                f"stage '{spec.name}': params file {data}; fix it or drop it from the stage's "
                "ParamsDep"
            )
        for key in data if keys is None else keys:
            present, value = _lookup(data, str(key))
            if not present:
                raise StageDefinitionError(
                    f"stage '{spec.name}': params key '{key}' is not in {file}; add it there or "
                    "drop it from the stage's ParamsDep"
                )
            values[tracked_name(file, str(key))] = _plain(value)
    return values


def stage_values(spec: StageSpec, files: ParamsFiles) -> dict[str, Any]:
    """All the params a stage runs with, as its lock records them: model fields and tracked
    keys."""
    return {**effective_params(spec, files.section(spec.name)), **tracked_params(spec, files)}


def tracked_arguments(spec: StageSpec, params: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """What each ParamsDep argument receives, ``{key: value}``, from the recorded ``params``."""
    arguments: dict[str, dict[str, Any]] = {}
    for dep in spec.params_deps:
        prefix = tracked_name(dep.file, "")
        recorded = {
            name[len(prefix) :]: value for name, value in params.items() if name.startswith(prefix)
        }
        # A key is recorded by name, or inside a section recorded whole (when another
        # argument tracks the whole file).
        arguments[dep.arg] = (
            {key: _lookup(recorded, key)[1] for key in dep.keys} if dep.keys else recorded
        )
    return arguments
