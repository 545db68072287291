"""Stage explanations for the terminal: coloured diffs, or plain text when piped."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

    from pivot.core.run.explain import StageExplanation

_VERDICT_STYLE = {
    "WILL RUN": "bold yellow",
    "SKIP": "green",
    "RESTORE": "cyan",
    "ERROR": "bold red",
}


def _short(value: Any) -> str:
    if value is None:
        return "(none)"
    return str(value)


def render_explanations(
    console: Console, explanations: list[StageExplanation], *, changed_only: bool = False
) -> None:
    from rich.syntax import Syntax
    from rich.text import Text

    shown = [e for e in explanations if e.will_run or not changed_only]
    for explanation in shown:
        head = Text()
        head.append(explanation.stage, style="bold")
        head.append("  ")
        head.append(explanation.verdict, style=_VERDICT_STYLE.get(explanation.verdict, ""))
        head.append(f"  {explanation.reason}", style="dim")
        console.print(head)
        if explanation.resources:
            from pivot.core.run.resources import format_amounts

            console.print(Text(f"  needs  {format_amounts(explanation.resources)}"))
        for code in explanation.code:
            where = f"  {code.location}" if code.location else ""
            console.print(Text(f"  code   {code.key} ({code.change}){where}", style="magenta"))
            if code.diff.strip():
                if console.is_terminal:
                    console.print(
                        Syntax(
                            code.diff.rstrip("\n"),
                            "diff",
                            theme="ansi_dark",
                            background_color="default",
                        ),
                        soft_wrap=True,
                    )
                else:
                    console.print(Text(code.diff.rstrip("\n")), soft_wrap=True)
        for param in explanation.params:
            console.print(
                Text(
                    f"  param  {param.key}: {_short(param.old)} -> {_short(param.new)} ({param.change})"
                )
            )
        for dep in explanation.deps:
            console.print(
                Text(f"  dep    {dep.key}: {_short(dep.old)} -> {_short(dep.new)} ({dep.change})")
            )
        for out in explanation.outs:
            console.print(
                Text(f"  out    {out.key}: {_short(out.old)} -> {_short(out.new)} ({out.change})")
            )
        for warning in explanation.warnings:
            console.print(Text(f"  warning: {warning}", style="yellow"))
    if not shown:
        console.print("nothing will run: every stage is up to date")
