"""What a stage prints reaches `pivot run --json` and `--show-output` as a terminal shows it:
``\\r`` progress as its final frame, stderr flagged, Python-level order kept, no escapes."""

from __future__ import annotations

from tests.helpers import TempProject

NOISY = """
import logging, subprocess, sys, time, warnings
from typing import Annotated
import pivot

log = logging.getLogger("noisy")

def noisy() -> Annotated[str, pivot.Out("noisy.txt", pivot.loaders.Text())]:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    print("\\x1b[32mstarting\\x1b[0m")
    for i in range(301):
        sys.stderr.write(f"\\rtraining {i * 100 // 300:3d}%|{'#' * (i // 30):<10}| {i}/300")
        sys.stderr.flush()
        if i == 150:
            time.sleep(0.3)  # the engine tails the log meanwhile: a half-written line
    sys.stderr.write("\\n")
    print("partial stdout ", end="")
    print("then stderr", file=sys.stderr)
    log.warning("from logging")
    print("from print")
    warnings.warn("from warnings")
    subprocess.run([sys.executable, "-c", "print('from a subprocess')"], check=True)
    print("done")
    return "ok"

pivot.Pipeline("p").register(noisy)
"""


def test_progress_stderr_and_order_in_the_json_stream(project: TempProject) -> None:
    project.write("pipeline.py", NOISY)
    events = project.run_events()
    logs = [(e["line"], e["stderr"]) for e in events if e["event"] == "stage_log"]
    assert logs[0] == ("starting", False)  # colour codes stripped for JSON
    assert logs[1] == ("training 100%|##########| 300/300", True)  # one line, the final frame
    assert logs[2] == ("partial stdout then stderr", True)
    assert logs[3] == ("WARNING from logging", True)
    assert logs[4] == ("from print", False)
    assert logs[5][1] and logs[5][0].endswith("UserWarning: from warnings")
    assert logs[-2:] == [("from a subprocess", False), ("done", False)]
    assert not any("\r" in line or "\x1b" in line for line, _ in logs)
    assert not [e for e in events if e["event"] == "stage_log_pending"]


def test_show_output_marks_stderr_lines(project: TempProject) -> None:
    project.write("pipeline.py", NOISY)
    shown = project.pivot("--no-tui", "run", "--show-output").stdout.splitlines()
    assert "noisy| starting" in shown
    assert "noisy! training 100%|##########| 300/300" in shown
    assert "noisy| from print" in shown
    assert not [line for line in shown if "training  " in line or "\x1b" in line]
