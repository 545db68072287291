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
