"""The control socket: the engine over JSON-RPC 2.0 on a Unix socket (`pivot serve`).

Editors, notebooks and coding agents drive one warm engine through it: run, cancel,
status, explain, stage info, params, data diffs, and the event stream of `--json`. The
protocol is documented in docs/events.md ("Control socket").
"""

from pivot.core.serve._server import ControlServer

__all__ = ["ControlServer"]
