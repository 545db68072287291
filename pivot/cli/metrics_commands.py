"""``pivot params``, ``pivot metrics`` and ``pivot plots``: what a pipeline is tuned with, what
it measured, and what it drew, now and at a git revision (HEAD by default).

Heavy imports (the engine, rich, yaml) happen inside the commands so that ``pivot --help``
stays fast.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from pivot.cli._context import CliContext
from pivot.cli.project_commands import complete_stages
from pivot.render.counts import plural

if TYPE_CHECKING:
    from pivot.core.pipeline.discovery import PipelineDefinition
    from pivot.core.project import Project
    from pivot.core.reports.metrics import OutputTarget
    from pivot.core.reports.plots import Figure

__all__ = ["COMMANDS", "metrics_group", "params_group", "plots_group"]

pass_cli = click.make_pass_decorator(CliContext)


def _json_option(func: Any) -> Any:
    return click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")(func)


def _md_option(func: Any) -> Any:
    return click.option(
        "--md", "as_md", is_flag=True, help="A Markdown table (for PR comments and reports)."
    )(func)


def _rev_option(func: Any) -> Any:
    return click.option(
        "--rev",
        default="HEAD",
        show_default=True,
        help="Git revision to compare the workspace with (any expression, e.g. HEAD~1, a tag).",
    )(func)


def _precision_option(func: Any) -> Any:
    return click.option(
        "--precision",
        type=click.IntRange(min=1, max=17),
        default=5,
        show_default=True,
        metavar="N",
        help="Significant digits of numbers in text and Markdown (JSON and YAML keep full values).",
    )(func)


SHOW_FORMATS = ("table", "json", "yaml", "md")


def _format_options(func: Any) -> Any:
    """``--format table|json|yaml|md`` for the show commands, with ``--json`` and ``--md`` as
    short forms of ``--format json`` and ``--format md``."""
    options = [
        click.option(
            "--format",
            "fmt",
            type=click.Choice(SHOW_FORMATS),
            default=None,
            help="Output format: a table (default), json, yaml, or md (a Markdown table).",
        ),
        click.option("--json", "as_json", is_flag=True, help="Same as --format json."),
        click.option("--md", "as_md", is_flag=True, help="Same as --format md."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _output_format(fmt: str | None, as_json: bool, as_md: bool) -> str:
    """The one format asked for (``table`` when none was)."""
    from pivot.exceptions import UsageError

    asked = {fmt} if fmt is not None else set()
    asked |= {"json"} if as_json else set()
    asked |= {"md"} if as_md else set()
    if len(asked) > 1:
        raise UsageError(
            f"output formats {' and '.join(sorted(asked))} cannot be used together; pick one"
        )
    return asked.pop() if asked else "table"


def _check_formats(as_json: bool, as_md: bool) -> None:
    from pivot.exceptions import UsageError

    if as_json and as_md:
        raise UsageError("--json and --md cannot be used together; pick one output format")


def _load(project: Project) -> PipelineDefinition:
    from pivot.core.run.engine import Engine

    pipeline, _graph = Engine(project).load()
    return pipeline


def _warn(cli: CliContext, text: str) -> None:
    cli.console(stderr=True).print(f"[yellow]warning:[/] {text}", highlight=False)


# -- params -------------------------------------------------------------------------------


@click.group("params")
def params_group() -> None:
    """Show stage params, and what changed since a git revision.

    A stage's params are the fields of its StageParams model: the model's defaults,
    overridden per stage in params.yaml (`train: {learning_rate: 0.1}`).

    \b
    Examples:
      pivot params show
      pivot params diff --rev HEAD~1
    """


@params_group.command("show")
@click.argument("stages", nargs=-1, shell_complete=complete_stages)
@_format_options
@pass_cli
def params_show(
    cli: CliContext, stages: tuple[str, ...], fmt: str | None, as_json: bool, as_md: bool
) -> None:
    """Show the effective params of STAGES (default: every stage that takes params).

    Each value is marked with where it comes from: the model `default`, `params.yaml`, or
    a `matrix` variant. An override that does not fit the model is an error naming the
    stage and field.

    \b
    Examples:
      pivot params show
      pivot params show train --json
      pivot params show --format yaml
    """
    from pivot.core.pipeline.params import ParamsFiles
    from pivot.core.reports import params_diff
    from pivot.core.run.engine import Engine
    from pivot.render import params as show
    from pivot.render.tables import rich_table

    output = _output_format(fmt, as_json, as_md)
    project = cli.project()
    engine = Engine(project)
    pipeline, _ = engine.load()
    names = engine.select(stages, no_deps=True)
    files = ParamsFiles.workspace(project.root)
    for unknown in params_diff.unknown_stages(pipeline, files.params_yaml):
        _warn(
            cli,
            f"params.yaml sets params for '{unknown}', which is not a stage (and no ParamsDep "
            "reads it)",
        )
    shown = [(name, params_diff.stage_params(pipeline[name], files)) for name in names]
    if not stages:
        shown = [(name, values) for name, values in shown if values]

    if output == "json":
        click.echo(show.render_show_json(shown))
        return
    if output == "yaml":
        click.echo(show.render_show_yaml(shown), nl=False)
        return
    if output == "md":
        click.echo(show.render_show_markdown(shown), nl=False)
        return
    console = cli.console()
    if not shown:
        console.print("no stage takes params (give a stage a StageParams argument)")
        return
    table = rich_table("Stage", "Param", "Value", "Source")
    for stage, values in shown:
        if not values:
            table.add_row(stage, "[dim](no params)[/]", "", "")
        for i, value in enumerate(values):
            from_file = value.source == "params.yaml"
            text = _escape(show.format_param(value.value))
            label = _escape(show.source_label(value.source))
            table.add_row(
                stage if i == 0 else "",
                value.name,
                f"[bold]{text}[/]" if from_file else text,
                f"[yellow]{label}[/]" if from_file else f"[dim]{label}[/]",
            )
    console.print(table)


@params_group.command("diff")
@click.argument("stages", nargs=-1, shell_complete=complete_stages)
@_rev_option
@click.option("--all", "show_all", is_flag=True, help="Also list params that did not change.")
@_json_option
@_md_option
@click.option(
    "--precision",
    type=click.IntRange(min=1, max=17),
    default=None,
    metavar="N",
    help="Round floats to N significant digits in text and Markdown (default: as written; "
    "JSON keeps full values).",
)
@pass_cli
def params_diff_command(
    cli: CliContext,
    stages: tuple[str, ...],
    rev: str,
    show_all: bool,
    as_json: bool,
    as_md: bool,
    precision: int | None,
) -> None:
    """Show params that changed since REV (default HEAD), per stage and field.

    The old values are those the stage last ran with at REV (its lock file there); a stage
    with no lock at REV falls back to params.yaml at REV over today's model defaults. The new
    values are the current effective params.

    \b
    Examples:
      pivot params diff
      pivot params diff --rev HEAD~3 --all
      pivot params diff --precision 3
      pivot params diff --md >> report.md
    """
    from pivot.core.pipeline.params import ParamsFiles
    from pivot.core.reports import params_diff
    from pivot.core.run.engine import Engine
    from pivot.core.store.revisions import RevisionReader
    from pivot.render import params as show
    from pivot.render.tables import rich_table

    _check_formats(as_json, as_md)
    project = cli.project()
    engine = Engine(project)
    pipeline, _ = engine.load()
    names = engine.select(stages, no_deps=True)
    reader = RevisionReader(project.root, rev)
    files = ParamsFiles.workspace(project.root)
    diffs = params_diff.diff_params(pipeline, names, files, reader, show_all=show_all)

    if as_json:
        click.echo(show.render_diff_json(rev, diffs))
        return
    if as_md:
        click.echo(show.render_diff_markdown(rev, diffs, precision), nl=False)
        return
    console = cli.console()
    if not diffs:
        console.print(f"no params changed since {rev}")
        return
    table = rich_table("Stage", "Param", rev, "workspace")
    colors = {"added": "green", "removed": "red", "modified": "yellow", "unchanged": "dim"}
    for diff in diffs:
        for i, change in enumerate(diff.changes):
            old, new = show.diff_cells(change, precision)
            color = colors[change.status]
            table.add_row(
                diff.stage if i == 0 else "",
                change.name,
                _escape(old),
                f"[{color}]{_escape(new)}[/]",
            )
    console.print(table)
    for diff in diffs:
        note = show.old_from_note(diff, rev)
        if note is not None:
            console.print(f"[dim]{note}[/]")


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


# -- metrics ------------------------------------------------------------------------------


@click.group("metrics")
def metrics_group() -> None:
    """Show metrics (pivot.Metric outputs: small JSON/YAML kept in git), and their changes.

    \b
    Examples:
      pivot metrics show
      pivot metrics diff --rev main --md
    """


def _targets(
    project: Project, targets: tuple[str, ...], kind: str, *, need_pipeline: bool
) -> list[OutputTarget]:
    """Resolve stage names and paths; the pipeline is loaded only when it is needed."""
    from pivot.core.reports.metrics import select_outputs

    pipeline = None
    if project.pipeline_file.is_file() and (
        need_pipeline or not targets or any(not Path(t).exists() for t in targets)
    ):
        pipeline = _load(project)
    return select_outputs(pipeline, project.root, targets, kind)


@metrics_group.command("show")
@click.argument("targets", nargs=-1, shell_complete=complete_stages)
@_format_options
@_precision_option
@pass_cli
def metrics_show(
    cli: CliContext,
    targets: tuple[str, ...],
    fmt: str | None,
    as_json: bool,
    as_md: bool,
    precision: int,
) -> None:
    """Show metrics, flattened to dotted keys (`train.loss`).

    TARGETS are stage names or file paths (JSON or YAML); by default every pivot.Metric
    output of the pipeline. Exit 1 if a file is missing or unreadable.

    \b
    Examples:
      pivot metrics show
      pivot metrics show metrics.json --precision 3
      pivot metrics show train --json
      pivot metrics show --format yaml
    """
    from pivot.core.reports import metrics
    from pivot.render import metrics as show
    from pivot.render.tables import rich_table

    output = _output_format(fmt, as_json, as_md)
    project = cli.project()
    selected = _targets(project, targets, "metric", need_pipeline=False)
    files = metrics.workspace_metrics(project.root, selected)
    failed = any(f.values is None for f in files)
    if output == "json":
        click.echo(show.render_show_json(files))
    elif output == "yaml":
        click.echo(show.render_show_yaml(files), nl=False)
    elif output == "md":
        click.echo(show.render_show_markdown(files, precision), nl=False)
    else:
        console = cli.console()
        if not files:
            console.print("no metrics: the pipeline declares no pivot.Metric outputs")
            return
        table = rich_table("Path", "Metric", "Value")
        previous = None
        for path, key, value in show.show_rows(files, precision):
            table.add_row(path if path != previous else "", _escape(key), _escape(value))
            previous = path
        if table.row_count:
            console.print(table)
        for file in files:
            if file.values is None:
                console.print(f"[red]{file.path}[/]: {_escape(file.error or show.MISSING)}")
            elif not file.values:
                console.print(f"[dim]{file.path}: empty[/]")
    if failed:
        sys.exit(1)


@metrics_group.command("diff")
@click.argument("targets", nargs=-1, shell_complete=complete_stages)
@_rev_option
@click.option("--all", "show_all", is_flag=True, help="Also list metrics that did not change.")
@_json_option
@_md_option
@_precision_option
@pass_cli
def metrics_diff(
    cli: CliContext,
    targets: tuple[str, ...],
    rev: str,
    show_all: bool,
    as_json: bool,
    as_md: bool,
    precision: int,
) -> None:
    """Compare metrics with REV (default HEAD): old, new, and the change.

    The old version is the file committed at REV. Metrics that appear or disappear are
    listed as added or removed. Exit 1 if a file is unreadable or missing on both sides.

    \b
    Examples:
      pivot metrics diff
      pivot metrics diff --rev main --md >> report.md
    """
    from pivot.core.reports import metrics
    from pivot.render import metrics as show
    from pivot.render.tables import rich_table

    _check_formats(as_json, as_md)
    project = cli.project()
    selected = _targets(project, targets, "metric", need_pipeline=False)
    diff = metrics.compare_metrics(project.root, selected, rev, show_all=show_all)
    if as_json:
        click.echo(show.render_diff_json(diff))
    elif as_md:
        click.echo(show.render_diff_markdown(diff, precision), nl=False)
    else:
        console = cli.console()
        if not selected:
            console.print("no metrics: the pipeline declares no pivot.Metric outputs")
            return
        if diff.changes:
            table = rich_table("Path", "Metric", rev, "workspace", "Change")
            previous = None
            for change in diff.changes:
                old, new, delta = show.diff_cells(change, precision)
                color = show.STATUS_COLORS[change.status]
                table.add_row(
                    change.path if change.path != previous else "",
                    _escape(change.key),
                    _escape(old),
                    _escape(new),
                    f"[{color}]{_escape(delta)}[/]" if color else _escape(delta),
                )
                previous = change.path
            console.print(table)
        elif not diff.errors:
            console.print(f"no metrics changed since {rev}")
        for path, error in diff.errors.items():
            console.print(f"[red]{path}[/]: {_escape(error)}")
    if diff.errors:
        sys.exit(1)


# -- plots --------------------------------------------------------------------------------


@click.group("plots")
def plots_group() -> None:
    """Draw plots (pivot.Plot outputs: CSV/JSON series or images) in an HTML page and here.

    \b
    Examples:
      pivot plots show --open
      pivot plots diff --rev HEAD~1 -o diff.html
    """


def _plot_options(default_out: str) -> Any:
    def decorate(func: Any) -> Any:
        options = [
            click.argument("targets", nargs=-1, shell_complete=complete_stages),
            click.option(
                "-o",
                "--out",
                type=click.Path(dir_okay=False),
                default=default_out,
                show_default=True,
                help="Where to write the HTML page.",
            ),
            click.option("--open", "open_page", is_flag=True, help="Open the page in a browser."),
            click.option(
                "--height",
                type=click.IntRange(min=3, max=100),
                default=12,
                show_default=True,
                help="Height of each terminal chart, in lines.",
            ),
        ]
        for option in reversed(options):
            func = option(func)
        return func

    return decorate


def _publish(
    cli: CliContext,
    figures: list[Figure],
    *,
    out: str,
    open_page: bool,
    height: int,
    title: str,
    subtitle: str,
) -> None:
    """Write the HTML page, draw the charts in the terminal, and exit 1 on unreadable plots."""
    from pivot.core.store.atomic import write_text_atomic
    from pivot.render.plots_svg import render_html
    from pivot.render.terminal_plot import BrailleChart

    console = cli.console()
    if not figures:
        console.print("no plots: the pipeline declares no pivot.Plot outputs")
        return
    page = Path(out).resolve()
    write_text_atomic(page, render_html(figures, title=title, subtitle=subtitle))
    if not cli.quiet:
        for figure in figures:
            console.print(BrailleChart(figure, height=height))
    console.print(f"wrote {out} ({plural(len(figures), 'plot')})")
    if open_page:
        import webbrowser

        webbrowser.open(page.as_uri())
    if any(f.error is not None for f in figures):
        sys.exit(1)


@plots_group.command("show")
@_plot_options("plots.html")
@pass_cli
def plots_show(
    cli: CliContext, targets: tuple[str, ...], out: str, open_page: bool, height: int
) -> None:
    """Draw plots into one self-contained HTML page, and as charts in the terminal.

    TARGETS are stage names or file paths; by default every pivot.Plot output. Series files
    (CSV, TSV, JSON, JSONL, YAML) are drawn as lines: x is the Plot's `x` column (or the row
    number), y its `y` column (or every numeric column). Images are embedded in the page.

    \b
    Examples:
      pivot plots show
      pivot plots show train -o report.html --open
    """
    from pivot.core.reports.plots import read_workspace_figure

    project = cli.project()
    selected = _targets(project, targets, "plot", need_pipeline=True)
    figures = [read_workspace_figure(project.root, t) for t in selected]
    _publish(
        cli,
        figures,
        out=out,
        open_page=open_page,
        height=height,
        title="Pivot plots",
        subtitle=f"{project.root.name}: workspace",
    )


@plots_group.command("diff")
@_rev_option
@_plot_options("plots.html")
@pass_cli
def plots_diff(
    cli: CliContext,
    targets: tuple[str, ...],
    rev: str,
    out: str,
    open_page: bool,
    height: int,
) -> None:
    """Overlay each plot at REV (dashed) with the workspace version, in HTML and here.

    The old version comes from git, or from the cache through the lock files at REV (plot
    outputs are cached); `pivot pull` fetches blobs missing from the local cache.

    \b
    Examples:
      pivot plots diff
      pivot plots diff --rev HEAD~1 loss.csv -o diff.html
    """
    from pivot.core.reports.plots import overlay, read_revision_figure, read_workspace_figure
    from pivot.core.store.revisions import RevisionReader

    project = cli.project()
    reader = RevisionReader(project.root, rev)
    selected = _targets(project, targets, "plot", need_pipeline=True)
    figures = [
        overlay(read_revision_figure(reader, t), read_workspace_figure(project.root, t), rev)
        for t in selected
    ]
    _publish(
        cli,
        figures,
        out=out,
        open_page=open_page,
        height=height,
        title=f"Pivot plots: {rev} vs workspace",
        subtitle=project.root.name,
    )


COMMANDS: list[click.Command] = [params_group, metrics_group, plots_group]
