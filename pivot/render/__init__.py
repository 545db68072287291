"""Presentation: facts computed by :mod:`pivot.core` turned into text, markup, tables and SVG.

``pivot.core`` computes facts as data and never draws; this package draws them, once per
fact, for both the CLI and the TUI (so ``pivot params show`` and the TUI's Params tab can
never word the same value differently). Textual stays out of here too: TUI widgets live in
:mod:`pivot.tui`, which builds on these functions.

Modules (one per kind of fact):

- ``tables``: Markdown tables, and the rich table style the CLI's listings share;
- ``params``: stage params with their source labels, and params diffs;
- ``metrics``: metric values, metrics files and metrics diffs;
- ``datadiff``: data diffs as rich text, Markdown and JSON, and their one-line status;
- ``dag``: the stage DAG as a text drawing, Mermaid or Graphviz dot;
- ``plots_svg`` and ``terminal_plot``: figures as SVG/HTML, and as braille charts, in the
  series colours of ``palette``;
- ``explain``: why stages will run, for the terminal;
- ``remote``: what the remote holds, a line per output;
- ``progress``: the transfer progress bar of push, fetch and pull;
- ``sizes``: amounts of data (``1.5 kB``);
- ``counts``: numbers of things (``1 stage``, ``2 stages``).

rich is imported inside the functions that need it, so that commands printing Markdown or
JSON (and ``pivot --help``) never pay for it.
"""
