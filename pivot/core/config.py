"""Pivot's settings: three YAML files merged over built-in defaults.

```
$XDG_CONFIG_HOME/pivot/config.yaml   user      (`--global`)   this user, every project
.pivot/config.yaml                   project   (default)      committed with the project
.pivot/config.local.yaml             local     (`--local`)    this clone only, gitignored
```

Later files win, key by key (a deep merge), so a project can name the remote while a user
file supplies the endpoint. Every file is validated on its own against :class:`PivotConfig`
(all fields optional, unknown keys refused), which lets an error name the file it is in; the
merged result is validated once more. Credentials never live here: an S3 remote uses boto3's
standard chain (environment, ``~/.aws``, instance roles), a ``gs://`` remote Google's Application
Default Credentials, an ``azure://`` remote a connection string, key or token from the
environment (``docs/remote.md``); a folder remote needs none.

Keys are dotted paths into the model (``executor.kind``, ``remotes.origin.endpoint_url``);
``remotes.<name>`` on its own is shorthand for ``remotes.<name>.url``. ``resources.<name>``
is how much of a resource stages may hold at once (``resources.gpu: 1``, docs/resources.md).
"""

from __future__ import annotations

import math
import re
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import unquote

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from pivot.core.config_files import (
    Scope,
    config_path,
    user_config_path,
)
from pivot.core.store.atomic import write_text_atomic
from pivot.core.store.safe_yaml import load_yaml
from pivot.exceptions import ConfigError

__all__ = [
    "ConfigKey",
    "ExecutorConfig",
    "PivotConfig",
    "RemoteConfig",
    "Scope",
    "WatchConfig",
    "config_path",
    "configured_capacities",
    "get_value",
    "known_keys",
    "list_values",
    "load_config",
    "parse_config",
    "parse_key",
    "remote_folder",
    "set_value",
    "unset_value",
    "user_config_path",
]


_S3_URL = re.compile(r"^s3://(?P<bucket>[A-Za-z0-9][A-Za-z0-9._-]{0,254})(?P<prefix>/[^\s]*)?$")
# Bucket and container names as the services define them (GCS: 3-222 characters of lowercase
# letters, digits, '-', '_' and '.'; Azure: 3-63 lowercase letters, digits and '-').
_GS_URL = re.compile(r"^gs://(?P<bucket>[a-z0-9][a-z0-9._-]{1,220}[a-z0-9])(?P<prefix>/[^\s]*)?$")
_AZURE_URL = re.compile(
    r"^azure://(?P<container>[a-z0-9](?:[a-z0-9-]{1,61})[a-z0-9])(?P<prefix>/[^\s]*)?$"
)
#: The cloud schemes a remote URL may have, each with its pattern and the form users should write.
_CLOUD_URLS = {
    "s3": (_S3_URL, "s3://bucket/prefix"),
    "gs": (_GS_URL, "gs://bucket/prefix"),
    "azure": (_AZURE_URL, "azure://container/prefix"),
}
_ACCOUNT = re.compile(r"^[a-z0-9]{3,24}$")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_NAME = re.compile(r"^[A-Za-z0-9_-]+$")
_RESOURCE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _not_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("expected a number, not true/false")
    return value


def _amount(value: Any) -> int | float:
    """A resource amount: a finite number, 0 or more (text from `config set` is parsed)."""
    number = value
    if isinstance(value, str):
        try:
            number = int(value)
        except ValueError:
            try:
                number = float(value)
            except ValueError:
                number = None
    if isinstance(number, bool) or not isinstance(number, int | float):
        raise ValueError(f"expected a number such as 1 or 0.5, got {value!r}")
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"expected a finite number 0 or more, got {value!r}")
    return number


