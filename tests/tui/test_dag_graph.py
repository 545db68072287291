"""The DAG pane's drawing (`pivot.tui._dag_graph`), without a UI: exact lines for small graphs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pivot.tui._dag_graph import DagGraph, Drawing, Kind, draw, draw_matches, shorten_middle

DIAMOND = {"load": [], "lengths": ["load"], "counts": ["load"], "train": ["lengths", "counts"]}


def graph(upstream: Mapping[str, Sequence[str]]) -> DagGraph:
    return DagGraph(list(upstream), {name: frozenset(ps) for name, ps in upstream.items()})


def fresh(name: str) -> tuple[str, str]:
    return ("✓", "muted")


def lines(
    upstream: Mapping[str, Sequence[str]], selected: str, width: int, height: int
) -> list[str]:
    return draw(graph(upstream), selected, width, height, fresh).text()


class TestShapes:
    def test_diamond_from_the_bottom(self) -> None:
        assert lines(DIAMOND, "train", 40, 9) == [
            "                [✓ load]",
            "             ┌──────┴─────┐",
            "        [✓ lengths]  [✓ counts]",
            "             └──────┬─────┘",
            "                [✓ train]",
            "",
            "",
            "",
            "",
        ]
        # Two lines fewer: the grandparent folds into a count.
        assert lines(DIAMOND, "train", 40, 7)[:2] == [
            "           ↑ 1 more ancestor",
            "        [✓ lengths]  [✓ counts]",
        ]

    def test_diamond_from_a_middle_stage_shows_its_sibling(self) -> None:
        drawing = draw(graph(DIAMOND), "lengths", 40, 7, fresh)
        assert drawing.text() == [
            "",
            "                      [✓ load]",
            "                    ┌─────┴──────┐",
            "               [✓ lengths]  [✓ counts]",
            "                    │",
            "                [✓ train]",
            "",
        ]
        assert drawing.parents == ("load",)
        assert drawing.children == ("train",)
        assert drawing.siblings == ("lengths", "counts")

    def test_the_selection_is_centred_on_the_middle_line(self) -> None:
        drawing = draw(graph(DIAMOND), "train", 81, 21, fresh)
        assert drawing.centre_of("train") == (40, 10)

    def test_a_wide_fan_out_folds_into_more_nodes(self) -> None:
        fan = {"root": [], **{f"part_{i:02d}": ["root"] for i in range(12)}}
        fan["merge"] = [f"part_{i:02d}" for i in range(12)]
        assert lines(fan, "root", 50, 5) == [
            "",
            "",
            "                     [✓ root]",
            "       ┌────────────┬────┴───────┬───────────┐",
            "  [✓ part_00]  [✓ part_01]  [✓ part_02]  [+9 more]",
        ]
        # From a child: its siblings fold on both sides of it.
        drawing = draw(graph(fan), "part_05", 80, 7, fresh)
        assert drawing.text() == [
            "",
            "                                      [✓ root]",
            "               ┌───────────┬────────────┬─┴──────────┬───────────┐",
            "           [+4 more]  [✓ part_04]  [✓ part_05]  [✓ part_06]  [+5 more]",
            "                                        │",
            "                                    [✓ merge]",
            "",
        ]
        assert drawing.siblings == tuple(f"part_{i:02d}" for i in range(12))

    def test_a_wide_terminal_shows_more_of_a_fan_out(self) -> None:
        fan = {"root": [], **{f"part_{i:02d}": ["root"] for i in range(12)}}
        narrow = draw(graph(fan), "root", 50, 5, fresh)
        wide = draw(graph(fan), "root", 200, 5, fresh)
        assert len(narrow.children) == 3
        assert len(wide.children) == 12
        assert "more" not in "".join(wide.text())

    def test_a_long_chain_folds_what_does_not_fit_the_height(self) -> None:
        chain = {f"step{i}": [f"step{i - 1}"] if i else [] for i in range(20)}
        assert lines(chain, "step10", 30, 9) == [
            "",
            "      ↑ 9 more ancestors",
            "           [✓ step9]",
            "               │",
            "          [✓ step10]",
            "               │",
            "          [✓ step11]",
            "     ↓ 8 more descendants",
            "",
        ]

    def test_ancestors_sit_at_their_nearest_distance_and_each_stage_once(self) -> None:
        # a feeds c directly and through b: a is a parent of c, drawn once, on c's parent row.
        drawing = draw(graph({"a": [], "b": ["a"], "c": ["a", "b"]}), "c", 30, 7, fresh)
        text = drawing.text()
        assert sum(line.count("[✓ a]") for line in text) == 1
        assert drawing.parents == ("a", "b")

    def test_buses_never_join_stages_that_are_not_linked(self) -> None:
        # a -> c, a -> d, b -> d, b -> e: a's and b's edges overlap, so they get separate lines;
        # the vertical to d crossing b's line is not joined to it.
        upstream = {"a": [], "b": [], "c": ["a"], "d": ["a", "b"], "e": ["b"], "f": ["c", "d", "e"]}
        assert lines(upstream, "f", 50, 11)[:6] == [
            "                    [✓ a]  [✓ b]",
            "                  ┌───┴──┐   │",
            "                  │      ├───┴──┐",
            "                [✓ c]  [✓ d]  [✓ e]",
            "                  └──────┼──────┘",
            "                       [✓ f]",
        ]


class TestNames:
    def test_shared_prefixes_keep_the_distinct_tail(self) -> None:
        upstream = {
            "features_region_northwest_v2": [],
            "features_region_southeast_v2": [],
            "train": ["features_region_northwest_v2", "features_region_southeast_v2"],
        }
        assert lines(upstream, "train", 100, 5)[:3] == [
            "                    [✓ features_reg…northwest_v2]  [✓ features_reg…southeast_v2]",
            "                                  └───────────────┬──────────────┘",
            "                                              [✓ train]",
        ]
        # Narrower: still told apart.
        assert lines(upstream, "train", 48, 5)[0] == "       [✓ feat…northw…]  [✓ feat…southe…]"

    def test_shorten_middle(self) -> None:
        assert shorten_middle("short", 10) == "short"
        assert shorten_middle("abcdefghijklmnop", 9) == "abcd…mnop"
        assert shorten_middle("model_fold_10_final", 12, distinct_from=11) == "mod…10_final"
        assert len(shorten_middle("x" * 50, 12, distinct_from=40)) == 12


class TestStatusAndFilter:
    def test_nodes_carry_their_status_symbol_and_tone(self) -> None:
        styles = {"load": ("✓", "muted"), "lengths": ("✗", "error"), "counts": ("○", "warning")}
        drawing = draw(graph(DIAMOND), "train", 40, 9, lambda n: styles.get(n, ("?", "muted")))
        symbols = {
            span.stage: (span.text.strip(), span.tone)
            for line in drawing.lines
            for span in line
            if span.kind is Kind.SYMBOL
        }
        assert symbols == {
            "load": ("✓", "muted"),
            "lengths": ("✗", "error"),
            "counts": ("○", "warning"),
            "train": ("?", "muted"),
        }
        selected = {span.stage for line in drawing.lines for span in line if span.selected}
        assert selected == {"train"}

    def test_clicks_find_the_stage_under_the_pointer(self) -> None:
        drawing = draw(graph(DIAMOND), "train", 40, 7, fresh)
        x, y = drawing.centre_of("counts") or (0, 0)
        assert drawing.stage_at(x, y) == "counts"
        assert drawing.stage_at(0, y) is None

    def test_matches_flow_over_lines_and_fold(self) -> None:
        g = graph({f"stage_{i:03d}": [] for i in range(40)})
        drawing: Drawing = draw_matches(
            g, [f"stage_{i:03d}" for i in range(40)], "stage", 60, 3, fresh
        )
        assert drawing.text() == [
            "/stage▏  40 of 40 stages · Enter: first match · Esc: clear",
            "[✓ stage_000]  [✓ stage_001]  [✓ stage_002]  [✓ stage_003]",
            "[✓ stage_004]  [✓ stage_005]  [✓ stage_006]  [+33 more]",
        ]
        first = {span.stage for line in drawing.lines for span in line if span.selected}
        assert first == {"stage_000"}


class TestLargeGraphs:
    def test_two_thousand_stages_draw_only_the_neighbourhood(self) -> None:
        width = 16
        upstream: dict[str, list[str]] = {}
        for i in range(2000):
            layer, col = divmod(i, width)
            upstream[f"s_{layer:03d}_{col:02d}"] = (
                []
                if layer == 0
                else [f"s_{layer - 1:03d}_{(col + k) % width:02d}" for k in (0, 1, 5)]
            )
        g = graph(upstream)
        drawing = draw(g, "s_060_03", 200, 30, fresh)
        nodes = {span.stage for line in drawing.lines for span in line if span.stage}
        assert "s_060_03" in nodes
        assert len(nodes) < 60
        text = "\n".join(drawing.text())
        assert "more ancestors" in text and "more descendants" in text
