"""Turn a DVC pipeline (``dvc.yaml``) into a ``pipeline.py`` skeleton.

Every DVC stage becomes one function whose signature declares the stage's deps and outs with
``PathOnly`` (the command keeps doing its own I/O) and whose body runs the original command,
so the skeleton runs as generated. A stage's ``params:`` become ``ParamsDep`` arguments,
one per params file, listing the same keys (``${...}`` in them resolved per variant): the
command keeps reading its params file, and the values stay inputs of the stage, so editing
one re-runs exactly the stages that list it, as in DVC. What needs a human is marked
``TODO``:

- a Python command: port the script into the function (or import its ``main``) so that
  Pivot fingerprints the code, then drop the dep on the script;
- a non-Python command: it stays a subprocess Pivot cannot see into;
- ``foreach``/``matrix``: over plain values they become a Pivot matrix; other shapes are
  expanded into one function per variant;
- params keys or files missing today (the stage fails until they exist);
- ``wdir``, ``frozen``, ``always_changed``, ``${...}`` that could not be resolved, outputs
  that may be folders.

``${name}`` references are resolved from ``vars`` and params.yaml, as DVC does.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import keyword
import os
import posixpath
import re
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from pivot.core.store.safe_yaml import load_yaml
from pivot.exceptions import UsageError

__all__ = ["ImportResult", "import_dvc"]

_REF = re.compile(r"\$\{\s*([^}]+?)\s*\}")
_PYTHON = re.compile(r"^python(\d+(\.\d+)?)?$")
_RESERVED = {"pipeline", "pivot", "loaders", "subprocess", "sys", "shlex", "re", "Path"}


@dataclasses.dataclass(frozen=True)
class ImportResult:
    """The generated source, the Pivot stage names it registers, and how many TODOs it holds."""

    source: str
    stages: tuple[str, ...]
    todos: int
    #: Data ``dvc add`` tracks (``X.dvc`` files beside dvc.yaml or below), as paths relative
    #: to dvc.yaml's folder: ``pivot track`` them once the data is in the workspace.
    dvc_tracked: tuple[str, ...] = ()


def _identifier(text: str, taken: set[str], fallback: str = "x") -> str:
    name = re.sub(r"\W+", "_", text).strip("_").lower() or fallback
    if name[0].isdigit():
        name = f"{fallback}_{name}"
    if keyword.iskeyword(name) or name in _RESERVED:
        name += "_"
    candidate, counter = name, 2
    while candidate in taken:
        candidate, counter = f"{name}_{counter}", counter + 1
    taken.add(candidate)
    return candidate


def _class_name(func: str, suffix: str) -> str:
    return "".join(part.capitalize() for part in func.split("_") if part) + suffix


def _stage_name(text: str) -> str:
    """A valid Pivot stage name (``@variant`` kept)."""
    base, _, variant = text.partition("@")
    base = re.sub(r"[^A-Za-z0-9_\-.]", "_", base) or "stage"
    if not re.match(r"[A-Za-z_]", base):
        base = f"s_{base}"
    if variant:
        variant = re.sub(r"[^A-Za-z0-9_\-.]", "_", variant)
        return f"{base}@{variant}"
    return base


def _lookup(context: Mapping[str, Any], dotted: str) -> tuple[bool, Any]:
    value: Any = context
    for part in dotted.split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return False, None
    return True, value


def _read_yaml(path: Path) -> Any:
    try:
        return load_yaml(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError, RecursionError):
        return None


def _read_params(path: Path) -> Any:
    """A YAML, JSON or TOML params file (None when it cannot be read)."""
    if path.suffix.lower() == ".json":
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError):
            return None
    if path.suffix.lower() == ".toml":
        import tomllib

        try:
            return tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError):
            return None
    return _read_yaml(path)


def _py(value: Any) -> str:
    """A Python literal for a YAML value (strings in double quotes)."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_py(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_py(k)}: {_py(v)}" for k, v in value.items()) + "}"
    return repr(value)