Milliseconds = Annotated[int, BeforeValidator(_not_bool), Field(ge=0)]
#: A resource capacity: a whole number when it is one (``1`` stays ``1``, not ``1.0``).
Amount = Annotated[int | float, BeforeValidator(_amount)]
Seconds = Annotated[float, BeforeValidator(_not_bool), Field(gt=0, le=3600)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def remote_folder(url: str) -> str | None:
    """The folder a remote URL names (``file:///abs/path``, or a plain path, which may be
    relative or start with ``~``), or None when it is not a folder (``s3://…``, other schemes).

    Shared by config validation and :class:`pivot.core.remote.RemoteLocation`, so the two never
    disagree about what is a folder.
    """
    if url.startswith("file:"):
        rest = url.removeprefix("file:")
        if not rest.startswith("//"):
            return None
        host, slash, path = rest[2:].partition("/")
        if host not in ("", "localhost") or not slash:
            return None
        return unquote("/" + path)
    if _cloud_scheme(url) or _SCHEME.match(url) or not url or "\0" in url or "\n" in url:
        return None
    return url


def _cloud_scheme(url: str) -> str | None:
    """``s3``, ``gs`` or ``azure`` when ``url`` starts with that scheme (even malformed)."""
    scheme = url.partition(":")[0]
    return scheme if url.startswith(f"{scheme}:") and scheme in _CLOUD_URLS else None


class RemoteConfig(_Section):
    """One remote: ``s3://``, ``gs://``, ``azure://`` or a folder. ``url`` may come from one
    file and ``endpoint_url`` from another, so each is optional here;
    :func:`pivot.core.remote.resolve_remote` insists on ``url`` and refuses keys its kind
    does not use."""

    url: str | None = None
    endpoint_url: str | None = None
    region: str | None = None  # S3 only
    account: str | None = None  # Azure storage account name
    #: Seconds an S3 request may wait for the server (to connect, or for the next bytes of an
    #: answer) before the remote counts as down and the command stops; None: the default of
    #: :data:`pivot.core.remote.DEFAULT_TIMEOUT`.
    timeout: Seconds | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        # `remotes: {origin: s3://bucket/prefix}` is the same as `{origin: {url: ...}}`.
        return {"url": data} if isinstance(data, str) else data

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        scheme = _cloud_scheme(value)
        if scheme is not None:
            pattern, form = _CLOUD_URLS[scheme]
            if not pattern.match(value):
                raise ValueError(f"expected {form}, got {value!r}")
            return value.rstrip("/") if value.count("/") > 2 else value
        if remote_folder(value) is None:
            forms = ", ".join(form for _, form in _CLOUD_URLS.values())
            raise ValueError(
                f"expected {forms} or a folder, got {value!r}; a folder is a path or file:///path"
            )
        stripped = value.rstrip("/")  # but keep "/" and "file:///" whole
        return stripped if remote_folder(stripped) else value

    @field_validator("endpoint_url")
    @classmethod
    def _check_endpoint(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        if not re.match(r"^https?://[^\s/]+", value):
            raise ValueError(f"expected http(s)://host[:port], got {value!r}")
        return value.rstrip("/")

    @field_validator("region")
    @classmethod
    def _check_region(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^[a-z0-9-]+$", value):
            raise ValueError(f"expected a region name like us-east-1, got {value!r}")
        return value

    @field_validator("account")
    @classmethod
    def _check_account(cls, value: str | None) -> str | None:
        if value is not None and not _ACCOUNT.match(value):
            raise ValueError(
                f"expected an Azure storage account name (3-24 lowercase letters and digits), got {value!r}"
            )
        return value


class ExecutorConfig(_Section):
    """Where stages run: the local process pool, or an existing Dask cluster."""

    kind: Literal["local", "dask"] = "local"
    scheduler: str | None = None  # Dask scheduler address, e.g. tcp://host:8786
    transport: Literal["shared", "remote"] = "shared"  # how Dask workers reach deps and outs


class WatchConfig(_Section):
    """`pivot run --watch`."""

    debounce_ms: Milliseconds = 300


class CacheConfig(_Section):
    """How outputs enter and leave the cache."""

    #: reflink: copy-on-write clones where the filesystem can, else copies (safe, the
    #: default); hardlink: one file for the workspace and the cache (outputs read-only);
    #: copy: always a second copy.
    link: Literal["reflink", "hardlink", "copy"] = "reflink"


class GcConfig(_Section):
    """`pivot gc`: which results to keep."""

    #: Keep what the last N commits of HEAD (and the workspace) refer to, and run-cache
    #: entries recorded since the oldest of them.
    keep_commits: int = Field(default=10, ge=1)


class PivotConfig(_Section):
    """The whole configuration; every file is a partial instance of it."""

    default_remote: str | None = None
    remotes: dict[str, RemoteConfig] = Field(default_factory=dict)
    executor: ExecutorConfig = Field(default_factory=ExecutorConfig)
    watch: WatchConfig = Field(default_factory=WatchConfig)
    gc: GcConfig = Field(default_factory=GcConfig)
    cache: CacheConfig = Field(default_factory=CacheConfig)
    #: How much of each named resource the stages running at once may hold together.
    resources: dict[str, Amount] = Field(default_factory=dict)

    @field_validator("resources")
    @classmethod
    def _check_resources(cls, value: dict[str, float]) -> dict[str, float]:
        for name in value:
            if not _RESOURCE.match(name):
                raise ValueError(
                    f"resource name {name!r} may only hold letters, digits and '_', "
                    "not starting with a digit"
                )
        return value

    @field_validator("remotes")
    @classmethod
    def _check_names(cls, value: dict[str, RemoteConfig]) -> dict[str, RemoteConfig]:
        for name in value:
            if not _NAME.match(name):
                raise ValueError(f"remote name {name!r} may only hold letters, digits, '-' and '_'")
        return value


# -- files ------------------------------------------------------------------------------------


def _read_raw(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path} ({exc}); fix or delete it") from exc
    return _parse_raw(text, str(path))


def _parse_raw(text: str, source: str) -> dict[str, Any]:
    try:
        data = load_yaml(text)
    except yaml.YAMLError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(
            f"config file {source} is not valid YAML{where} ({first}); fix or delete it"
        ) from exc
    except RecursionError:
        raise ConfigError(
            f"config file {source} nests too deeply to read; fix or delete it"
        ) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"config file {source} must hold a mapping of keys, not {type(data).__name__}; fix or delete it"
        )
    return data


def parse_config(text: str, source: str) -> PivotConfig:
    """One config file's text, validated (``source`` names it in errors): how another
    repository's committed ``.pivot/config.yaml`` is read (``pivot import``)."""
    return _validate(_parse_raw(text, source), source)


def _validate(data: dict[str, Any], source: str) -> PivotConfig:
    try:
        return PivotConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, source)) from None


