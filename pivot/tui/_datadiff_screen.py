"""The data-diff screen: schema changes, counts, and added/removed/modified rows, paged.

Opened by ``pivot data diff FILE`` (as the only screen of :class:`DataDiffApp`) and from the
Outputs tab of the main app. Rows are shown one page at a time: a table never holds more than
:data:`~pivot.tui._diffpages.PAGE_SIZE` rows, whatever the size of the file. ``/`` finds a
row by key or text on any page (:mod:`pivot.tui._diffsearch`, in a worker thread).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, cast

from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, OptionList, Static, TabbedContent, TabPane
from textual.widgets.option_list import Option

from pivot.exceptions import PivotError
from pivot.render.datadiff import key_hint
from pivot.tui._diffpages import PAGE_SIZE, Kind, build_page, kinds, listing_size
from pivot.tui._diffsearch import Hit, Matches, RowFinder
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


class SearchDone(Message):
    def __init__(self, index: int, matches: Matches) -> None:
        super().__init__()
        self.index = index  # the file searched
        self.matches = matches


class SearchBox(Input):
    """The ``/`` box: Enter searches, Esc closes it (Textual's Input ignores Esc)."""

    BINDINGS = [Binding("escape", "leave", "Close", show=False)]

    class Left(Message):
        pass

    def action_leave(self) -> None:
        self.post_message(self.Left())


_TITLES = {"added": "Added", "removed": "Removed", "modified": "Modified"}


class DataDiffScreen(Screen[None]):
    BINDINGS = [
        Binding("right_square_bracket", "page(1)", "Next page"),
        Binding("left_square_bracket", "page(-1)", "Prev page"),
        # Priority: the box takes focus before the keys that came with `/` are handed out.
        Binding("slash", "search", "Find key", priority=True),
        Binding("n", "next_match(1)", "Next match"),
        Binding("N", "next_match(-1)", "Prev match", show=False),
        Binding("u", "toggle_unchanged", "Unchanged cols"),
        Binding("a", "kind('added')", "Added", show=False),
        Binding("x", "kind('removed')", "Removed", show=False),
        Binding("m", "kind('modified')", "Modified", show=False),
        Binding("escape", "close", "Back"),
        Binding("q", "close", "Back", show=False),
    ]

    #: Modified rows show every compared column, not only the changed ones.
    show_unchanged: reactive[bool] = reactive(False, init=False)

    DEFAULT_CSS = """
    DataDiffScreen { layout: vertical; }
    DataDiffScreen #diff-title { height: 1; background: $panel; color: $text; padding: 0 1; }
    DataDiffScreen #diff-body { height: 1fr; }
    DataDiffScreen #diff-files { width: 30; max-width: 40%; border: round $surface-lighten-2; }
    DataDiffScreen #diff-summary { height: auto; max-height: 12; padding: 0 1; }
    DataDiffScreen #diff-hint {
        height: 1; padding: 0 1; color: $text-muted; text-wrap: nowrap; text-overflow: ellipsis;
    }
    DataDiffScreen .page-label { height: 1; color: $text-muted; padding: 0 1; }
    DataDiffScreen #diff-tabs, DataDiffScreen #diff-tabs ContentSwitcher { height: 1fr; }
    DataDiffScreen #diff-tabs TabPane { height: 1fr; padding: 0; }
    DataDiffScreen DataTable { height: 1fr; }
    DataDiffScreen #diff-search { display: none; height: 1; border: none; padding: 0 1; }
    DataDiffScreen #diff-search.-shown { display: block; }
    DataDiffScreen #diff-message { height: auto; max-height: 2; padding: 0 1; }
    DataDiffScreen #diff-message.-hidden { display: none; }
    """

    def __init__(self, targets: Sequence[DiffTarget], *, exit_on_close: bool = False) -> None:
        super().__init__()
        self.targets = list(targets)
        self.exit_on_close = exit_on_close
        self.current = 0
        self.results: dict[int, tuple[DataDiff | None, str | None]] = {}
        self.pages: dict[Kind, int] = dict.fromkeys(kinds(), 0)
        self.finders: dict[int, RowFinder] = {}
        self.matches: Matches | None = None
        self.match_index = 0

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
                yield Static("", id="diff-hint")
                with TabbedContent(initial="added", id="diff-tabs"):
                    for kind in kinds():
                        with TabPane(_TITLES[kind], id=kind):
                            yield Static("", classes="page-label", id=f"label-{kind}")
                            # The rows' tints show through the cursor.
                            yield DataTable(
                                id=f"table-{kind}",
                                zebra_stripes=True,
                                cursor_type="row",
                                cursor_foreground_priority="renderable",
                            )
        yield SearchBox(placeholder="key or text (Enter: go, Esc: close)", id="diff-search")
        yield Static("", id="diff-message", classes="-hidden")
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
        self._set_matches(None)
        self.query_one("#diff-title", Static).update(self._title())
        if index in self.results:
            self._show()
            return
        self.query_one("#diff-summary", Static).update(f"comparing {self.targets[index].label}…")
        self.query_one("#diff-hint", Static).display = False
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
        hint = self.query_one("#diff-hint", Static)
        if diff is None:
            summary.update(Text(f"cannot compare: {error}", style="bold red"))
            hint.display = False
            return
        summary.update(data_diff_summary(diff, self._palette()))
        hint_text = key_hint(diff)
        hint.display = hint_text is not None
        hint.update(f"hint: {hint_text}" if hint_text else "")
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
        page = build_page(diff, kind, self.pages[kind], unchanged=self.show_unchanged)
        self.pages[kind] = page.index
        table = self.query_one(f"#table-{kind}", DataTable)
        table.clear(columns=True)
        if diff.summary_only:
            self.query_one(f"#label-{kind}", Static).update("summary only: rows not listed")
            return
        for name, width in zip(page.columns, page.widths, strict=True):
            table.add_column(name, width=width)
        table.add_rows(page.rows)
        hints = ["[ ] change page"] if page.count > 1 else []
        if kind == "modified" and page.rows:
            hints.append(f"u {'hides' if self.show_unchanged else 'shows'} unchanged columns")
        label = page.label + (f"  ({', '.join(hints)})" if hints else "")
        self.query_one(f"#label-{kind}", Static).update(label)

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

    def action_toggle_unchanged(self) -> None:
        self.show_unchanged = not self.show_unchanged

    def watch_show_unchanged(self) -> None:
        self._fill("modified")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "next_match":
            return self.matches is not None and len(self.matches.hits) > 1
        if action == "search" and self.query_one("#diff-search", SearchBox).has_focus:
            return False  # in the box, `/` is typed
        if action in ("search", "toggle_unchanged"):
            diff, _ = self.results.get(self.current, (None, None))
            if diff is None or diff.summary_only:
                return False
            if action == "toggle_unchanged":
                return diff.modified_rows != ()
        return True

    # -- search --------------------------------------------------------------------------------

    def action_search(self) -> None:
        box = self.query_one("#diff-search", SearchBox)
        box.add_class("-shown")
        self.set_focus(box)  # at once: the keys queued behind `/` are typed into the box

    @on(Input.Submitted, "#diff-search")
    def _on_search_submitted(self, event: Input.Submitted) -> None:
        self._close_search_box()
        query = event.value.strip()
        if not query or self.current not in self.results:
            return
        self._message(f"searching for {query!r}…")
        self._search(self.current, query)

    @on(SearchBox.Left)
    def _on_search_left(self) -> None:
        self._close_search_box()

    def _close_search_box(self) -> None:
        box = self.query_one("#diff-search", SearchBox)
        box.remove_class("-shown")
        self.query_one(f"#table-{self.active_kind}", DataTable).focus()

    @work(thread=True, exclusive=True, group="datadiff-search")
    def _search(self, index: int, query: str) -> None:
        diff, _ = self.results[index]
        if diff is None:
            return
        finder = self.finders.setdefault(index, RowFinder(diff))
        self.post_message(SearchDone(index, finder.find(query)))

    def on_search_done(self, message: SearchDone) -> None:
        if message.index != self.current:
            return
        self._set_matches(message.matches)
        kind = self.active_kind
        table = self.query_one(f"#table-{kind}", DataTable)
        here = Hit(kinds().index(kind), self.pages[kind] * PAGE_SIZE + table.cursor_row)
        self._show_match(message.matches.first_from(here))

    def action_next_match(self, delta: int) -> None:
        if self.matches is not None and self.matches.hits:
            self._show_match((self.match_index + delta) % len(self.matches.hits))

    def _set_matches(self, matches: Matches | None) -> None:
        self.matches = matches
        self.match_index = 0
        if matches is None:
            self._message(None)
        self.refresh_bindings()

    def _show_match(self, index: int) -> None:
        assert self.matches is not None
        self.match_index = index
        found = bool(self.matches.hits)
        self._message(self.matches.describe(index), None if found else self._palette().warning)
        if found:
            self._go_to(self.matches.hits[index])

    def _go_to(self, hit: Hit) -> None:
        """Show the page holding ``hit`` in its tab, with the cursor on its row."""
        kind = hit.kind
        self.pages[kind] = hit.index // PAGE_SIZE
        self._fill(kind)
        self.query_one("#diff-tabs", TabbedContent).active = kind
        table = self.query_one(f"#table-{kind}", DataTable)
        row = hit.index % PAGE_SIZE
        table.move_cursor(row=row, animate=False)
        table.focus()
        # Scroll once the tab switch and the message line have been laid out: scrolling now
        # would use the table's previous height and can leave the row just off screen.
        self.call_after_refresh(table.move_cursor, row=row, animate=False)

    def _message(self, text: str | None, color: str | None = None) -> None:
        line = self.query_one("#diff-message", Static)
        line.set_class(text is None, "-hidden")
        line.update(Text(text or "", style=color or ""))

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
