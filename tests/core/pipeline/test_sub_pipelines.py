"""Discovery of sub-folders' pipeline.py files, in-process."""

from __future__ import annotations

import textwrap
from pathlib import Path

from pivot.core.pipeline.discovery import load_pipeline, sub_pipeline_files, unload_project

PREP = """
from pivot import Pipeline, stage


@stage
def clean(text: str) -> str:
    return text.strip()


with Pipeline("prep") as pipeline:
    cleaned = clean(pipeline.input("raw.txt"))
"""


def test_every_load_sees_the_sub_folders_pipelines(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    (root / ".pivot").mkdir(parents=True)
    (root / "prep").mkdir()
    (root / "prep" / "pipeline.py").write_text(textwrap.dedent(PREP))
    (root / "pipeline.py").write_text("from prep.pipeline import cleaned\n")
    (root / "nested" / ".pivot").mkdir(parents=True)
    (root / "nested" / "pipeline.py").write_text("raise SystemExit('a project of its own')\n")
    (root / ".hidden").mkdir()
    (root / ".hidden" / "pipeline.py").write_text("raise SystemExit('hidden')\n")
    try:
        assert sub_pipeline_files(root) == [root / "prep" / "pipeline.py"]
        first = load_pipeline(root)
        second = load_pipeline(root)  # same process, modules cached: still all stages
        assert list(first.stages) == list(second.stages) == ["prep/clean"]
        assert second["prep/clean"].out_paths == ("data/prep/clean.txt",)
    finally:
        unload_project(root)
