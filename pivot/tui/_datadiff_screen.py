"""The data-diff screen: schema changes, counts, and added/removed/modified rows, paged.

Opened by ``pivot data diff FILE`` (as the only screen of :class:`DataDiffApp`) and from the
Outputs tab of the main app. Rows are shown one page at a time: a table never holds more than
:data:`~pivot.tui._diffpages.PAGE_SIZE` rows, whatever the size of the file.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, cast

from rich.text import Text
from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, OptionList, Static, TabbedContent, TabPane
from textual.widgets.option_list import Option

from pivot.exceptions import PivotError
from pivot.tui._diffpages import Kind, build_page, kinds, listing_size
from pivot.tui._render import Palette, data_diff_summary

if TYPE_CHECKING:
    from pivot.core.reports.datadiff import DataDiff


@dataclasses.dataclass(frozen=True)
class DiffTarget:
    """One file to compare; ``compute`` runs in a worker thread."""

    label: str
    compute: Callable[[], DataDiff]


class DiffComputed(Message):
    def __init__(self, index: int, diff: DataDiff | None, error: str | None) -> None:
        super().__init__()
        self.index = index
        self.diff = diff
        self.error = error


_TITLES = {"added": "Added", "removed": "Removed", "modified": "Modified"}


class DataDiffScreen(Screen[None]):
    BINDINGS = [
        Binding("right_square_bracket", "page(1)", "Next page"),
        Binding("left_square_bracket", "page(-1)", "Prev page"),
        Binding("a", "kind('added')", "Added", show=False),
        Binding("x", "kind('removed')", "Removed", show=False),
        Binding("m", "kind('modified')", "Modified", show=False),
        Binding("escape", "close", "Back"),
        Binding("q", "close", "Back", show=False),
    ]

    DEFAULT_CSS = """
    DataDiffScreen { layout: vertical; }
    DataDiffScreen #diff-title { height: 1; background: $panel; color: $text; padding: 0 1; }
    DataDiffScreen #diff-body { height: 1fr; }
    DataDiffScreen #diff-files { width: 30; max-width: 40%; border: round $surface-lighten-2; }
    DataDiffScreen #diff-summary { height: auto; max-height: 12; padding: 0 1; }
    DataDiffScreen .page-label { height: 1; color: $text-muted; padding: 0 1; }
    DataDiffScreen DataTable { height: 1fr; }
    """

    def __init__(self, targets: Sequence[DiffTarget], *, exit_on_close: bool = False) -> None:
        super().__init__()
        self.targets = list(targets)
        self.exit_on_close = exit_on_close
        self.current = 0
        self.results: dict[int, tuple[DataDiff | None, str | None]] = {}
        self.pages: dict[Kind, int] = dict.fromkeys(kinds(), 0)

    def compose(self) -> ComposeResult:
        yield Static(self._title(), id="diff-title")
        with Horizontal(id="diff-body"):
            if len(self.targets) > 1:
                yield OptionList(
                    *(Option(t.label, id=str(i)) for i, t in enumerate(self.targets)),
                    id="diff-files",
                )
            with Vertical():
                yield Static("comparing…", id="diff-summary")
                with TabbedContent(initial="added", id="diff-tabs"):
                    for kind in kinds():
                        with TabPane(_TITLES[kind], id=kind):
                            yield Static("", classes="page-label", id=f"label-{kind}")
                            yield DataTable(
                                id=f"table-{kind}", zebra_stripes=True, cursor_type="row"
                            )
        yield Footer()

    def _title(self) -> str:
        label = self.targets[self.current].label if self.targets else ""
        return f"data diff · {label}"

    def on_mount(self) -> None:
        self._load(self.current)

    # -- computing -----------------------------------------------------------------------------

    def _load(self, index: int) -> None:
        self.current = index
        self.pages = dict.fromkeys(kinds(), 0)
        self.query_one("#diff-title", Static).update(self._title())
        if index in self.results:
            self._show()
            return
        self.query_one("#diff-summary", Static).update(f"comparing {self.targets[index].label}…")
        for kind in kinds():
            self.query_one(f"#table-{kind}", DataTable).clear(columns=True)
            self.query_one(f"#label-{kind}", Static).update("")
        self._compute(index)

    @work(thread=True, group="datadiff")
    def _compute(self, index: int) -> None:
        try:
            diff: DataDiff | None = self.targets[index].compute()
            error = None
        except (PivotError, OSError) as exc:
            diff, error = None, str(exc)
        self.post_message(DiffComputed(index, diff, error))

    def on_diff_computed(self, message: DiffComputed) -> None:
        self.results[message.index] = (message.diff, message.error)
        if message.index == self.current:
            self._show()

    # -- drawing -------------------------------------------------------------------------------

    def _palette(self) -> Palette:
        app = cast(App[Any], self.app)
        return Palette(app.theme_variables, app.current_theme.dark)

    def _show(self) -> None:
        diff, error = self.results[self.current]
        summary = self.query_one("#diff-summary", Static)
        tabs = self.query_one("#diff-tabs", TabbedContent)
        if diff is None:
            summary.update(Text(f"cannot compare: {error}", style="bold red"))
            return
        summary.update(data_diff_summary(diff, self._palette()))
        first_nonempty = None
        for kind in kinds():
            _, total = listing_size(diff, kind)
            tabs.get_tab(kind).label = f"{_TITLES[kind]} ({total:,})"
            if total and first_nonempty is None:
                first_nonempty = kind
            self._fill(kind)
        if first_nonempty is not None:
            tabs.active = first_nonempty
        self.refresh_bindings()

    def _fill(self, kind: Kind) -> None:
        diff, _ = self.results.get(self.current, (None, None))
        if diff is None:
            return
        page = build_page(diff, kind, self.pages[kind])
        self.pages[kind] = page.index
        table = self.query_one(f"#table-{kind}", DataTable)
        table.clear(columns=True)
        if diff.summary_only:
            self.query_one(f"#label-{kind}", Static).update("summary only: rows not listed")
            return
        table.add_columns(*page.columns)
        table.add_rows(page.rows)
        hint = "  ([ ] change page)" if page.count > 1 else ""
        self.query_one(f"#label-{kind}", Static).update(page.label + hint)

    # -- actions -------------------------------------------------------------------------------

    @property
    def active_kind(self) -> Kind:
        active = self.query_one("#diff-tabs", TabbedContent).active
        return cast(Kind, active if active in _TITLES else "added")

    def action_page(self, delta: int) -> None:
        kind = self.active_kind
        self.pages[kind] += delta
        self._fill(kind)

    def action_kind(self, kind: str) -> None:
        self.query_one("#diff-tabs", TabbedContent).active = kind

    def action_close(self) -> None:
        if self.exit_on_close:
            self.app.exit()
        else:
            self.dismiss(None)

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if event.option.id is not None and int(event.option.id) != self.current:
            self._load(int(event.option.id))


class DataDiffApp(App[None]):
    """``pivot data diff FILE`` in a terminal: the data-diff screen on its own."""

    TITLE = "Pivot data diff"

    def __init__(self, targets: Sequence[DiffTarget]) -> None:
        super().__init__()
        self.targets = targets

    def on_mount(self) -> None:
        self.push_screen(DataDiffScreen(self.targets, exit_on_close=True))