def _py_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float | str):
        return type(value).__name__
    if isinstance(value, list):
        return "list[Any]"
    if isinstance(value, dict):
        return "dict[str, Any]"
    return "Any"


def _fstring(template: str, refs: Mapping[str, str]) -> str:
    """A Python string (an f-string when ``refs`` are used) for ``template``, where each
    ``${ref}`` found in ``refs`` becomes ``{expression}``."""
    pieces: list[str] = []
    used = False
    position = 0
    for match in _REF.finditer(template):
        literal = template[position : match.start()]
        pieces.append(literal)
        expression = refs.get(match.group(1))
        if expression is None:
            pieces.append(match.group(0))
        else:
            pieces.append("\0" + expression + "\0")
            used = True
        position = match.end()
    pieces.append(template[position:])
    text = "".join(pieces)
    if not used:
        return _q(text)
    out = []
    for index, part in enumerate(text.split("\0")):
        if index % 2:
            out.append("{" + part + "}")
        else:
            escaped = part.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
            out.append(escaped.replace("{", "{{").replace("}", "}}"))
    return 'f"' + "".join(out) + '"'


@dataclasses.dataclass
class _Variant:
    """One concrete DVC stage (a plain stage, or one variant of a foreach)."""

    name: str  # DVC name, e.g. "train" or "train@us"
    body: dict[str, Any]
    context: dict[str, Any]  # extra names for ${...}: item, key


@dataclasses.dataclass
class _Matrix:
    """A foreach/matrix over plain values: Pivot's own matrix, one function for all variants."""

    name: str
    body: dict[str, Any]
    dims: dict[str, list[Any]]
    #: ``${ref}`` -> dimension name
    refs: dict[str, str]


