"""Commands that share the cache and configure Pivot: push, fetch, pull, verify, config.

Everything heavy (boto3, pydantic, rich) is imported inside the commands.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from pivot.cli._context import CliContext
from pivot.cli._progress import transfer_progress
from pivot.cli.project_commands import complete_stages
from pivot.render.counts import plural

if TYPE_CHECKING:
    from pivot.core.remote import BlobProblem, TransferResult

pass_cli = click.make_pass_decorator(CliContext)


def _transfer_options(func: Any) -> Any:
    options = [
        click.argument("stages", nargs=-1, shell_complete=complete_stages),
        click.option(
            "-r", "--remote", metavar="NAME", help="Remote to use (default: default_remote)."
        ),
        click.option(
            "-j",
            "--jobs",
            type=click.IntRange(1, 512),
            default=16,
            show_default=True,
            help="Parallel transfers.",
        ),
        click.option(
            "-n", "--dry-run", is_flag=True, help="Show what would be transferred; move nothing."
        ),
        click.option("--json", "as_json", is_flag=True, help="Print the result as JSON."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _files(count: int) -> str:
    return plural(count, "file")


def _report_problems(title: str, problems: Sequence[BlobProblem], verbose: int) -> None:
    shown = problems if verbose else problems[:20]
    for problem in shown:
        click.echo(f"  {title}: {problem.describe()}", err=True)
    if len(problems) > len(shown):
        click.echo(f"  … and {len(problems) - len(shown)} more (-v lists all)", err=True)


def _summarize(result: TransferResult, cli: CliContext, done_verb: str, preposition: str) -> None:
    from pivot.render.sizes import human_size

    done = len(result.transferred)
    if result.dry_run and (cli.verbose or done <= 20):
        for ref in result.transferred:
            click.echo(f"  {ref.path}  ({ref.stage}, {human_size(ref.size)})")
    verb = f"would be {done_verb}" if result.dry_run else done_verb
    click.echo(
        f"{_files(done)} ({human_size(result.bytes)}) {verb} {preposition} {result.remote}; "
        f"{result.present} of {result.blobs} already there"
    )


def _fail_on_problems(result: TransferResult, action: str, next_step: str, cli: CliContext) -> None:
    from pivot.exceptions import RemoteError

    _report_problems("missing", result.missing, cli.verbose)
    _report_problems("failed", result.failed, cli.verbose)
    problems = [*result.missing, *result.failed]
    if problems:
        first = problems[0]
        raise RemoteError(
            f"{len(problems)} of {plural(result.blobs, 'blob')} could not be {action} (first: {first.path}: "
            f"{first.reason}); {next_step}"
        )


@click.command()
@_transfer_options
@click.option(
    "-f",
    "--force",
    is_flag=True,
    help="Upload every blob, replacing what the remote holds under its name (repairs corrupt objects).",
)
@pass_cli
def push(
    cli: CliContext,
    stages: tuple[str, ...],
    remote: str | None,
    jobs: int,
    dry_run: bool,
    as_json: bool,
    force: bool,
) -> None:
    """Upload the cached outputs of STAGES and tracked data to the remote (all if none).

    STAGES are stage names or tracked paths (`pivot track`); with none, every stage with a
    lock and every tracked path.

    Only blobs the remote lacks are sent; hashes already seen there are remembered, so a
    second push of unchanged outputs sends no request per file. Exit 1 if a blob could not be
    uploaded (for example because it is neither in the cache nor in the workspace).
    With --force every blob is sent and replaces the remote's object of that name: the
    repair for objects `pivot fetch` or `pivot pull` reported corrupt.

    \b
    Examples:
      pivot push                  # everything the lock files reference
      pivot push train -r backup  # one stage, to another remote
      pivot push -n               # what would be uploaded
      pivot push --force train    # repair objects a fetch reported corrupt
    """
    from pivot.core import remote as remote_api

    project = cli.project()
    with transfer_progress(cli, "push", as_json=as_json) as progress:
        result = remote_api.push(
            project,
            stages,
            remote=remote,
            jobs=jobs,
            dry_run=dry_run,
            force=force,
            progress=progress,
        )
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        _summarize(result, cli, "pushed", "to")
    _fail_on_problems(
        result, "pushed", "re-run the stages that produced them, then push again", cli
    )


@click.command()
@_transfer_options
@pass_cli
def fetch(
    cli: CliContext,
    stages: tuple[str, ...],
    remote: str | None,
    jobs: int,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Download the outputs of STAGES and tracked data into the local cache (all if none).

    STAGES are stage names or tracked paths; with none, every stage with a lock and every
    tracked path.

    The workspace is not touched (see `pivot pull`). Every blob is checked against its hash
    before it enters the cache. Exit 1 if a blob is missing on the remote or corrupt there.

    \b
    Examples:
      pivot fetch
      pivot fetch train -j 32
    """
    from pivot.core import remote as remote_api

    project = cli.project()
    with transfer_progress(cli, "fetch", as_json=as_json) as progress:
        result = remote_api.fetch(
            project, stages, remote=remote, jobs=jobs, dry_run=dry_run, progress=progress
        )
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        _summarize(result, cli, "fetched", "from")
    _fail_on_problems(result, "fetched", "push them from a machine that has them", cli)


