"""The control socket's server: asyncio in a thread of its own, one Engine behind it.

Threads, and who owns what:

- the event-loop thread owns the sockets, the clients, the :class:`EventLog` and the
  subscriptions; engine threads hand it events with ``call_soon_threadsafe`` and never wait
  for a client, so a slow or vanished client cannot hold the engine up;
- engine methods run in the loop's worker threads (``asyncio.to_thread``) through the
  :class:`EngineHost`, which runs one run at a time in a thread of its own.

Each client is served in order (one request answered before the next is read); clients are
served concurrently. Replies and notifications leave through one writer task per client.
Notifications are bounded per client: past :data:`NOTIFICATION_LIMIT` unwritten ones, events
are dropped for that client, and once it drains it gets one ``events_dropped`` notification
saying which seqs it missed (they may still be in the ring: ``events``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import sys
import threading
from pathlib import Path
from typing import Any

import pivot.core.serve._rpc as _rpc
import pivot.core.serve._socket_file as _socket_file
from pivot.core.run.engine import Engine
from pivot.core.run.events import Event, StageLogPending
from pivot.core.serve._engine_host import EngineHost
from pivot.core.serve._event_log import DEFAULT_CAPACITY, EventLog
from pivot.core.serve._methods import EngineMethods
from pivot.core.serve._params import Params
from pivot.exceptions import PivotError, RpcError

#: Unwritten notifications a client may have before events are dropped for it.
NOTIFICATION_LIMIT = 5_000
#: The longest request line read (bytes); a longer one closes the connection.
LINE_LIMIT = 1 << 20

_LOOP_METHODS = ("events", "subscribe", "unsubscribe", "server_info")


@dataclasses.dataclass(eq=False)
class _Client:
    writer: asyncio.StreamWriter
    outbox: asyncio.Queue[tuple[bytes, bool]] = dataclasses.field(default_factory=asyncio.Queue)
    notes: int = 0  # notifications in the outbox
    subscribed: bool = False
    gone: bool = False  # the connection broke: nothing more is written
    missed: list[int] = dataclasses.field(default_factory=list)  # first and last dropped seq
    dropped: int = 0

    def send(self, message: dict[str, Any]) -> None:
        self.outbox.put_nowait((_rpc.encode(message), False))

    def notify(self, method: str, params: dict[str, Any], *, bounded: bool = True) -> None:
        if bounded and self.notes >= NOTIFICATION_LIMIT:
            seq = params.get("seq", 0)
            self.missed = [self.missed[0] if self.missed else seq, seq]
            self.dropped += 1
            return
        self.flush_marker()
        self._put(_rpc.notification(method, params))

    def flush_marker(self) -> None:
        """Tell the client which events it lost, once there is room again."""
        if self.dropped:
            marker = {"missed": self.dropped, "first": self.missed[0], "last": self.missed[1]}
            self.dropped, self.missed = 0, []
            self._put(_rpc.notification("events_dropped", marker))

    def _put(self, message: dict[str, Any]) -> None:
        self.notes += 1
        self.outbox.put_nowait((_rpc.encode(message), True))


class ControlServer:
    """Serves ``engine`` on the Unix socket ``path`` until :meth:`close`."""

    def __init__(
        self,
        path: Path,
        engine: Engine,
        *,
        watch: bool = False,
        capacity: int = DEFAULT_CAPACITY,
    ) -> None:
        self.path = path
        self.log = EventLog(capacity)
        self.capacity = capacity
        self.host = EngineHost(engine, self.publish, watch=watch)
        self.methods = EngineMethods(self.host)
        self._engine_methods = self.methods.table()
        self._clients: set[_Client] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._inode = 0
        self._failure: BaseException | None = None

    # -- lifecycle (called from the main thread) -------------------------------------------------

    def start(self) -> None:
        """Listen (ServeError if the socket cannot be had) and serve in a background thread."""
        sock, self._inode = _socket_file.listen(self.path)
        self._thread = threading.Thread(
            target=self._serve, args=(sock,), name="pivot-serve", daemon=True
        )
        self._thread.start()
        self._ready.wait()
        if self._failure is not None:
            _socket_file.remove(self.path, self._inode)
            raise self._failure

    def close(self, reason: str = "SIGTERM") -> None:
        """Cancel any run (its last events still reach clients), then stop serving and
        remove the socket file."""
        self.host.stop(reason)
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None:
            with contextlib.suppress(RuntimeError):  # the loop already ended
                loop.call_soon_threadsafe(stop.set)
        if self._thread is not None:
            self._thread.join()
        _socket_file.remove(self.path, self._inode)

    def publish(self, event: Event) -> None:
        """Give an engine event to the clients; from any thread, never blocks."""
        if isinstance(event, StageLogPending):  # as in --json: each line once, finished
            return
        loop = self._loop
        if loop is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop is closing
            loop.call_soon_threadsafe(self._append, event.to_dict())

    # -- the event loop --------------------------------------------------------------------------

    def _serve(self, sock: Any) -> None:
        try:
            asyncio.run(self._main(sock))
        except BaseException as exc:
            self._failure = exc
        finally:
            self._ready.set()

    async def _main(self, sock: Any) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        server = await asyncio.start_unix_server(self._on_client, sock=sock, limit=LINE_LIMIT)
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            server.close()
            self._loop = None
            await self._let_out(list(self._clients))

    @staticmethod
    async def _let_out(clients: list[_Client]) -> None:
        """Shutting down: give each client what is queued for it (the last events of a
        cancelled run), for a few seconds at most, then close."""
        for client in clients:
            client.subscribed = False
        waits = [asyncio.ensure_future(client.outbox.join()) for client in clients]
        if waits:
            await asyncio.wait(waits, timeout=5)
        for client in clients:
            client.writer.close()
        closing = [asyncio.ensure_future(client.writer.wait_closed()) for client in clients]
        if closing:
            await asyncio.wait(closing, timeout=5)

    def _append(self, event: dict[str, Any]) -> None:
        record = self.log.append(event)
        for client in self._clients:
            if client.subscribed:
                client.notify("event", record)

    async def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        if sock is not None and not _socket_file.peer_is_owner(sock):
            writer.close()
            return
        client = _Client(writer)
        self._clients.add(client)
        sender = asyncio.create_task(self._write(client))
        try:
            while True:
                try:
                    line = await reader.readline()
                except ValueError:  # longer than LINE_LIMIT: the stream cannot be resynced
                    client.send(
                        _rpc.error(
                            None, _rpc.INVALID_REQUEST, f"request longer than {LINE_LIMIT} bytes"
                        )
                    )
                    break
                except ConnectionError:
                    break
                if not line:
                    break
                if line.strip():
                    await self._handle(client, line)
            # let the last replies out before closing
            client.subscribed = False
            await asyncio.wait_for(client.outbox.join(), timeout=5)
        except (TimeoutError, asyncio.CancelledError):
            pass
        finally:
            self._clients.discard(client)
            sender.cancel()
            writer.close()

    async def _write(self, client: _Client) -> None:
        while True:
            data, is_note = await client.outbox.get()
            try:
                if not client.gone:
                    client.writer.write(data)
                    await client.writer.drain()
            except (ConnectionError, RuntimeError):  # the client went away
                client.gone, client.subscribed = True, False
                self._clients.discard(client)
                client.writer.close()
            finally:
                if is_note:
                    client.notes -= 1
                    if client.notes < NOTIFICATION_LIMIT and not client.gone:
                        client.flush_marker()
                client.outbox.task_done()

    # -- requests --------------------------------------------------------------------------------

    async def _handle(self, client: _Client, line: bytes) -> None:
        request = _rpc.parse_request(line)
        if not isinstance(request, _rpc.Request):
            client.send(request)
            return
        reply: dict[str, Any]
        try:
            value = await self._call(client, request)
        except RpcError as exc:
            reply = _rpc.error(request.id, exc.code, str(exc), exc.data)
        except PivotError as exc:
            data = {"type": type(exc).__name__, "exit_code": exc.exit_code}
            reply = _rpc.error(request.id, _rpc.PIVOT_ERROR, str(exc), data)
        except Exception as exc:  # a bug in Pivot: say so, keep serving
            print(f"pivot serve: internal error in {request.method}: {exc!r}", file=sys.stderr)
            text = f"internal error: {type(exc).__name__}: {exc}"
            reply = _rpc.error(request.id, _rpc.INTERNAL_ERROR, text)
        else:
            reply = _rpc.result(request.id, value)
        if not request.notification:
            client.send(reply)
        if request.method == "subscribe" and "result" in reply:
            self._subscribe(client, reply["result"]["since"])

    async def _call(self, client: _Client, request: _rpc.Request) -> Any:
        params = Params(request.method, request.params)
        method = request.method
        if method == "run":
            started = await asyncio.to_thread(self.methods.run, params)
            return {"run_id": await asyncio.wrap_future(started)}
        handler = self._engine_methods.get(method)
        if handler is not None:
            return await asyncio.to_thread(handler, params)
        if method == "events":
            return self._events(params)
        if method == "subscribe":
            since = params.integer("since", default=self.log.latest)
            params.done()
            self._check_cursor(since)
            return {"since": since, "latest": self.log.latest}
        if method == "unsubscribe":
            params.done()
            was, client.subscribed = client.subscribed, False
            return {"unsubscribed": was}
        if method == "server_info":
            params.done()
            return self._info()
        names = ", ".join(sorted(["run", *self._engine_methods, *_LOOP_METHODS]))
        raise RpcError(_rpc.METHOD_NOT_FOUND, f"no method '{method}' (methods: {names})")

    def _check_cursor(self, cursor: int) -> None:
        if cursor > self.log.latest:
            raise RpcError(
                _rpc.INVALID_PARAMS,
                f"cursor {cursor} is past the newest event ({self.log.latest}); a restarted "
                "server numbers events from 1 again",
            )

    def _events(self, params: Params) -> dict[str, Any]:
        since = params.integer("since", default=0)
        limit = params.integer("limit", default=1000, minimum=1, maximum=self.capacity)
        params.done()
        self._check_cursor(since)
        page = self.log.since(since, limit)
        return {
            "events": page.events,
            "next": page.next,
            "missed": page.missed,
            "latest": page.latest,
        }

    def _subscribe(self, client: _Client, since: int) -> None:
        """Replay what came after ``since``, then push each new event (no await in between,
        so no event is sent twice or skipped)."""
        page = self.log.since(since, self.capacity)
        if page.missed:
            first = since + 1
            client.notify(
                "events_dropped",
                {"missed": page.missed, "first": first, "last": first + page.missed - 1},
                bounded=False,
            )
        for record in page.events:
            client.notify("event", record, bounded=False)
        client.subscribed = True

    def _info(self) -> dict[str, Any]:
        from importlib.metadata import version

        return {
            "pid": os.getpid(),
            "root": str(self.host.engine.project.root),
            "socket": str(self.path),
            "version": version("pivot"),
            "watch": self.host.watch,
            "run_id": self.host.run_id if self.host.running else None,
            "latest": self.log.latest,
            "capacity": self.capacity,
        }
