"""`pivot serve`: a real server process, driven through its socket by a plain JSON-lines
client (tests/helpers.py). Real worker processes; every wait is for an event, never a sleep."""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import RpcClient, ServeProcess, TempProject, pivot_env

PIPELINE = """
import time
from typing import Annotated
import pivot
from pivot import loaders
from pivot.stage_def import StageParams

class UpperParams(StageParams):
    suffix: str = ""

def upper(
    raw: Annotated[str, pivot.Dep("raw.txt", loaders.Text())], params: UpperParams
) -> Annotated[str, pivot.Out("upper.txt", loaders.Text())]:
    print("upper ran")
    return raw.upper() + params.suffix

def slow(raw: Annotated[str, pivot.Dep("slow.txt", loaders.Text())]) -> Annotated[str, pivot.Out("slow_out.txt", loaders.Text())]:
    print("sleeping", flush=True)
    time.sleep(600)
    return raw

def chatty(n: Annotated[str, pivot.Dep("n.txt", loaders.Text())]) -> Annotated[str, pivot.Out("chatty.txt", loaders.Text())]:
    for i in range(int(n)):
        print(f"line {i}")
    return n

p = pivot.Pipeline("p")
p.register(upper)
p.register(slow)
p.register(chatty)
"""


@pytest.fixture
def served(project: TempProject) -> Iterator[tuple[TempProject, ServeProcess]]:
    project.write("pipeline.py", PIPELINE)
    project.write("raw.txt", "hello")
    project.write("slow.txt", "zzz")
    project.write("n.txt", "5")
    server = ServeProcess(project, "serve")
    try:
        yield project, server
    finally:
        server.kill()


def connect(project: TempProject) -> RpcClient:
    return RpcClient(project.root / ".pivot" / "serve.sock")


def statuses(events: list[dict[str, object]]) -> dict[object, object]:
    return {e["stage"]: e["status"] for e in events if e["event"] == "stage_finished"}


def test_a_run_streams_its_events_to_completion(served: tuple[TempProject, ServeProcess]) -> None:
    project, server = served
    client = connect(project)
    assert client.result("status")["stages"][0]["status"] == "stale"
    client.result("subscribe")
    run_id = client.result("run", stages=["upper"])["run_id"]
    events = client.events_until("run_finished", run_id=run_id)
    assert events[0]["event"] == "run_started"
    assert {e["run_id"] for e in events} == {run_id}
    assert statuses(events) == {"upper": "ran"}
    assert any(e["event"] == "stage_log" and e["line"] == "upper ran" for e in events)
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert events[-1]["exit_code"] == 0
    assert project.read("upper.txt") == "HELLO"
    rows = {row["stage"]: row for row in client.result("status", stages=["upper"])["stages"]}
    assert rows["upper"]["status"] == "cached"
    # the same rows as `pivot status --json`
    cli_rows = project.status_json("upper")
    assert rows["upper"]["reason"] == cli_rows["upper"]["reason"]
    client.close()
    code, err = server.stop()
    assert code == 0, err


def test_cancel_stops_a_long_run_and_a_second_run_is_refused(
    served: tuple[TempProject, ServeProcess],
) -> None:
    project, server = served
    client = connect(project)
    client.result("subscribe")
    run_id = client.result("run", stages=["slow"])["run_id"]
    client.next_event("stage_log", stage="slow", line="sleeping")
    refused = client.call("run", stages=["upper"])
    assert refused["error"]["code"] == -32001
    assert run_id in refused["error"]["message"]
    assert client.result("cancel") == {"cancelled": True, "run_id": run_id}
    events = client.events_until("run_finished", run_id=run_id)
    assert statuses(events) == {"slow": "cancelled"}
    assert events[-1]["cancelled"] == "request"
    assert not (project.root / "slow_out.txt").exists()
    assert not (project.root / ".pivot/stages/slow.lock").exists()
    assert client.result("cancel") == {"cancelled": False, "run_id": None}
    # the engine is usable again
    second = client.result("run", stages=["upper"])["run_id"]
    assert statuses(client.events_until("run_finished", run_id=second)) == {"upper": "ran"}
    client.close()
    assert server.stop()[0] == 0


