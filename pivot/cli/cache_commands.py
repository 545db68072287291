"""Commands that move results between the workspace and the cache: commit, checkout."""

from __future__ import annotations

import sys

import click

from pivot.cli._context import CliContext
from pivot.cli.project_commands import complete_stages

pass_cli = click.make_pass_decorator(CliContext)


@click.command()
@click.argument("stages", nargs=-1, shell_complete=complete_stages)
@pass_cli
def commit(cli: CliContext, stages: tuple[str, ...]) -> None:
    """Record the current outputs of STAGES (all if none) as their result, without running.

    Use it after producing outputs by hand: it hashes deps and outputs, caches the outputs and
    writes the lock files, so the next `pivot run` skips these stages.

    \b
    Example:
      pivot commit train
    """
    from pivot.core.run.commit import commit_stages
    from pivot.core.run.engine import Engine

    results = commit_stages(Engine(cli.project()), stages)
    for result in results:
        click.echo(f"{'committed' if result.changed else 'unchanged'}  {result.stage}")


@click.command()
@click.argument("targets", nargs=-1, shell_complete=complete_stages)
@click.option(
    "-f", "--force", is_flag=True, help="Also overwrite outputs that differ from their lock."
)
@pass_cli
def checkout(cli: CliContext, targets: tuple[str, ...], force: bool) -> None:
    """Restore outputs from the cache as the lock files record them.

    TARGETS are stage names or output paths (all outputs if none). Missing outputs are
    restored; outputs you modified are kept unless --force. Exit 1 if something could not be
    restored (its blob is not in the cache: try `pivot pull`).

    \b
    Examples:
      pivot checkout
      pivot checkout data/clean.csv --force
    """
    from pivot.core.run.checkout import checkout as do_checkout

    results = do_checkout(cli.project(), targets, force=force)
    failed = False
    for result in results:
        if result.action == "unchanged" and not cli.verbose:
            continue
        failed |= result.action == "missing-blob"
        detail = f"  ({result.detail})" if result.detail else ""
        click.echo(f"{result.action:<12} {result.path}{detail}")
    restored = sum(1 for r in results if r.action == "restored")
    click.echo(f"{restored} restored, {len(results) - restored} left as they are")
    sys.exit(1 if failed else 0)


COMMANDS: list[click.Command] = [commit, checkout]