def _describe(exc: ValidationError, source: str) -> str:
    error = exc.errors()[0]
    key = ".".join(str(part) for part in error["loc"])
    if error["type"] == "extra_forbidden":
        return (
            f"unknown config key '{key}' in {source}; remove it with `pivot config unset {key}` "
            f"(known keys: {', '.join(known_keys())})"
        )
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] != "value_error":
        message = f"{message} (got {error['input']!r})"
    return f"bad value for config key '{key}' in {source}: {message}"


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _normalized(data: dict[str, Any], source: str) -> dict[str, Any]:
    """The file's data after validation, shorthand expanded (so merging works key by key)."""
    return _validate(data, source).model_dump(mode="json", exclude_unset=True)


def _layers(root: Path | None) -> Iterator[tuple[Scope, Path, dict[str, Any]]]:
    for scope in Scope:
        if scope is not Scope.USER and root is None:
            continue
        path = config_path(scope, root)
        yield scope, path, _normalized(_read_raw(path), str(path))


def load_config(root: Path | None) -> PivotConfig:
    """The effective configuration for the project at ``root`` (user file only if None)."""
    merged: dict[str, Any] = {}
    for _scope, _path, data in _layers(root):
        merged = _merge(merged, data)
    return _validate(merged, "the merged configuration")