def test_events_since_a_cursor(served: tuple[TempProject, ServeProcess]) -> None:
    project, server = served
    client = connect(project)
    client.result("subscribe")
    run_id = client.result("run", stages=["upper"])["run_id"]
    pushed = client.events_until("run_finished", run_id=run_id)

    page = client.result("events", since=0)
    assert page["events"] == pushed
    assert page["missed"] == 0 and page["next"] == page["latest"] == pushed[-1]["seq"]

    cursor = pushed[1]["seq"]
    after = client.result("events", since=cursor, limit=2)
    assert after["events"] == pushed[2:4]
    assert after["next"] == pushed[3]["seq"]
    rest = client.result("events", since=after["next"])
    assert rest["events"] == pushed[4:]

    nothing = client.result("events", since=page["latest"])
    assert nothing["events"] == [] and nothing["next"] == page["latest"]
    assert client.error_code("events", since=page["latest"] + 1) == -32602
    client.close()
    assert server.stop()[0] == 0


def test_explain_after_editing_a_stage_shows_the_code_diff(
    served: tuple[TempProject, ServeProcess],
) -> None:
    project, server = served
    client = connect(project)
    client.result("subscribe")
    run_id = client.result("run", stages=["upper"])["run_id"]
    client.next_event("run_finished", run_id=run_id)
    assert client.result("explain", stage="upper")["verdict"] == "SKIP"

    project.write("pipeline.py", PIPELINE.replace("raw.upper() +", "raw.strip().upper() +"))
    record = client.result("explain", stage="upper")
    assert record["verdict"] == "WILL RUN"
    (change,) = record["code"]
    assert change["key"] == "self:upper"
    assert "-    return raw.upper() + params.suffix" in change["diff"]
    assert "+    return raw.strip().upper() + params.suffix" in change["diff"]
    assert change["location"].startswith("pipeline.py:")
    client.close()
    assert server.stop()[0] == 0


def test_two_clients_at_once(served: tuple[TempProject, ServeProcess]) -> None:
    """One follows a run's events while the other asks for status during it."""
    project, server = served
    watcher, asker = connect(project), connect(project)
    watcher.result("subscribe")
    run_id = asker.result("run", stages=["slow"])["run_id"]
    watcher.next_event("stage_log", stage="slow", line="sleeping")
    status = asker.result("status")
    assert status["run_id"] == run_id
    assert {row["stage"] for row in status["stages"]} == {"upper", "slow", "chatty"}
    assert asker.result("server_info")["run_id"] == run_id
    assert asker.result("cancel")["run_id"] == run_id
    assert statuses(watcher.events_until("run_finished", run_id=run_id)) == {"slow": "cancelled"}
    watcher.close()
    asker.close()
    assert server.stop()[0] == 0


def test_a_client_that_vanishes_mid_stream_harms_nothing(
    served: tuple[TempProject, ServeProcess],
) -> None:
    project, server = served
    project.write("n.txt", "2000")
    leaver = connect(project)
    leaver.result("subscribe")
    run_id = leaver.result("run", stages=["chatty"])["run_id"]
    leaver.next_event("stage_log", stage="chatty")
    leaver.sock.shutdown(socket.SHUT_RDWR)
    leaver.close()

    follower = connect(project)
    follower.result("subscribe", since=0)
    events = follower.events_until("run_finished", run_id=run_id)
    assert statuses(events) == {"chatty": "ran"}
    assert sum(1 for e in events if e["event"] == "stage_log") == 2000
    assert project.read("chatty.txt") == "2000"
    # a new client after that is served as usual
    newcomer = connect(project)
    assert newcomer.result("status", stages=["chatty"])["stages"][0]["status"] == "cached"
    newcomer.close()
    follower.close()
    assert server.stop()[0] == 0


