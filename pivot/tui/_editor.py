"""Open a stage's source in the user's editor (``o``): where its function is, and the command
that opens it there. UI-free; the app hands the terminal over with ``App.suspend()``."""

from __future__ import annotations

import inspect
import os
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from textual.app import App

    from pivot.registry import StageSpec

__all__ = ["NO_EDITOR", "editor_command", "stage_source"]

#: Shown when neither $EDITOR nor $VISUAL is set.
NO_EDITOR = (
    "No editor set: set $EDITOR (or $VISUAL), e.g. `export EDITOR=vim` in your shell profile, "
    "then restart pivot"
)

#: Editors that take ``FILE:LINE``; ``--goto`` first for the VS Code family.
_GOTO = {"code", "code-insiders", "codium", "cursor"}
_COLON = {"subl", "zed", "hx", "helix", "mate"}


def stage_source(spec: StageSpec) -> tuple[Path, int] | None:
    """The file and first line of the stage's function (decorators unwrapped), if known."""
    func = inspect.unwrap(spec.func)
    try:
        file = inspect.getsourcefile(func)
        _, line = inspect.getsourcelines(func)
    except (OSError, TypeError):
        return None
    if file is None:
        return None
    return Path(file), max(line, 1)


def editor_command(path: Path, line: int, env: Mapping[str, str] | None = None) -> list[str] | None:
    """The argv that opens ``path`` at ``line`` in $EDITOR (else $VISUAL); None if neither is set.

    Most terminal editors (vi, vim, nvim, nano, emacs, micro, kak) take ``+LINE FILE``;
    VS Code and its forks take ``--goto FILE:LINE``, Sublime, Zed and Helix ``FILE:LINE``.
    """
    env = os.environ if env is None else env
    value = (env.get("EDITOR") or env.get("VISUAL") or "").strip()
    if not value:
        return None
    argv = shlex.split(value)
    name = Path(argv[0]).name.removesuffix(".exe")
    if name in _GOTO:
        return [*argv, "--goto", f"{path}:{line}"]
    if name in _COLON:
        return [*argv, f"{path}:{line}"]
    return [*argv, f"+{line}", str(path)]


def run_editor(app: App[Any], command: list[str]) -> None:
    """Run the editor in the terminal (the app suspended meanwhile), then say how it went.

    A headless app (tests) has no terminal to hand over: the editor just runs.
    """
    import subprocess

    from textual.app import SuspendNotSupported

    try:
        if app.is_headless:
            code = subprocess.run(command, check=False).returncode
        else:
            with app.suspend():
                code = subprocess.run(command, check=False).returncode
    except SuspendNotSupported:
        app.notify("This terminal cannot be handed to an editor", severity="error")
        return
    except OSError as exc:
        app.notify(f"Cannot start the editor {command[0]!r}: {exc.strerror}", severity="error")
        return
    if code != 0:
        app.notify(f"The editor {command[0]!r} exited with status {code}", severity="warning")


def open_in_editor(
    app: App[Any], stage: str, source: tuple[Path, int] | None, error: str | None
) -> None:
    """Open ``stage``'s source at its line in $EDITOR, or say why it cannot be."""
    if source is None:
        why = error or "the source of its function cannot be found"
        app.notify(f"{stage}: {why}", severity="error")
        return
    command = editor_command(*source)
    if command is None:
        app.notify(NO_EDITOR, severity="warning", timeout=10)
        return
    run_editor(app, command)
