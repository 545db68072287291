"""Rich renderables for the Explain, Params and Outputs tabs (Rich only, no Textual)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rich.console import Group, RenderableType
from rich.style import Style
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from pivot.core.run.planner import Action
from pivot.render.params import format_param, source_label
from pivot.render.sizes import human_size
from pivot.tui._details import OutputRow, ParamsInfo
from pivot.tui._explain import CodeItem, Explanation
from pivot.tui._text import format_value, short_hash

if TYPE_CHECKING:
    from pivot.core.reports.datadiff import DataDiff


class Palette:
    """Theme colours the renderables use (hex strings from the running Textual theme)."""

    def __init__(self, variables: dict[str, str], dark: bool) -> None:
        self.dark = dark
        self.success = variables.get("text-success", "green")
        self.error = variables.get("text-error", "red")
        self.warning = variables.get("text-warning", "yellow")
        self.accent = variables.get("text-accent", "cyan")
        self.primary = variables.get("text-primary", "blue")
        self.muted = "bright_black" if dark else "grey50"
        self.add_bg = "#16351f" if dark else "#dcf5e3"
        self.del_bg = "#3d1a1a" if dark else "#fbe0e0"

    @property
    def syntax_theme(self) -> str:
        return "monokai" if self.dark else "default"


_ACTION_WORDS = {
    Action.RUN: "will run",
    Action.SKIP: "up to date",
    Action.RESTORE: "will restore from cache",
    Action.ERROR: "error",
}


def explain_renderable(
    explanation: Explanation,
    palette: Palette,
    *,
    ran_reason: str | None = None,
    ran_code: Sequence[CodeItem] = (),
    outcome: str | None = None,
    note: str | None = None,
) -> RenderableType:
    """Why the stage will run. ``ran_reason`` is why it last ran in this session (the run's
    own reason: "forced" for a forced run), ``outcome`` what went wrong in that run."""
    parts: list[RenderableType] = []
    if outcome:
        parts.append(Text(outcome, Style(color=palette.error, bold=True)))
    tone = {
        Action.RUN: palette.warning,
        Action.SKIP: palette.success,
        Action.RESTORE: palette.accent,
        Action.ERROR: palette.error,
    }[explanation.action]
    head = Text()
    head.append(_ACTION_WORDS[explanation.action], Style(color=tone, bold=True))
    if explanation.reason != _ACTION_WORDS[explanation.action]:
        head.append(f": {explanation.reason}")
    parts.append(head)
    if note:
        parts.append(Text(note, Style(color=palette.muted, italic=True)))
    if ran_reason and explanation.action is not Action.RUN and not outcome:
        parts.append(Text(f"last ran in this session because: {ran_reason}", Style(bold=True)))
    code, heading = explanation.code, "Code ({} changed)"
    if not code and ran_code and explanation.action is not Action.RUN:
        code, heading = tuple(ran_code), "Code that changed for the last run ({})"
    if code:
        parts.append(_section(heading.format(len(code)), palette))
        for item in code:
            title = Text.assemble(
                ("  " + item.key, Style(bold=True)),
                (f"  {short_hash(item.old)} → {short_hash(item.new)}", Style(color=palette.muted)),
            )
            if item.location:
                title.append(f"  {item.location}", Style(color=palette.muted))
            parts.append(title)
            if item.diff:
                parts.append(code_diff_text(item.diff, palette))
    if explanation.params:
        parts.append(_section("Params", palette))
        parts.append(_change_table(explanation.params, palette, format_value))
    if explanation.deps:
        parts.append(_section("Deps", palette))
        parts.append(_change_table(explanation.deps, palette, short_hash_value))
    if explanation.outs:
        parts.append(_section("Outputs", palette))
        parts.append(_change_table(explanation.outs, palette, short_hash_value))
    if explanation.warnings:
        parts.append(_section("Warnings", palette))
        for warning in explanation.warnings:
            parts.append(Text("  " + warning, Style(color=palette.warning)))
    return Group(*parts)


def short_hash_value(value: Any) -> str:
    return short_hash(value) if isinstance(value, str) else format_value(value)


def _section(title: str, palette: Palette) -> Text:
    return Text("\n" + title, Style(color=palette.primary, bold=True))


def _change_table(rows: Sequence[tuple[str, Any, Any]], palette: Palette, fmt: Any) -> Table:
    table = Table(box=None, show_header=False, pad_edge=False, padding=(0, 1))
    table.add_column(no_wrap=True)
    table.add_column()
    table.add_column(no_wrap=True)
    table.add_column()
    for key, old, new in rows:
        table.add_row(
            "  " + key,
            Text(fmt(old) if old is not None else "(none)", Style(color=palette.error)),
            "→",
            Text(fmt(new) if new is not None else "(removed)", Style(color=palette.success)),
        )
    return table


def code_diff_text(diff_text: str, palette: Palette) -> Text:
    """A unified diff with Python syntax colour; added/removed lines get a tinted background."""
    highlighter = Syntax("", "python", theme=palette.syntax_theme, background_color="default")
    out = Text()
    for raw in diff_text.rstrip("\n").splitlines():
        if raw.startswith(("---", "+++")):
            continue  # the key and location are in the title line above
        if raw.startswith("@@"):
            out.append("    " + raw + "\n", Style(color=palette.accent))
            continue
        marker, body = (raw[:1], raw[1:]) if raw[:1] in "+- " and raw else (" ", raw)
        line = _foreground_only(highlighter.highlight(body))
        prefix = Text("    " + marker + " ")
        if marker == "+":
            prefix.stylize(Style(color=palette.success, bold=True))
            row = prefix + line
            row.stylize(Style(bgcolor=palette.add_bg))
        elif marker == "-":
            prefix.stylize(Style(color=palette.error, bold=True))
            row = prefix + line
            row.stylize(Style(bgcolor=palette.del_bg))
        else:
            row = prefix + line
        out.append_text(row)
        out.append("\n")
    out.rstrip()
    return out


def _foreground_only(text: Text) -> Text:
    """``text`` without the syntax theme's background, so it sits on the app's own."""
    plain = Text(text.plain.rstrip("\n"), end="")
    for span in text.spans:
        style = span.style if isinstance(span.style, Style) else Style.parse(span.style)
        plain.stylize(
            Style(color=style.color, bold=style.bold, italic=style.italic), span.start, span.end
        )
    return plain


def params_renderable(info: ParamsInfo, palette: Palette) -> RenderableType:
    if info.error:
        return Text(info.error, Style(color=palette.error))
    if info.model is None and not info.rows:
        return Text("this stage takes no params", Style(color=palette.muted))
    if not info.rows:
        return Text(f"{info.model}: no fields", Style(color=palette.muted))
    table = Table(box=None, pad_edge=False, padding=(0, 1), header_style=Style(bold=True))
    table.add_column("param", no_wrap=True)
    table.add_column("value")
    table.add_column("from", no_wrap=True)
    for row in info.rows:
        source = Text(source_label(row.source))
        if row.source == "params.yaml":
            source.stylize(Style(color=palette.warning, bold=True))
            key = Text("* " + row.name, Style(bold=True))
        elif row.source in ("matrix", "call"):
            source.stylize(Style(color=palette.accent))
            key = Text("  " + row.name)
        else:
            source.stylize(Style(color=palette.muted))
            key = Text("  " + row.name)
        # Written as in params.yaml, like `pivot params show`; kept to one bounded line.
        table.add_row(key, format_value(format_param(row.value)), source)
    legend = Text(
        f"{info.model or 'ParamsDep keys'} · * = overridden in params.yaml",
        Style(color=palette.muted, italic=True),
    )
    return Group(table, Text(""), legend)


def output_cells(row: OutputRow) -> tuple[str, ...]:
    if row.size is None:
        state = "missing"
    elif row.locked_hash is None:
        state = "not committed"
    elif row.current_hash != row.locked_hash:
        state = "changed"
    else:
        state = "ok"
    return (
        row.path,
        row.kind + ("" if row.cached else " (git)"),
        human_size(row.size),
        short_hash(row.locked_hash),
        state,
    )


OUTPUT_COLUMNS = ("path", "kind", "size", "hash", "state")


def data_diff_summary(diff: DataDiff, palette: Palette) -> RenderableType:
    """A few lines: versions, status, schema changes and counts (worded as ``pivot data diff``)."""
    from pivot.render.datadiff import mode_text, rows_text, schema_lines, status_line

    tones = {
        "plain": "",
        "added": palette.success,
        "removed": palette.error,
        "modified": palette.warning,
        "muted": palette.muted,
    }
    lines: list[RenderableType] = [
        Text.assemble(
            (diff.path, Style(bold=True)),
            (f"  {diff.format} · {diff.old.label} → {diff.new.label}", Style(color=palette.muted)),
        ),
        Text(status_line(diff), Style(bold=True, color=_status_tone(diff, palette))),
    ]
    for tone, pieces in schema_lines(diff):
        line = Text("  schema  ", Style(color=tones[tone] or None))
        for text, piece_tone in pieces:
            line.append(text, Style(color=tones[piece_tone] or None))
        lines.append(line)
    lines.append(
        Text(
            f"  rows {rows_text(diff)} · compared {mode_text(diff)}",
            Style(color=palette.muted),
        )
    )
    if diff.summary_only and diff.summary_reason:
        lines.append(Text(f"  summary only: {diff.summary_reason}", Style(color=palette.muted)))
    return Group(*lines)


def _status_tone(diff: DataDiff, palette: Palette) -> str:
    return palette.success if diff.status == "identical" else palette.warning