@click.command()
@_transfer_options
@pass_cli
def pull(
    cli: CliContext,
    stages: tuple[str, ...],
    remote: str | None,
    jobs: int,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Fetch the outputs of STAGES and tracked data, and write them into the workspace.

    STAGES are stage names or tracked paths (all if none). Outputs and tracked data that are
    missing or differ from their record are restored from the cache (folders
    file by file; files a folder's lock does not list are removed). Afterwards `pivot run`
    skips every stage whose code, params and deps are unchanged.

    \b
    Examples:
      git clone … && cd … && pivot pull && pivot run   # nothing to run
      pivot pull train
    """
    from pivot.core import remote as remote_api
    from pivot.exceptions import RemoteError

    project = cli.project()
    with transfer_progress(cli, "pull", as_json=as_json) as progress:
        result = remote_api.pull(
            project, stages, remote=remote, jobs=jobs, dry_run=dry_run, progress=progress
        )
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        fetched = result.fetch
        if fetched.transferred or not dry_run:
            _summarize(fetched, cli, "fetched", "from")
        if cli.verbose or dry_run:
            for path in result.restored:
                click.echo(f"  {'would restore' if dry_run else 'restored'} {path}")
            for path in result.removed:
                click.echo(f"  {'would remove' if dry_run else 'removed'} {path} (not in its lock)")
        verb = "would restore" if dry_run else "restored"
        click.echo(
            f"{verb} {_files(len(result.restored))} in the workspace; {result.up_to_date} already up to date"
        )
    _report_problems("missing", result.fetch.missing, cli.verbose)
    _report_problems("failed", [*result.fetch.failed, *result.failed], cli.verbose)
    if not result.ok and not dry_run:
        problems = [*result.fetch.missing, *result.fetch.failed, *result.failed]
        paths = {p.path for p in problems}
        raise RemoteError(
            f"{plural(len(paths), 'output file')} could not be pulled "
            f"(first: {problems[0].path}: {problems[0].reason})"
        )


# -- verify -----------------------------------------------------------------------------------


@click.command()
@click.argument("stages", nargs=-1, shell_complete=complete_stages)
@click.option(
    "--remote", "check_remote", is_flag=True, help="Check the remote instead: is everything pushed?"
)
@click.option(
    "-r", "remote_name", metavar="NAME", help="Remote for --remote (default: default_remote)."
)
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(1, 512),
    default=16,
    show_default=True,
    help="Parallel requests.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the problems as JSON.")
@pass_cli
def verify(
    cli: CliContext,
    stages: tuple[str, ...],
    check_remote: bool,
    remote_name: str | None,
    jobs: int,
    as_json: bool,
) -> None:
    """Check that every stage's results are recorded and cached; exit 1 listing what is not.

    Without --remote: every stage (or STAGES) has a lock, every cached output's blobs are in
    the local cache with bytes matching their hash, and every output in the workspace matches
    its lock. With --remote (a CI gate): every blob the lock files reference is on the remote.

    \b
    Examples:
      pivot verify
      pivot verify --remote          # in CI, after `pivot push`
    """
    from pivot import exceptions
    from pivot.core import remote as remote_api
    from pivot.render.remote import remote_status_lines

    project = cli.project()
    if check_remote or remote_name:
        rows = remote_api.verify_remote(project, stages, remote_name, jobs=jobs)
        if as_json:
            click.echo(json.dumps({"missing": [row.to_dict() for row in rows]}, indent=2))
        else:
            for line in remote_status_lines(rows):
                click.echo(line)
        if rows:
            files = sum(row.missing_remote for row in rows)
            raise exceptions.RemoteError(
                f"{plural(len(rows), 'output')} ({_files(files)}) not on the remote; "
                "run `pivot push` where they were produced"
            )
        if not as_json:
            click.echo("every output recorded in the lock files is on the remote")
        return
    problems = remote_api.verify_local(project, stages)
    if as_json:
        click.echo(json.dumps({"problems": [p.to_dict() for p in problems]}, indent=2))
    else:
        for problem in problems:
            click.echo(problem.describe())
    if problems:
        raise exceptions.PivotError(
            f"verify found {plural(len(problems), 'problem')} (listed above)"
        )
    if not as_json:
        click.echo("every stage has a lock; its cached outputs and the workspace match it")


# -- config -----------------------------------------------------------------------------------


def _scope_options(func: Any, *, project: bool = True) -> Any:
    options = [
        click.option(
            "--global",
            "scope",
            flag_value="user",
            help="The user file ($XDG_CONFIG_HOME/pivot/config.yaml).",
        ),
        click.option(
            "--local",
            "scope",
            flag_value="local",
            help="This clone only (.pivot/config.local.yaml, not committed).",
        ),
    ]
    if project:
        options.insert(
            1,
            click.option(
                "--project",
                "scope",
                flag_value="project",
                help="The project file (.pivot/config.yaml).",
            ),
        )
    for option in reversed(options):
        func = option(func)
    return func


def _root() -> Path | None:
    from pivot.core.store.paths import find_project_root
    from pivot.exceptions import ProjectError

    try:
        return find_project_root()
    except ProjectError:
        return None


@click.group()
def config() -> None:
    """Read and change settings: remotes, the executor, watch mode.

    Settings live in `.pivot/config.yaml` (committed), `.pivot/config.local.yaml` (--local,
    this clone only) and a user file (--global); later ones win. Unknown keys and bad values
    are refused. Credentials are never stored: boto3's standard chain provides them.

    \b
    Examples:
      pivot config set remotes.origin s3://bucket/prefix
      pivot config set remotes.nas /mnt/shared/pivot-cache   # a folder remote
      pivot config set remotes.origin.endpoint_url http://127.0.0.1:8333
      pivot config set default_remote origin
      pivot config list --show-origin
    """


@config.command("get")
@click.argument("key")
@_scope_options
def config_get(key: str, scope: str | None) -> None:
    """Print the value of KEY (effective value, unless a file is chosen); exit 1 if unset.

    A section (e.g. `remotes`) prints every key under it as key=value.

    \b
    Examples:
      pivot config get remotes.origin
      pivot config get --global watch.debounce_ms
    """
    from pivot.core.config import Scope, format_value, get_value, parse_key
    from pivot.exceptions import PivotError

    pairs = get_value(_root(), key, Scope(scope) if scope else None)
    if not pairs:
        where = f" in the {scope} file" if scope else ""
        raise PivotError(f"config key '{key}' is not set{where}")
    if len(pairs) == 1 and pairs[0][0] == str(parse_key(key)):
        click.echo(format_value(pairs[0][1]))
        return
    for name, value in pairs:
        click.echo(f"{name}={format_value(value)}")


@config.command("set", context_settings={"ignore_unknown_options": True})
@click.argument("key")
@click.argument("value")
@_scope_options
def config_set(key: str, value: str, scope: str | None) -> None:
    """Set KEY to VALUE in the project file (or --global / --local).

    The value is checked against the settings model first; a bad key or value writes nothing.

    \b
    Examples:
      pivot config set remotes.origin s3://bucket/prefix
      pivot config set --local executor.kind dask
    """
    from pivot.core.config import Scope, format_value, load_config, set_value

    root = _root()
    name, stored, path = set_value(root, key, value, Scope(scope or "project"))
    click.echo(f"{name} = {format_value(stored)}  ({path})")
    if name == "default_remote":
        remotes = load_config(root).remotes
        if stored not in remotes:
            click.echo(
                f"warning: no remote '{stored}' is configured yet; add it with "
                f"`pivot config set remotes.{stored} s3://bucket/prefix`",
                err=True,
            )


@config.command("unset")
@click.argument("key")
@_scope_options
def config_unset(key: str, scope: str | None) -> None:
    """Remove KEY (a value or a whole section, e.g. remotes.origin) from one file.

    \b
    Examples:
      pivot config unset remotes.origin.region
      pivot config unset --global remotes.backup
    """
    from pivot.core.config import Scope, unset_value
    from pivot.exceptions import PivotError

    removed = unset_value(_root(), key, Scope(scope or "project"))
    if removed is None:
        raise PivotError(f"config key '{key}' is not set in the {scope or 'project'} file")
    click.echo(f"removed {removed[0]}  ({removed[1]})")


@config.command("list")
@_scope_options
@click.option(
    "--show-origin", is_flag=True, help="Say which file (or default) each value comes from."
)
@click.option("--json", "as_json", is_flag=True, help="Print the settings as JSON.")
def config_list(scope: str | None, show_origin: bool, as_json: bool) -> None:
    """List the effective settings (or those of one file), one key=value per line.

    \b
    Examples:
      pivot config list --show-origin
      pivot config list --local
    """
    from pivot.core.config import Scope, format_value, list_values

    rows = list_values(_root(), Scope(scope) if scope else None)
    if as_json:
        click.echo(json.dumps([{"key": k, "value": v, "origin": o} for k, v, o in rows], indent=2))
        return
    for key, value, origin in rows:
        prefix = f"{origin:<8} " if show_origin else ""
        click.echo(f"{prefix}{key}={format_value(value)}")


COMMANDS: list[click.Command] = [push, pull, fetch, verify, config]