def configured_capacities(root: Path) -> dict[str, float]:
    """The ``resources`` the config files set for the project (empty when there are none)."""
    from pivot.core.config_files import any_config_file

    if not any_config_file(root):
        return {}
    return dict(load_config(root).resources)


# -- keys -------------------------------------------------------------------------------------


class ConfigKey(typing.NamedTuple):
    """A parsed dotted key: its path into the model and whether it names a whole section."""

    parts: tuple[str, ...]
    section: bool

    def __str__(self) -> str:
        return ".".join(self.parts)


def _model_of(annotation: Any) -> type[BaseModel] | None:
    return (
        annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
    )


def _dict_model(annotation: Any) -> type[BaseModel] | None:
    if typing.get_origin(annotation) is dict:
        return _model_of(typing.get_args(annotation)[1])
    return None


def known_keys() -> list[str]:
    """Every settable key, with ``<name>`` standing for a user-chosen name."""

    def walk(model: type[BaseModel], prefix: str) -> Iterator[str]:
        for name, field in model.model_fields.items():
            sub = _model_of(field.annotation)
            entries = _dict_model(field.annotation)
            if sub is not None:
                yield from walk(sub, f"{prefix}{name}.")
            elif entries is not None:
                yield f"{prefix}{name}.<name>"
                yield from walk(entries, f"{prefix}{name}.<name>.")
            elif typing.get_origin(field.annotation) is dict:
                yield f"{prefix}{name}.<name>"
            else:
                yield f"{prefix}{name}"

    return list(walk(PivotConfig, ""))


def parse_key(key: str) -> ConfigKey:
    """Check ``key`` against the model; ``remotes.origin`` becomes ``remotes.origin.url``."""
    parts = tuple(key.strip().split("."))
    if not key.strip() or any(not part for part in parts):
        raise ConfigError(f"bad config key '{key}'; use a dotted key such as executor.kind")
    model: type[BaseModel] = PivotConfig
    resolved: list[str] = []
    index = 0
    while index < len(parts):
        name = parts[index]
        field = model.model_fields.get(name)
        if field is None:
            raise ConfigError(f"unknown config key '{key}'; known keys: {', '.join(known_keys())}")
        resolved.append(name)
        index += 1
        sub = _model_of(field.annotation)
        entries = _dict_model(field.annotation)
        if sub is not None:
            model = sub
        elif entries is not None:
            if index == len(parts):
                return ConfigKey(tuple(resolved), section=True)
            entry = parts[index]
            if not _NAME.match(entry):
                raise ConfigError(
                    f"bad name '{entry}' in config key '{key}'; use letters, digits, '-' and '_'"
                )
            resolved.append(entry)
            index += 1
            model = entries
            if index == len(parts) and "url" in entries.model_fields:
                resolved.append("url")  # `remotes.origin` is shorthand for its url
                return ConfigKey(tuple(resolved), section=False)
        elif typing.get_origin(field.annotation) is dict:
            # A mapping of plain values (resources.<name>): one more part, and that is a leaf.
            if index == len(parts):
                return ConfigKey(tuple(resolved), section=True)
            if index + 1 < len(parts):
                raise ConfigError(
                    f"unknown config key '{key}'; use {name}.<name>, such as {name}.gpu"
                )
            return ConfigKey((*resolved, parts[index]), section=False)
        elif index < len(parts):
            raise ConfigError(
                f"unknown config key '{key}': '{name}' is not a section; known keys: {', '.join(known_keys())}"
            )
        else:
            return ConfigKey(tuple(resolved), section=False)
    return ConfigKey(tuple(resolved), section=True)


def _lookup(data: Any, parts: tuple[str, ...]) -> Any:
    for part in parts:
        if not isinstance(data, dict) or part not in data:
            return None
        data = data[part]
    return data