class _Generator:
    def __init__(self, dvc_yaml: Path, target_dir: Path) -> None:
        self.dvc_yaml = dvc_yaml
        self.dvc_dir = dvc_yaml.parent
        self.target_dir = target_dir
        self.functions: set[str] = set()
        self.blocks: list[str] = []
        self.registrations: list[str] = []
        self.stage_names: list[str] = []
        self.todos = 0
        self.header_notes: list[str] = []
        self.uses: set[str] = set()

    # -- context ---------------------------------------------------------------------------

    def load(self) -> dict[str, Any]:
        if not self.dvc_yaml.is_file():
            raise UsageError(f"{self.dvc_yaml} does not exist; give the path of a dvc.yaml")
        try:
            data = load_yaml(self.dvc_yaml.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError, RecursionError) as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise UsageError(f"{self.dvc_yaml} cannot be read as YAML: {first}") from None
        if not isinstance(data, dict) or not isinstance(data.get("stages"), dict):
            raise UsageError(f"{self.dvc_yaml} has no `stages:` mapping; is it a dvc.yaml?")
        self.context: dict[str, Any] = {}
        params = self.dvc_dir / "params.yaml"
        if params.is_file():
            loaded = _read_yaml(params)
            if isinstance(loaded, dict):
                self.context.update(loaded)
        for entry in data.get("vars") or []:
            if isinstance(entry, dict):
                self.context.update(entry)
            elif isinstance(entry, str):
                file = entry.split(":", 1)[0]
                loaded = _read_yaml(self.dvc_dir / file)
                if isinstance(loaded, dict):
                    self.context.update(loaded)
        for key in ("metrics", "plots", "artifacts", "params"):
            if data.get(key):
                self.header_notes.append(
                    f"the top-level `{key}:` of dvc.yaml was not imported; declare those files "
                    "on the stages that write them (Metric, Plot)"
                )
        return data

    def resolve(self, value: Any, extra: Mapping[str, Any], todo: list[str]) -> Any:
        """``value`` with every resolvable ``${ref}`` substituted (recursively)."""
        if isinstance(value, str):
            whole = _REF.fullmatch(value.strip())
            context = {**self.context, **extra}
            if whole:
                found, result = _lookup(context, whole.group(1))
                if found:
                    return result

            def substitute(match: re.Match[str]) -> str:
                found, result = _lookup(context, match.group(1))
                if found and not isinstance(result, dict | list):
                    return str(result)
                note = f"`{match.group(0)}` could not be resolved; replace it by hand"
                if note not in todo:
                    todo.append(note)
                return match.group(0)

            return _REF.sub(substitute, value)
        if isinstance(value, list):
            return [self.resolve(item, extra, todo) for item in value]
        if isinstance(value, dict):
            return {
                self.resolve(k, extra, todo): self.resolve(v, extra, todo) for k, v in value.items()
            }
        return value

    # -- stages ----------------------------------------------------------------------------

    def expand(self, name: str, body: dict[str, Any]) -> list[_Variant | _Matrix]:
        todo: list[str] = []
        if "foreach" in body:
            items = self.resolve(body["foreach"], {}, todo)
            template = body.get("do") or {}
            if isinstance(items, list) and items and all(_scalar(i) for i in items):
                return [_Matrix(name, template, {"item": items}, {"item": "item"})]
            if isinstance(items, dict):
                return [
                    _Variant(f"{name}@{key}", template, {"item": item, "key": key})
                    for key, item in items.items()
                ]
            if isinstance(items, list):
                return [
                    _Variant(f"{name}@{index}", template, {"item": item, "key": index})
                    for index, item in enumerate(items)
                ]
            return [_Variant(name, template, {})]
        if "matrix" in body:
            matrix = self.resolve(body["matrix"], {}, todo)
            template = {k: v for k, v in body.items() if k != "matrix"}
            if isinstance(matrix, dict) and all(
                str(dim).isidentifier()
                and not keyword.iskeyword(str(dim))
                and isinstance(values, list)
                and values
                and all(_scalar(v) for v in values)
                for dim, values in matrix.items()
            ):
                dims = {str(dim): list(values) for dim, values in matrix.items()}
                refs = {f"item.{dim}": dim for dim in dims}
                return [_Matrix(name, template, dims, refs)]
            if isinstance(matrix, dict) and all(isinstance(v, list) for v in matrix.values()):
                variants: list[_Variant | _Matrix] = []
                keys = list(matrix)
                indexed = [list(enumerate(matrix[k])) for k in keys]
                for combo in itertools.product(*indexed):
                    item = {key: value for key, (_, value) in zip(keys, combo, strict=True)}
                    label = "-".join(str(v) if _scalar(v) else str(i) for i, v in combo)
                    variants.append(_Variant(f"{name}@{label}", template, {"item": item}))
                return variants
            return [_Variant(name, template, {})]
        return [_Variant(name, body, {})]

    def path(self, raw: Any, wdir: str, todo: list[str]) -> str:
        text = str(raw)
        joined = posixpath.normpath(posixpath.join(wdir, text)) if wdir else text
        full = os.path.normpath(self.dvc_dir / joined)
        rel = Path(os.path.relpath(full, self.target_dir)).as_posix()
        if rel.startswith("../"):
            todo.append(
                f"'{rel}' is outside the folder of pipeline.py; Pivot paths must stay inside"
            )
        return rel

    def stage(self, unit: _Variant | _Matrix) -> None:
        todo: list[str] = []
        dvc_name = unit.name
        pivot_name = _stage_name(dvc_name)
        func = _identifier(pivot_name.replace("@", "_"), self.functions, "stage")
        body = unit.body
        extra: dict[str, Any] = unit.context if isinstance(unit, _Variant) else {}
        refs: dict[str, str] = {}  # ${ref} -> Python expression inside the function
        dims: dict[str, list[Any]] = {}
        if isinstance(unit, _Matrix):
            dims = unit.dims
            refs = {ref: f"params.{dim}" for ref, dim in unit.refs.items()}
        elif "item" in extra:
            todo.append(
                "one variant of a DVC foreach/matrix, expanded into its own function; a Pivot "
                "matrix (`pipeline.register(fn, matrix=...)`, `{dim}` in paths) can replace "
                "the copies"
            )

        def resolve(value: Any) -> Any:
            if not refs:
                return self.resolve(value, extra, todo)
            # Keep matrix references for the function to fill in; resolve the rest.
            marked = (
                _REF.sub(
                    lambda m: "\0" + m.group(1) + "\1" if m.group(1) in refs else m.group(0),
                    value,
                )
                if isinstance(value, str)
                else value
            )
            resolved = self.resolve(marked, extra, todo)
            if isinstance(resolved, str):
                return resolved.replace("\0", "${").replace("\1", "}")
            return resolved

        wdir = str(resolve(body.get("wdir") or "")) if body.get("wdir") else ""
        if wdir and wdir != ".":
            todo.append(
                f"wdir '{wdir}': the command runs there (cwd below); Pivot runs stages from the "
                "project root, and the paths here are relative to it"
            )
        else:
            wdir = ""
        commands = body.get("cmd") or []
        if isinstance(commands, str):
            commands = [commands]
        commands = [str(resolve(command)) for command in commands]

        # Paths and params keys: for a Pivot matrix, ${item.dim} becomes {dim}.
        def template(raw: Any) -> str:
            text = str(resolve(raw))
            if refs:
                text = text.replace("{", "{{").replace("}", "}}")
                for ref, dim in (unit.refs if isinstance(unit, _Matrix) else {}).items():
                    text = text.replace("${{" + ref + "}}", "{" + dim + "}")
            return text

        def path_of(raw: Any) -> str:
            return self.path(template(raw), wdir, todo)

        def path_value(raw: Any) -> str:
            """A Python expression for the path inside the function body."""
            text = str(resolve(raw))
            joined = posixpath.normpath(posixpath.join(wdir, text)) if wdir else text
            full = os.path.normpath(self.dvc_dir / joined)
            rel = Path(os.path.relpath(full, self.target_dir)).as_posix()
            return f"Path({_fstring(rel, refs)})"

        arg_names: set[str] = {"params"}
        dep_lines: list[str] = []
        scripts: list[str] = []
        for dep in body.get("deps") or []:
            if isinstance(dep, dict):  # {path: {options}}
                dep = next(iter(dep), "")
            rel = path_of(dep)
            arg = _identifier(Path(rel).name or rel, arg_names, "dep")
            dep_lines.append(f"    {arg}: Annotated[Path, Dep({_q(rel)}, loaders.PathOnly())],")
            self.uses.update(("Dep", "loaders"))
            if rel.endswith(".py"):
                scripts.append(rel)

        out_fields: list[tuple[str, str, str]] = []  # (field, marker source, path)
        field_names: set[str] = set()

        def add_out(raw: Any, kind: str) -> None:
            if isinstance(raw, dict):
                ((path_raw, options),) = raw.items()
                options = options or {}
            else:
                path_raw, options = raw, {}
            rel = path_of(path_raw)
            args = [_q(rel), "loaders.PathOnly()"]
            if kind == "metrics":
                marker = "Metric"
            elif kind == "plots":
                marker = "Plot"
                for key in ("x", "y", "title"):
                    if isinstance(options.get(key), str):
                        args.append(f"{key}={_q(options[key])}")
            else:
                local = self.target_dir / rel
                if options.get("persist"):
                    marker = "IncrementalOut"
                elif local.is_dir() or str(path_raw).endswith("/"):
                    marker = "DirectoryOut"
                elif not Path(rel).suffix and not local.exists():
                    marker = "DirectoryOut"
                    todo.append(
                        f"'{rel}' has no extension, so it is taken for a folder; if the "
                        "command writes a file there, use Out"
                    )
                else:
                    marker = "Out"
            if options.get("cache") is False and marker != "Metric":
                args.append("cache=False")
            if options.get("persist") and marker != "IncrementalOut":
                todo.append(f"'{rel}' is `persist: true`: Pivot only keeps IncrementalOut outputs")
            self.uses.update((marker, "loaders"))
            field = _identifier(Path(rel).stem or rel, field_names, "out")
            out_fields.append((field, f"{marker}({', '.join(args)})", path_value(path_raw)))

        for kind in ("outs", "metrics", "plots"):
            for out in body.get(kind) or []:
                add_out(out, kind)

        # Matrix dimensions: a StageParams model, one field per dimension, so the function
        # knows its variant.
        param_fields: list[tuple[str, str, str, str]] = []  # (field, type, default, comment)
        field_taken: set[str] = set()
        for dim, values in dims.items():
            name = _identifier(dim, field_taken, "dim")
            param_fields.append(
                (
                    name,
                    _py_type(values[0]),
                    _py(values[0]),
                    "matrix dimension (one value per variant)",
                )
            )

        # DVC params: ParamsDep arguments, one per file; the command keeps reading the file
        # and the values stay inputs of the stage.
        tracked: dict[str, list[str] | None] = {}
        for raw_file, raw_key in _param_keys(body.get("params") or []):
            file = path_of(raw_file)
            key = None if raw_key is None else template(raw_key)
            known = tracked.setdefault(file, [])
            if known is None or key is None:
                tracked[file] = None
            elif key not in known:
                known.append(key)
        params_lines: list[str] = []
        for file, keys in tracked.items():
            arg = _identifier(Path(file).name, arg_names, "params")
            args = [_q(key) for key in keys or ()]
            if file != "params.yaml":
                args.append(f"file={_q(file)}")
            params_lines.append(
                f"    {arg}: Annotated[dict[str, Any], ParamsDep({', '.join(args)})],"
            )
            self.uses.update(("ParamsDep", "Any"))
            for note in self.check_params(file, keys, dims):
                if note not in todo:
                    todo.append(note)

        if body.get("frozen"):
            todo.append(
                "frozen in DVC: Pivot has no frozen stages; remove it or leave it out of the pipeline"
            )
        if body.get("always_changed"):
            todo.append(
                "always_changed in DVC: Pivot runs a stage only when its inputs change; use `pivot run -f STAGE`"
            )

        calls: list[str] = []
        for command in commands:
            words = command.split()
            first = words[0] if words else ""
            is_python = bool(_PYTHON.match(first))
            if is_python:
                script = next((w for w in words[1:] if w.endswith(".py")), None)
                module = words[2] if len(words) > 2 and words[1] == "-m" else None
                what = script or (f"module {module}" if module else "the inline code")
                todo.append(
                    f"port {what} into this function (or import its main function) so Pivot "
                    "fingerprints the code" + ("; then remove its Dep" if script else "")
                )
            else:
                todo.append(
                    f"`{first}` is not a Python command: it stays a subprocess whose code Pivot "
                    "cannot see; list what it runs as a Dep"
                )
            call_refs = {ref: expr for ref, expr in refs.items()}
            cwd = f", cwd={_q(wdir)}" if wdir else ""
            calls.append(f"    _run({_fstring(command, call_refs)}{cwd})")
        if not commands:
            todo.append("the stage has no cmd")

        # Assemble the function.
        if any("Any" in type_ for _, type_, _, _ in param_fields):
            self.uses.add("Any")
        lines: list[str] = []
        params_class = None
        if param_fields:
            params_class = _class_name(func, "Params")
            self.uses.add("StageParams")
            lines.append(f"class {params_class}(StageParams):")
            for name, type_, default, comment in param_fields:
                lines.append(f"    {name}: {type_} = {default}  # {comment}")
            lines.extend(["", ""])
        returns = "None"
        result = None
        if len(out_fields) == 1:
            field, marker, rel = out_fields[0]
            returns = f"Annotated[Path, {marker}]"
            result = rel
        elif out_fields:
            outputs_class = _class_name(func, "Outputs")
            self.uses.add("TypedDict")
            lines.append(f"class {outputs_class}(TypedDict):")
            for field, marker, _ in out_fields:
                lines.append(f"    {field}: Annotated[Path, {marker}]")
            lines.extend(["", ""])
            returns = outputs_class
            result = (
                f"{outputs_class}("
                + ", ".join(f"{field}={value}" for field, _, value in out_fields)
                + ")"
            )
        signature = [*dep_lines, *params_lines]
        if params_class:
            signature.append(f"    params: {params_class},")
        if signature:
            lines.append(f"def {func}(")
            lines.extend(signature)
            lines.append(f") -> {returns}:")
        else:
            lines.append(f"def {func}() -> {returns}:")
        raw_commands = body.get("cmd") or []
        if isinstance(raw_commands, str):
            raw_commands = [raw_commands]
        desc = str(body.get("desc") or "").strip()
        doc = (
            [desc, "", f"Imported from DVC stage '{dvc_name}'."]
            if desc
            else [f"Imported from DVC stage '{dvc_name}'."]
        )
        if raw_commands:
            doc.extend(
                ["", "Original command:" if len(raw_commands) == 1 else "Original commands:"]
            )
            doc.extend(f"    {command}" for command in raw_commands)
        if todo:
            doc.append("")
            for note in dict.fromkeys(todo):
                doc.append(f"TODO: {note}")
                self.todos += 1
        wrapped: list[str] = []
        for line in doc:
            indent = "      " if line.startswith("TODO: ") else ""
            if len(line) > 92 and not line.startswith("    "):
                wrapped.extend(textwrap.wrap(line, 92, subsequent_indent=indent))
            else:
                wrapped.append(line)
        lines.append('    """' + _doc_safe(wrapped[0]))
        lines.extend(f"    {_doc_safe(line)}".rstrip() for line in wrapped[1:])
        lines.append('    """')
        lines.extend(calls or ["    pass"])
        if result:
            lines.append(f"    return {result}")
        self.blocks.append("\n".join(lines))

        options = []
        if pivot_name != func:
            options.append(f"name={_q(pivot_name)}")
        if dims:
            options.append(f"matrix={_py(dims)}")
        extra_args = "".join(f", {o}" for o in options)
        self.registrations.append(f"pipeline.register({func}{extra_args})")
        if dims:
            for combo in itertools.product(*dims.values()):
                label = "_".join(str(v).replace(" ", "-") for v in combo)
                self.stage_names.append(f"{pivot_name}@{label}")
        else:
            self.stage_names.append(pivot_name)

    def check_params(
        self, file: str, keys: list[str] | None, dims: Mapping[str, list[Any]]
    ) -> list[str]:
        """TODO notes for what the stage lists that its params file does not hold today: the
        stage fails (with one line naming the key) until it is there."""
        if not file.lower().endswith((".yaml", ".yml", ".json", ".toml")):
            return [f"params file {file}: Pivot reads YAML, JSON and TOML params files; convert it"]
        loaded = _read_params(self.target_dir / file)
        if not isinstance(loaded, dict):
            return [f"params file {file} is missing or not a mapping; the stage fails until it is"]
        variants = [
            {dim: str(value) for dim, value in zip(dims, combo, strict=True)}
            for combo in itertools.product(*dims.values())
        ]
        notes = []
        for key in keys or ():
            for concrete in dict.fromkeys(key.format_map(v) for v in variants) if dims else [key]:
                if concrete not in loaded and not _lookup(loaded, concrete)[0]:
                    notes.append(
                        f"param '{concrete}' is not in {file}; the stage fails until it is"
                    )
        return notes

    # -- output ----------------------------------------------------------------------------

    def render(self, data: dict[str, Any]) -> str:
        for name, body in data["stages"].items():
            if not isinstance(body, dict):
                raise UsageError(f"{self.dvc_yaml}: stage '{name}' is not a mapping")
            for unit in self.expand(str(name), body):
                self.stage(unit)
        typing_names = ["Annotated"]
        if "Any" in self.uses:
            typing_names.append("Any")
        if "TypedDict" in self.uses:
            typing_names.append("TypedDict")
        markers = sorted(
            m
            for m in self.uses
            if m in {"DirectoryOut", "IncrementalOut", "Metric", "Out", "ParamsDep", "Plot"}
        )
        header = [
            f'"""Pivot pipeline generated by `pivot import-dvc` from {self.dvc_yaml.name}.',
            "",
            "Each function runs the original command of one DVC stage, so this file runs as it is.",
            "Search for TODO: the notes say what to port by hand for Pivot to see your code.",
        ]
        for note in self.header_notes:
            header.append(f"TODO: {_doc_safe(note)}")
            self.todos += 1
        header.append('"""')
        imports = [
            "import shlex",
            "import subprocess",
            "import sys",
            "from pathlib import Path",
            f"from typing import {', '.join(sorted(typing_names))}",
            "",
            "import pivot",
        ]
        if "loaders" in self.uses:
            imports.append("from pivot import loaders")
        if "Dep" in self.uses:
            markers = ["Dep", *markers]
        if markers:
            imports.append(f"from pivot.outputs import {', '.join(markers)}")
        if "StageParams" in self.uses:
            imports.append("from pivot.stage_def import StageParams")
        pipeline_name = re.sub(r"[^A-Za-z0-9_-]", "_", self.target_dir.resolve().name) or "imported"
        helper = [
            f"pipeline = pivot.Pipeline({_q(pipeline_name)})",
            "",
            "",
            'def _run(command: str, cwd: str = ".") -> None:',
            '    """Run an original DVC command (python means this interpreter); fail the stage if it fails."""',
            '    first, _, rest = command.partition(" ")',
            '    if first.rstrip("0123456789.") == "python":',
            '        command = f"{shlex.quote(sys.executable)} {rest}"',
            "    subprocess.run(command, shell=True, check=True, cwd=cwd)",
        ]
        parts = [
            "\n".join(header),
            "\n".join(imports),
            "\n".join(helper),
            *self.blocks,
            "\n".join(self.registrations),
        ]
        return "\n\n\n".join(parts) + "\n"


