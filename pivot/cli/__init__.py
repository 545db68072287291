"""The ``pivot`` command line.

``pivot`` alone opens the TUI in a terminal; every command also runs headless (``--no-tui``,
a non-TTY stdout, or ``CI`` set). Heavy modules are imported inside commands so that
``pivot --help`` stays fast.
"""

from __future__ import annotations

import os
import sys
import traceback

import click

from pivot.cli._context import CliContext
from pivot.exceptions import PivotError

COMMAND_GROUPS: dict[str, list[str]] = {
    "Run the pipeline": [
        "run",
        "repro",
        "status",
        "explain",
        "commit",
        "checkout",
        "verify",
        "serve",
    ],
    "Inspect": ["list", "dag", "history", "show", "params", "metrics", "plots", "data"],
    "Share": ["track", "import", "update", "push", "pull", "fetch", "config"],
    "Project": ["init", "gc", "export", "import-dvc", "doctor", "completion"],
}


class PivotGroup(click.Group):
    """Lists commands grouped by purpose in ``pivot --help``."""

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        listed: set[str] = set()
        for title, names in COMMAND_GROUPS.items():
            rows = []
            for name in names:
                command = self.get_command(ctx, name)
                if command is not None and not command.hidden:
                    rows.append((name, command.get_short_help_str(limit=70)))
                    listed.add(name)
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)
        rest = [
            (name, cmd.get_short_help_str(limit=70))
            for name in self.list_commands(ctx)
            if name not in listed
            and (cmd := self.get_command(ctx, name)) is not None
            and not cmd.hidden
        ]
        if rest:
            with formatter.section("Other"):
                formatter.write_dl(rest)


def _set_no_tui(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        ctx.ensure_object(CliContext).no_tui = True


def _add_verbose(ctx: click.Context, _param: click.Parameter, value: int) -> None:
    if value:
        ctx.ensure_object(CliContext).verbose += value


def _set_quiet(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        ctx.ensure_object(CliContext).quiet = True


def global_options() -> list[click.Option]:
    """``--no-tui``, ``-v`` and ``-q``: fresh options that fold into the shared :class:`CliContext`.

    ``pivot`` itself takes them, and :func:`_register` gives them to every command and
    subcommand as well, so ``pivot --no-tui run`` and ``pivot run --no-tui`` are the same.
    """
    return [
        click.Option(
            ["--no-tui"],
            is_flag=True,
            expose_value=False,
            callback=_set_no_tui,
            help="Plain output even in a terminal (also when stdout is not a TTY or CI is set).",
        ),
        click.Option(
            ["-v", "--verbose"],
            count=True,
            expose_value=False,
            callback=_add_verbose,
            help="More detail; tracebacks on errors.",
        ),
        click.Option(
            ["-q", "--quiet"],
            is_flag=True,
            expose_value=False,
            callback=_set_quiet,
            help="Only errors and summaries.",
        ),
    ]


def _add_global_options(command: click.Command) -> None:
    """Give ``command`` (and, for a group, its subcommands) the global options, once.

    ``repro`` shares its parameter list with ``run``, hence the check for options already there.
    """
    if not any(param.name == "no_tui" for param in command.params):
        command.params.extend(global_options())
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _add_global_options(sub)


@click.group(
    cls=PivotGroup,
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    params=global_options(),
)
@click.option(
    "-C",
    "directory",
    type=click.Path(file_okay=False, exists=True),
    help="Run as if started in DIR.",
)
@click.version_option(package_name="pivot", prog_name="pivot")
@click.pass_context
def cli(ctx: click.Context, directory: str | None) -> None:
    """Pivot: fast Python data pipelines with code-aware change detection.

    Run `pivot` in a terminal for the interactive app, or a command below.

    --no-tui, -v and -q work before or after the command.

    \b
    Example:
      pivot init && pivot run      # run every stale stage
    """
    if directory:
        os.chdir(directory)
    cli_context = ctx.ensure_object(CliContext)
    if ctx.invoked_subcommand is None:
        if cli_context.interactive:
            from pivot.cli._tui import open_tui

            open_tui(cli_context)
        else:
            click.echo(ctx.get_help())


def _register() -> None:
    from pivot.cli import (
        cache_commands,
        core_commands,
        import_commands,
        metrics_commands,
        project_commands,
        remote_commands,
        serve_command,
    )
    from pivot.cli.data import data_group

    for command in [
        *core_commands.COMMANDS,
        *cache_commands.COMMANDS,
        *remote_commands.COMMANDS,
        *import_commands.COMMANDS,
        *metrics_commands.COMMANDS,
        *project_commands.COMMANDS,
        *serve_command.COMMANDS,
        data_group,
    ]:
        _add_global_options(command)
        cli.add_command(command)


_register()


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI, turning Pivot errors into one line and an exit code."""
    verbose = any(arg in ("-v", "--verbose", "-vv") for arg in (argv or sys.argv[1:]))
    try:
        cli.main(args=argv, prog_name="pivot", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.exceptions.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except PivotError as exc:
        if verbose:
            traceback.print_exc()
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(1)
    except OSError as exc:  # the machine said no (disk full, no permission): not a Pivot bug
        if verbose:
            traceback.print_exc()
        where = f" ({exc.filename})" if exc.filename else ""
        click.echo(f"error: {exc.strerror or exc}{where}", err=True)
        sys.exit(1)
    except Exception as exc:
        if verbose:
            traceback.print_exc()
        click.echo(
            f"internal error: {type(exc).__name__}: {exc} (run with -v for the traceback)", err=True
        )
        sys.exit(1)
