"""Effective stage parameters: model defaults overridden by ``params.yaml``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from pivot.core.store.safe_yaml import load_yaml
from pivot.exceptions import ConfigError, StageDefinitionError
from pivot.registry import StageSpec


def read_params_file(path: Path) -> dict[str, dict[str, Any]]:
    """``{stage: {field: value}}`` from params.yaml; empty when the file is absent."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not UTF-8 text; fix or delete it") from None
    except OSError as exc:  # unreadable, or a folder in its place
        raise ConfigError(f"cannot read {path} ({exc.strerror}); fix or delete it") from None
    return parse_params_text(text, str(path))


def parse_params_text(text: str, source: str) -> dict[str, dict[str, Any]]:
    try:
        data = load_yaml(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source} is not valid YAML: {str(exc).splitlines()[0]}") from exc
    except RecursionError:
        raise ConfigError(f"{source} nests too deeply to read; fix or delete it") from None
    if data is None:
        return {}
    if not isinstance(data, dict) or not all(isinstance(v, dict | None) for v in data.values()):
        raise ConfigError(f"{source} must map stage names to {{field: value}} mappings")
    return {str(k): dict(v or {}) for k, v in data.items()}


def effective_params(spec: StageSpec, overrides: dict[str, Any]) -> dict[str, Any]:
    """Validate ``overrides`` against the stage's params model and return the full values.

    Raises StageDefinitionError naming the bad field.
    """
    if spec.params_model is None:
        if overrides:
            raise StageDefinitionError(
                f"params.yaml sets {sorted(overrides)} for stage '{spec.name}', which takes no "
                "params model"
            )
        return {}
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