def test_a_subscriber_that_does_not_read_loses_events_with_a_marker(
    served: tuple[TempProject, ServeProcess],
) -> None:
    """The run is not held up by it; when it reads again it learns which events it missed,
    and catches up from the ring with `events`."""
    project, server = served
    project.write("n.txt", "30000")
    sleeper, driver = connect(project), connect(project)
    sleeper.result("subscribe")
    driver.result("subscribe")
    run_id = driver.result("run", stages=["chatty"])["run_id"]
    driver.next_event("run_finished", run_id=run_id)  # while the sleeper has read nothing

    seqs: list[int] = []
    while True:
        note = sleeper.next_note()
        if note["method"] == "events_dropped":
            marker = note["params"]
            break
        seqs.append(note["params"]["seq"])
    assert seqs == list(range(1, len(seqs) + 1))
    assert marker["first"] == seqs[-1] + 1 and marker["missed"] > 0

    cursor, missed, caught_up = seqs[-1], 0, []
    while not caught_up or caught_up[-1]["event"] != "run_finished":
        page = sleeper.result("events", since=cursor)
        missed += page["missed"]
        caught_up += page["events"]
        cursor = page["next"]
    assert missed > 0  # 30,000 log lines do not fit in the ring: the oldest fell off
    assert caught_up[-1]["run_id"] == run_id
    sleeper.close()
    driver.close()
    assert server.stop()[0] == 0


def test_bad_requests_get_the_right_error_codes(served: tuple[TempProject, ServeProcess]) -> None:
    project, server = served
    project.commit_all()
    client = connect(project)

    def raw(line: bytes) -> dict[str, object]:
        client.send_raw(line)
        return client.reply()

    assert raw(b"{not json\n")["error"]["code"] == -32700  # type: ignore[index]
    assert raw(b"[1, 2]\n")["error"]["code"] == -32600  # type: ignore[index]
    assert raw(b'"status"\n')["error"]["code"] == -32600  # type: ignore[index]
    reply = raw(b'{"id": 7, "method": "status"}\n')
    assert reply["id"] == 7 and reply["error"]["code"] == -32600  # type: ignore[index]
    assert (
        raw(b'{"jsonrpc": "2.0", "id": 8, "method": "status", "params": [1]}\n')["error"]["code"]
        == -32602
    )  # type: ignore[index]
    assert client.error_code("no_such_method") == -32601
    assert client.error_code("run", stages="upper") == -32602
    assert client.error_code("run", stage=["upper"]) == -32602
    assert client.error_code("explain") == -32602
    assert client.error_code("events", since=-1) == -32602
    assert client.error_code("data_diff", path="../outside.csv") == -32602
    unknown = client.call("explain", stage="nope")
    assert unknown["error"]["code"] == -32002
    assert "unknown stage 'nope'" in unknown["error"]["message"]
    assert client.error_code("run", stages=["nope"]) == -32002
    # a Pivot error inside a method is an error reply, not a crash
    missing = client.call("data_diff", path="absent.csv")
    assert missing["error"]["code"] == -32000
    assert missing["error"]["data"]["type"] == "DataDiffError"
    assert "absent.csv" in missing["error"]["message"]
    # a notification (no id) gets no reply: the next message answers the next request
    client.send_raw(b'{"jsonrpc": "2.0", "method": "status"}\n')
    client.send_raw(b'{"jsonrpc": "2.0", "method": "no_such_method"}\n')
    assert client.call("server_info")["result"]["pid"] == server.proc.pid
    client.close()
    assert server.stop()[0] == 0