def _q(text: str) -> str:
    """A double-quoted Python string literal."""
    return json.dumps(text, ensure_ascii=False)


def _doc_safe(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')


def _scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | bool) and not (
        isinstance(value, str) and not re.fullmatch(r"[A-Za-z0-9_\-.]+", value)
    )


def _param_keys(entries: list[Any]) -> list[tuple[str, str | None]]:
    """``(file, key)`` pairs from a DVC ``params:`` list; key None means the whole file."""
    found: list[tuple[str, str | None]] = []
    for entry in entries:
        if isinstance(entry, str):
            found.append(("params.yaml", entry))
        elif isinstance(entry, dict):
            for file, keys in entry.items():
                if not keys:
                    found.append((str(file), None))
                elif isinstance(keys, str):
                    found.append((str(file), keys))
                else:
                    found.extend((str(file), str(key)) for key in keys)
    return found


def import_dvc(dvc_yaml: Path, target_dir: Path) -> ImportResult:
    """Generate a pipeline.py (meant to live in ``target_dir``) from ``dvc_yaml``."""
    generator = _Generator(dvc_yaml, target_dir)
    data = generator.load()
    source = generator.render(data)
    tracked = tuple(dvc_added_paths(dvc_yaml.resolve().parent))
    return ImportResult(source, tuple(generator.stage_names), generator.todos, tracked)


def dvc_added_paths(root: Path) -> list[str]:
    """The data paths the ``.dvc`` files under ``root`` track (``dvc add``), sorted."""
    found: list[str] = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in (".dvc", ".git", ".pivot", ".venv"))
        for name in sorted(files):
            if not name.endswith(".dvc"):
                continue
            try:
                data = load_yaml((Path(folder) / name).read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, yaml.YAMLError, RecursionError):
                continue
            outs = data.get("outs") if isinstance(data, dict) else None
            for out in outs if isinstance(outs, list) else []:
                if isinstance(out, dict) and isinstance(out.get("path"), str):
                    rel = Path(folder).relative_to(root) / out["path"]
                    found.append(rel.as_posix())
    return sorted(found)