def _flatten(data: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _flatten(value, f"{prefix}{key}.")
    elif data is not None:
        yield prefix.rstrip("."), data


def format_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# -- get / set / unset / list -----------------------------------------------------------------


def get_value(root: Path | None, key: str, scope: Scope | None = None) -> list[tuple[str, Any]]:
    """``(key, value)`` pairs under ``key``: one pair for a leaf, several for a section.

    Without ``scope`` values are effective ones (defaults included); with it, only what
    that file sets. Empty when nothing is set.
    """
    parsed = parse_key(key)
    if scope is None:
        data: dict[str, Any] = load_config(root).model_dump(mode="json")
    else:
        path = config_path(scope, root)
        data = _normalized(_read_raw(path), str(path))
    value = _lookup(data, parsed.parts)
    if value is None:
        return []
    if isinstance(value, dict):
        return [(f"{parsed}.{sub}", v) for sub, v in _flatten(value)]
    return [(str(parsed), value)]


def list_values(root: Path | None, scope: Scope | None = None) -> list[tuple[str, Any, str]]:
    """``(key, value, origin)`` for every set key; origin is a scope name or ``default``."""
    if scope is not None:
        path = config_path(scope, root)
        data = _normalized(_read_raw(path), str(path))
        return [(key, value, str(scope)) for key, value in _flatten(data)]
    origins: dict[str, str] = {}
    for layer_scope, _path, data in _layers(root):
        for key, _value in _flatten(data):
            origins[key] = str(layer_scope)
    effective = load_config(root).model_dump(mode="json")
    return [(key, value, origins.get(key, "default")) for key, value in _flatten(effective)]


def set_value(
    root: Path | None, key: str, value: str, scope: Scope = Scope.PROJECT
) -> tuple[str, Any, Path]:
    """Validate and write one value; returns the resolved key, the stored value and the file.

    The file is rewritten in normalized form, atomically; a value the model refuses
    leaves it untouched.
    """
    parsed = parse_key(key)
    if parsed.section:
        children = [k for k in known_keys() if k.startswith(f"{parsed.parts[0]}.")]
        raise ConfigError(
            f"'{parsed}' is a section, not a value; set one of its keys: {', '.join(children)}"
        )
    path = config_path(scope, root)
    data = _normalized(_read_raw(path), str(path))
    node = data
    for part in parsed.parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[parsed.parts[-1]] = value
    model = _validate(data, f"{path} (nothing written)")
    result = model.model_dump(mode="json", exclude_unset=True)
    _write(path, result)
    return str(parsed), _lookup(result, parsed.parts), path


def unset_value(
    root: Path | None, key: str, scope: Scope = Scope.PROJECT
) -> tuple[str, Path] | None:
    """Remove ``key`` (a value or a whole section) from one file; None if it was not set.

    ``remotes.origin`` removes the whole remote. A key the model does not know can still be
    removed when it is in the file, so a bad key can always be fixed.
    """
    path = config_path(scope, root)
    raw = _read_raw(path)
    try:
        data = _normalized(raw, str(path))
    except ConfigError:
        data = raw
    parts = tuple(key.strip().split("."))
    if _lookup(data, parts) is None:
        parse_key(key)  # refuses unknown keys that are not in the file either
        return None
    _delete(data, parts)
    _write(path, data)
    return ".".join(parts), path


def _delete(data: dict[str, Any], parts: tuple[str, ...]) -> None:
    parent = data
    trail: list[tuple[dict[str, Any], str]] = []
    for part in parts[:-1]:
        trail.append((parent, part))
        parent = parent[part]
    del parent[parts[-1]]
    for container, part in reversed(trail):  # drop sections left empty
        if container[part] == {}:
            del container[part]


def _write(path: Path, data: dict[str, Any]) -> None:
    text = yaml.safe_dump(data, sort_keys=False, default_flow_style=False) if data else ""
    write_text_atomic(path, text)
