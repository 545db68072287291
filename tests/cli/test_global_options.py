"""`--no-tui`, `-v` and `-q` work after the command as well as before it (issue 18)."""

from __future__ import annotations

import sys

import pytest
from click.testing import CliRunner

from pivot.cli import cli
from tests.cli.test_help import COMMANDS
from tests.helpers import TempProject

PIPELINE = """
from typing import Annotated
import pivot
from pivot import loaders

def make() -> Annotated[str, pivot.Out("a.txt", loaders.Text())]:
    return "a"

def use(a: Annotated[str, pivot.Dep("a.txt", loaders.Text())]) -> Annotated[str, pivot.Out("b.txt", loaders.Text())]:
    return a + "b"

p = pivot.Pipeline("p")
p.register(make)
p.register(use)
"""


@pytest.mark.parametrize("path", [path for path, _ in COMMANDS], ids=" ".join)
def test_every_command_takes_the_global_options_once(path: tuple[str, ...]) -> None:
    command = dict(COMMANDS)[path]
    names = [param.name for param in command.params]
    assert [names.count(n) for n in ("no_tui", "verbose", "quiet")] == [1, 1, 1], names
    result = CliRunner().invoke(cli, [*path, "--help"], prog_name="pivot", terminal_width=100)
    assert "--no-tui" in result.output and "-v, --verbose" in result.output
    assert "-q, --quiet" in result.output


def test_quiet_after_the_command_is_the_same_as_before(project: TempProject) -> None:
    project.write("pipeline.py", PIPELINE)
    project.pivot("run")
    loud = project.pivot("--no-tui", "run").stdout.splitlines()
    assert sum("skipped" in line for line in loud) == 3  # two stage lines and the summary
    before = project.pivot("-q", "run").stdout.splitlines()
    after = project.pivot("run", "-q", "--no-tui").stdout.splitlines()
    assert len(before) == len(after) == 1
    assert before[0].startswith("Done: 2 skipped") and after[0].startswith("Done: 2 skipped")


def test_verbose_after_the_command_shows_the_traceback(project: TempProject) -> None:
    project.write("pipeline.py", "raise RuntimeError('broken on purpose')\n")
    plain = project.pivot("list", check=2)
    assert "Traceback" not in plain.stderr and "broken on purpose" in plain.stderr
    verbose = project.pivot("list", "-v", check=2)
    assert "Traceback" in verbose.stderr and "broken on purpose" in verbose.stderr
    assert project.pivot("-v", "list", check=2).stderr == verbose.stderr


@pytest.mark.timeout(90)
@pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pty")
def test_no_tui_after_the_command_keeps_a_terminal_plain(project: TempProject) -> None:
    """In a terminal `pivot data diff FILE` opens the app; with --no-tui anywhere it prints."""
    from tests.tui.test_cli_tty import Terminal

    project.write("f.csv", "id,v\n1,a\n2,b\n")
    project.commit_all()
    project.write("f.csv", "id,v\n1,a\n2,c\n")
    term = Terminal(project.root, "data", "diff", "f.csv", "--key", "id", "--no-tui")
    code = term.close()
    assert code == 0, term.screen[-2000:]
    assert b"\x1b[?1049h" not in term.screen  # no alternate screen: the app never opened
    assert b"1 modified" in term.screen
