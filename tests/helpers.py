"""Test helpers: temp git projects driven through the real `pivot` CLI in subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def pivot_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("NO_COLOR", None)
    env["CI"] = "1"
    env["PYTHONPATH"] = str(REPO)
    env.setdefault("GIT_AUTHOR_NAME", "t")
    env.setdefault("GIT_AUTHOR_EMAIL", "t@example.com")
    env.setdefault("GIT_COMMITTER_NAME", "t")
    env.setdefault("GIT_COMMITTER_EMAIL", "t@example.com")
    return env


class TempProject:
    """A Pivot project in a temporary git repository."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def write(self, rel: str, text: str) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
        return path

    def read(self, rel: str) -> str:
        return (self.root / rel).read_text()

    def pivot(
        self,
        *args: str,
        check: int | None = 0,
        timeout: float = 120,
        extra_env: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [sys.executable, "-m", "pivot", *args],
            cwd=self.root,
            env={**pivot_env(), **(extra_env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            **kwargs,
        )
        if check is not None and proc.returncode != check:
            raise AssertionError(
                f"pivot {' '.join(args)} exited {proc.returncode}, expected {check}\n"
                f"--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
            )
        return proc

    def run_events(self, *args: str, check: int | None = 0) -> list[dict[str, Any]]:
        proc = self.pivot("--no-tui", "run", "--json", *args, check=check)
        return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]

    def statuses(self, *args: str, check: int | None = 0) -> dict[str, str]:
        """Run and return {stage: status} from the JSON event stream."""
        return {
            e["stage"]: e["status"]
            for e in self.run_events(*args, check=check)
            if e["event"] == "stage_finished"
        }

    def status_json(self, *args: str) -> dict[str, dict[str, Any]]:
        proc = self.pivot("status", "--json", *args)
        return {row["stage"]: row for row in json.loads(proc.stdout)["stages"]}

    def git(self, *args: str) -> str:
        return subprocess.run(
            ["git", *args],
            cwd=self.root,
            env=pivot_env(),
            capture_output=True,
            text=True,
            check=True,
        ).stdout

    def commit_all(self, message: str = "commit") -> None:
        self.git("add", "-A")
        self.git("commit", "-qm", message)

    def lock(self, stage: str) -> str:
        return self.read(f".pivot/stages/{stage}.lock")


def make_project(root: Path) -> TempProject:
    root.mkdir(parents=True, exist_ok=True)
    project = TempProject(root)
    project.git("init", "-q")
    project.pivot("init")
    return project


class RpcClient:
    """A control-socket client as an editor would write one: a socket, JSON lines.

    Notifications that arrive while waiting for a reply are kept for :meth:`next_event`.
    Every read has a generous socket timeout, so a server that stops answering fails the
    test instead of hanging it.
    """

    def __init__(self, path: Path, timeout: float = 120) -> None:
        import socket

        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(str(path))
        self.file = self.sock.makefile("rwb")
        self.notes: list[dict[str, Any]] = []
        self._next_id = 0

    def send_raw(self, data: bytes) -> None:
        self.file.write(data)
        self.file.flush()

    def read(self) -> dict[str, Any]:
        line = self.file.readline()
        if not line:
            raise AssertionError("the server closed the connection")
        message: dict[str, Any] = json.loads(line)
        return message

    def reply(self) -> dict[str, Any]:
        """The next message that is not a notification."""
        while True:
            message = self.read()
            if "method" in message:
                self.notes.append(message)
            else:
                return message

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """The whole reply to one request (``result`` or ``error``)."""
        self._next_id += 1
        request = {"jsonrpc": "2.0", "id": self._next_id, "method": method, "params": params}
        self.send_raw((json.dumps(request) + "\n").encode())
        reply = self.reply()
        assert reply["id"] == self._next_id, reply
        return reply

    def result(self, method: str, **params: Any) -> Any:
        reply = self.call(method, **params)
        assert "result" in reply, f"{method} failed: {reply}"
        return reply["result"]

    def error_code(self, method: str, **params: Any) -> int:
        reply = self.call(method, **params)
        assert "error" in reply, f"{method} should have failed: {reply}"
        code: int = reply["error"]["code"]
        return code

    def next_note(self) -> dict[str, Any]:
        if self.notes:
            return self.notes.pop(0)
        message = self.read()
        assert "method" in message, f"expected a notification, got {message}"
        return message

    def next_event(self, event: str, **fields: Any) -> dict[str, Any]:
        """Read pushed events until one of type ``event`` (with these field values)."""
        while True:
            params = self.next_pushed_event()
            matches = all(params.get(k) == v for k, v in fields.items())
            if params["event"] == event and matches:
                return params

    def events_until(self, event: str, **fields: Any) -> list[dict[str, Any]]:
        """Every event up to and including the first matching one; none may be lost."""
        seen: list[dict[str, Any]] = []
        while True:
            params = self.next_pushed_event(lossless=True)
            seen.append(params)
            if params["event"] == event and all(params.get(k) == v for k, v in fields.items()):
                return seen

    def next_pushed_event(self, *, lossless: bool = False) -> dict[str, Any]:
        """The next event in seq order, as a careful client reads them: events the server
        dropped while this client was slow (an ``events_dropped`` marker) are fetched back
        from the ring with ``events``. ``lossless`` fails if the ring no longer had some."""
        while True:
            note = self.next_note()
            if note["method"] == "event":
                params: dict[str, Any] = note["params"]
                return params
            if note["method"] == "events_dropped":
                self._catch_up(note["params"], lossless=lossless)

    def _catch_up(self, marker: dict[str, Any], *, lossless: bool) -> None:
        pending, self.notes = self.notes, []  # notes that came after the marker
        recovered: list[dict[str, Any]] = []
        cursor, last = marker["first"] - 1, marker["last"]
        while cursor < last:
            page = self.result("events", since=cursor)
            assert not (lossless and page["missed"]), f"the ring lost events: {page['missed']}"
            recovered += [e for e in page["events"] if e["seq"] <= last]
            if page["next"] == cursor:
                break
            cursor = page["next"]
        pushed_during = self.notes  # pushed while paging: all after ``last``
        self.notes = [{"method": "event", "params": e} for e in recovered] + pending
        self.notes += pushed_during

    def close(self) -> None:
        import contextlib

        with contextlib.suppress(OSError):
            self.file.close()
        self.sock.close()


class ServeProcess:
    """`pivot serve` (or any serving command) as a subprocess, ready once it says so."""

    def __init__(self, project: TempProject, *args: str, ready: str = "listening on") -> None:
        self.project = project
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pivot", *args],
            cwd=project.root,
            env=pivot_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stderr is not None
        first = self.proc.stderr.readline()
        if ready not in first:
            self.proc.kill()
            _, rest = self.proc.communicate(timeout=60)
            raise AssertionError(f"pivot {' '.join(args)} did not start: {first}{rest}")

    def stop(self, sig: int | None = None) -> tuple[int, str]:
        """Signal the server (SIGTERM by default); its exit code and the rest of stderr."""
        import signal

        self.proc.send_signal(signal.SIGTERM if sig is None else sig)
        try:
            _, err = self.proc.communicate(timeout=60)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode, err

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate(timeout=60)