def test_stage_params_and_data_diff(served: tuple[TempProject, ServeProcess]) -> None:
    project, server = served
    project.write("params.yaml", "upper:\n  suffix: '!'\n")
    project.write("data.csv", "id,v\n1,a\n2,b\n")
    project.commit_all()
    project.write("data.csv", "id,v\n1,a\n2,c\n3,d\n")
    client = connect(project)

    info = client.result("stage", name="upper")
    assert info["deps"] == ["raw.txt"]
    assert info["outs"] == [{"path": "upper.txt", "kind": "out", "cached": True}]
    assert info["params"] == {"suffix": "!"}
    assert "self:upper" in info["fingerprint"]
    assert info["lock"] is None

    shown = client.result("params", stage="upper")
    assert shown == {"stages": {"upper": {"suffix": {"value": "!", "source": "params.yaml"}}}}
    assert client.result("params")["stages"].keys() == {"upper"}

    diff = client.result("data_diff", path="data.csv", keys=["id"])
    assert diff["status"] == "changed"
    assert len(diff["added_rows"]) == 1 and len(diff["modified_rows"]) == 1
    client.close()
    assert server.stop()[0] == 0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_socket_is_private_and_a_signal_shuts_down_cleanly(
    served: tuple[TempProject, ServeProcess], sig: int
) -> None:
    project, server = served
    path = project.root / ".pivot" / "serve.sock"
    mode = os.stat(path).st_mode
    assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600
    client = connect(project)
    client.result("subscribe")
    run_id = client.result("run", stages=["slow"])["run_id"]
    client.next_event("stage_log", stage="slow", line="sleeping")
    code, err = server.stop(sig)
    assert code == 0, err
    assert "stopped" in err
    assert not path.exists()
    # the run in progress was cancelled, and its last events reached the client
    finished = client.next_event("run_finished", run_id=run_id)
    assert finished["cancelled"] == signal.Signals(sig).name
    assert not (project.root / ".pivot/stages/slow.lock").exists()
    client.close()


def test_a_second_server_is_refused_and_a_stale_socket_replaced(
    served: tuple[TempProject, ServeProcess],
) -> None:
    project, server = served
    second = project.pivot("serve", check=1)
    assert second.stderr.count("\n") == 1
    assert "already listening" in second.stderr
    assert server.stop()[0] == 0

    # a socket file whose server died is taken over
    path = project.root / ".pivot" / "serve.sock"
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(path))
    dead.close()
    assert path.exists()
    again = ServeProcess(project, "serve")
    try:
        assert connect(project).result("server_info")["pid"] == again.proc.pid
    finally:
        assert again.stop()[0] == 0


def test_a_custom_socket_path_and_a_path_that_is_not_a_socket(
    project: TempProject, tmp_path: Path
) -> None:
    project.write("pipeline.py", PIPELINE)
    taken = project.write("taken.sock", "a file")
    proc = project.pivot("serve", "--socket", str(taken), check=1)
    assert "is not a socket" in proc.stderr and proc.stderr.count("\n") == 1
    custom = tmp_path / "s.sock"
    server = ServeProcess(project, "serve", "--socket", str(custom))
    try:
        assert RpcClient(custom).result("server_info")["socket"] == str(custom)
    finally:
        assert server.stop()[0] == 0
    assert not custom.exists()


def test_watch_mode_serves_its_cycles(project: TempProject) -> None:
    project.write(
        "pipeline.py",
        PIPELINE.replace("p.register(slow)\n", "").replace("p.register(chatty)\n", ""),
    )
    project.write("raw.txt", "hello")
    server = ServeProcess(
        project, "--no-tui", "run", "--watch", "--serve", "--debounce", "100", ready="serving on"
    )
    try:
        client = connect(project)
        client.result("subscribe", since=0)
        client.next_event("run_finished")
        project.write("raw.txt", "again")
        client.next_event("files_changed", paths=["raw.txt"])
        events = client.events_until("run_finished")
        assert statuses(events) == {"upper": "ran"}
        assert client.result("status")["stages"][0]["status"] == "cached"
        assert client.error_code("run") == -32003
        assert client.error_code("cancel") == -32003
        client.close()
    finally:
        code, err = server.stop(signal.SIGINT)
    assert code == 0, err
    assert not (project.root / ".pivot" / "serve.sock").exists()


def test_serve_flag_needs_watch(project: TempProject) -> None:
    proc = project.pivot("--no-tui", "run", "--serve", check=2)
    assert "--watch" in proc.stderr


def test_serve_help_documents_the_protocol() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pivot", "serve", "--help"],
        env=pivot_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0
    assert "JSON-RPC" in proc.stdout and "docs/events.md" in proc.stdout
