"""Consumers of engine events: the console and JSON lines. (The TUI is another.)

Only the event consumers live here; drawing a fact (an explanation, a chart, a table) is
:mod:`pivot.render`'s job, so the CLI and the TUI share it.
"""
