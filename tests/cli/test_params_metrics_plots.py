"""`pivot params`, `pivot metrics` and `pivot plots` on real pipelines in temp git projects
(issue 5).

One project is run and committed once per module; each test works on its own copy.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
from pathlib import Path

import pytest
import yaml

from tests.helpers import TempProject, make_project

PIPELINE = """
from pathlib import Path
from typing import Annotated, TypedDict

import pivot
from pivot import loaders
from pivot.stage_def import StageParams

pipeline = pivot.Pipeline("pmp")


class PrepParams(StageParams):
    scale: int = 2


def prep(
    raw: Annotated[str, pivot.Dep("raw.txt", loaders.Text())], params: PrepParams
) -> Annotated[dict, pivot.Out("data/prep.json", loaders.JSON())]:
    return {"values": [int(v) * params.scale for v in raw.split()]}


def report(
    prep: Annotated[dict, pivot.Dep("data/prep.json", loaders.JSON())],
) -> Annotated[str, pivot.Out("report.txt", loaders.Text())]:
    return f"{sum(prep['values'])}\\n"


class TrainParams(StageParams):
    epochs: int = 5
    learning_rate: float = 0.5


class TrainOut(TypedDict):
    metrics: Annotated[dict, pivot.Metric("metrics.json")]
    history: Annotated[
        list,
        pivot.Plot("history.json", loaders.JSON(), x="epoch", y="loss", title="Training loss"),
    ]
    curve: Annotated[str, pivot.Plot("curve.csv", loaders.Text())]
    chart: Annotated[Path, pivot.Plot("chart.png", loaders.PathOnly())]


PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c63f8cfc0f01f0005000201e2212bd60000000049454e44ae426082"
)


def train(
    prep: Annotated[dict, pivot.Dep("data/prep.json", loaders.JSON())], params: TrainParams
) -> TrainOut:
    losses = [round(1.0 / (1.0 + e * params.learning_rate), 6) for e in range(params.epochs)]
    Path("chart.png").write_bytes(PNG)
    curve = "step,a,b\\n" + "".join(f"{i},{i * params.learning_rate},{10 - i}\\n" for i in range(6))
    return TrainOut(
        metrics={"train": {"loss": losses[-1], "epochs": params.epochs}, "lr": params.learning_rate},
        history=[{"epoch": e, "loss": loss} for e, loss in enumerate(losses)],
        curve=curve,
        chart=Path("chart.png"),
    )


pipeline.register(prep)
pipeline.register(report)
pipeline.register(train)
"""

BRAILLE = re.compile("[\u2801-\u28ff]")


@pytest.fixture(scope="module")
def committed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project whose pipeline ran once, committed with its locks (history.json and
    chart.png are left out of git, so their old versions come from the cache)."""
    project = make_project(tmp_path_factory.mktemp("pmp") / "proj")
    project.write("pipeline.py", PIPELINE)
    project.write("raw.txt", "1 2 3\n")
    project.write(".gitignore", "history.json\nchart.png\nplots.html\n")
    assert project.statuses() == {"prep": "ran", "report": "ran", "train": "ran"}
    project.commit_all("first run")
    return project.root


@pytest.fixture
def proj(committed: Path, tmp_path: Path) -> TempProject:
    root = tmp_path / "proj"
    shutil.copytree(committed, root, symlinks=True)
    return TempProject(root)


def _json(project: TempProject, *args: str, check: int = 0) -> dict:
    return json.loads(project.pivot(*args, check=check).stdout)


# -- params --------------------------------------------------------------------------------


def test_params_show_marks_values_from_params_yaml(proj: TempProject) -> None:
    proj.write("params.yaml", "train:\n  learning_rate: 0.1\n")
    shown = _json(proj, "params", "show", "--json")["stages"]
    assert shown["train"] == {
        "epochs": {"value": 5, "source": "default"},
        "learning_rate": {"value": 0.1, "source": "params.yaml"},
    }
    assert shown["prep"] == {"scale": {"value": 2, "source": "default"}}
    assert "report" not in shown  # takes no params

    text = proj.pivot("--no-tui", "params", "show", "train").stdout
    assert re.search(r"learning_rate\s+0\.1\s+params\.yaml", text)
    assert re.search(r"epochs\s+5\s+default", text)
    assert "prep" not in text

    md = proj.pivot("params", "show", "--md").stdout
    assert "| Stage | Param | Value | Source |" in md
    assert "| train | learning_rate | 0.1 | params.yaml |" in md


def test_params_show_formats(proj: TempProject) -> None:
    proj.write("params.yaml", "train:\n  learning_rate: 0.1\n")
    as_json = _json(proj, "params", "show", "--json")
    assert _json(proj, "params", "show", "--format", "json") == as_json
    as_yaml = proj.pivot("params", "show", "--format", "yaml").stdout
    assert yaml.safe_load(as_yaml) == as_json
    assert "    learning_rate:\n      value: 0.1\n      source: params.yaml\n" in as_yaml
    md = proj.pivot("params", "show", "--format", "md").stdout
    assert md == proj.pivot("params", "show", "--md").stdout
    assert "| train | learning_rate | 0.1 | params.yaml |" in md
    table = proj.pivot("--no-tui", "params", "show", "--format", "table").stdout
    assert table == proj.pivot("--no-tui", "params", "show").stdout
    assert re.search(r"learning_rate\s+0\.1\s+params\.yaml", table)

    proc = proj.pivot("params", "show", "--json", "--format", "md", check=2)
    assert proc.stderr == "error: output formats json and md cannot be used together; pick one\n"
    proc = proj.pivot("params", "show", "--format", "xml", check=2)
    assert "'xml' is not one of 'table', 'json', 'yaml', 'md'" in proc.stderr


def test_params_diff_precision_rounds_shown_values(proj: TempProject) -> None:
    proj.write("params.yaml", "train:\n  learning_rate: 0.123456789\n")
    exact = proj.pivot("--no-tui", "params", "diff").stdout
    assert re.search(r"learning_rate\s+0\.5\s+0\.123456789\b", exact)
    rounded = proj.pivot("--no-tui", "params", "diff", "--precision", "3").stdout
    assert re.search(r"learning_rate\s+0\.5\s+0\.123\s", rounded)
    md = proj.pivot("params", "diff", "--md", "--precision", "2").stdout
    assert "| train | learning_rate | 0.5 | 0.12 | modified |" in md
    full = _json(proj, "params", "diff", "--json", "--precision", "2")
    assert full["stages"]["train"]["params"]["learning_rate"]["new"] == 0.123456789
    assert "--precision" in proj.pivot("params", "diff", "--help").stdout


def test_params_edit_reruns_exactly_that_stage_and_diff_shows_old_new(proj: TempProject) -> None:
    assert _json(proj, "params", "diff", "--json")["stages"] == {}
    assert "no params changed since HEAD" in proj.pivot("params", "diff").stdout

    proj.write("params.yaml", "train:\n  learning_rate: 0.25\n")
    assert proj.statuses() == {"prep": "skipped", "report": "skipped", "train": "ran"}

    diff = _json(proj, "params", "diff", "--json")
    assert diff["rev"] == "HEAD"
    assert diff["stages"] == {
        "train": {
            "old_from": "lock",
            "params": {"learning_rate": {"old": 0.5, "new": 0.25, "status": "modified"}},
        }
    }
    text = proj.pivot("--no-tui", "params", "diff").stdout
    assert re.search(r"train\s+learning_rate\s+0\.5\s+0\.25", text)
    assert "epochs" not in text

    everything = _json(proj, "params", "diff", "--all", "--json")["stages"]
    assert everything["train"]["params"]["epochs"] == {"old": 5, "new": 5, "status": "unchanged"}
    assert everything["prep"]["params"]["scale"]["status"] == "unchanged"

    md = proj.pivot("params", "diff", "--md").stdout
    assert "| train | learning_rate | 0.5 | 0.25 | modified |" in md

    # After committing, HEAD holds the new lock: nothing differs; HEAD~1 still shows it.
    proj.commit_all("lr 0.25")
    assert _json(proj, "params", "diff", "--json")["stages"] == {}
    older = _json(proj, "params", "diff", "--rev", "HEAD~1", "--json")["stages"]
    assert older["train"]["params"]["learning_rate"]["old"] == 0.5


def test_params_diff_without_a_lock_uses_params_yaml_at_rev(project: TempProject) -> None:
    project.write("pipeline.py", PIPELINE)
    project.write("raw.txt", "1 2 3\n")
    project.write("params.yaml", "train:\n  epochs: 7\n")
    project.commit_all("never run")
    project.write("params.yaml", "train:\n  epochs: 9\n")
    diff = _json(project, "params", "diff", "--json")["stages"]
    assert diff == {
        "train": {
            "old_from": "params.yaml",
            "params": {"epochs": {"old": 7, "new": 9, "status": "modified"}},
        }
    }
    assert "old values from params.yaml at HEAD" in project.pivot("params", "diff").stdout


def test_invalid_override_is_one_line_naming_stage_and_field(proj: TempProject) -> None:
    proj.write("params.yaml", "train:\n  learning_rat: 0.3\n")
    proc = proj.pivot("params", "show", check=2)
    assert proc.stderr.count("\n") == 1
    assert "train" in proc.stderr and "learning_rat" in proc.stderr
    assert "Traceback" not in proc.stderr

    proj.write("params.yaml", "train:\n  epochs: many\n")
    proc = proj.pivot("params", "diff", check=2)
    assert "train" in proc.stderr and "epochs" in proc.stderr

    statuses = proj.statuses(check=1)
    assert statuses["train"] == "failed"


def test_params_show_warns_about_unknown_stage_and_rejects_unknown_target(
    proj: TempProject,
) -> None:
    proj.write("params.yaml", "trian:\n  epochs: 3\n")
    proc = proj.pivot("params", "show")
    assert "'trian'" in proc.stderr and "not a stage" in proc.stderr
    proc = proj.pivot("params", "show", "nope", check=2)
    assert "unknown stage 'nope'" in proc.stderr


# -- metrics -------------------------------------------------------------------------------


def test_metrics_show_flattens_keys_in_every_format(proj: TempProject) -> None:
    shown = _json(proj, "metrics", "show", "--json")
    assert shown == {
        "metrics": {"metrics.json": {"train.loss": 0.333333, "train.epochs": 5, "lr": 0.5}},
        "errors": {},
    }
    text = proj.pivot("--no-tui", "metrics", "show").stdout
    assert re.search(r"metrics\.json\s+train\.loss\s+0\.33333\b", text)
    assert re.search(r"train\.epochs\s+5\b", text)

    short = proj.pivot("--no-tui", "metrics", "show", "--precision", "2").stdout
    assert re.search(r"train\.loss\s+0\.33\b", short)

    md = proj.pivot("metrics", "show", "--md", "--precision", "3").stdout
    assert "| Path | Metric | Value |" in md
    assert "| metrics.json | train.loss | 0.333 |" in md

    # by stage name, and by path (also a file that no stage declares)
    assert _json(proj, "metrics", "show", "train", "--json")["metrics"].keys() == {"metrics.json"}
    proj.write("extra/scores.yaml", "f1: 0.75\nclasses: {cat: 0.5}\n")
    extra = _json(proj, "metrics", "show", "extra/scores.yaml", "--json")["metrics"]
    assert extra == {"extra/scores.yaml": {"f1": 0.75, "classes.cat": 0.5}}
    sub = proj.pivot("-C", "extra", "metrics", "show", "scores.yaml", "--json")
    assert json.loads(sub.stdout)["metrics"] == extra


def test_metrics_show_format_yaml_and_json(proj: TempProject) -> None:
    as_json = _json(proj, "metrics", "show", "--format", "json")
    assert as_json == _json(proj, "metrics", "show", "--json")
    as_yaml = proj.pivot("metrics", "show", "--format", "yaml").stdout
    assert yaml.safe_load(as_yaml) == as_json
    assert as_yaml.startswith("metrics:\n  metrics.json:\n    train.loss: 0.333333\n")
    md = proj.pivot("metrics", "show", "--format", "md", "--precision", "3").stdout
    assert "| metrics.json | train.loss | 0.333 |" in md


def test_metrics_show_missing_file_exits_1(proj: TempProject) -> None:
    (proj.root / "metrics.json").unlink()
    proc = proj.pivot("--no-tui", "metrics", "show", check=1)
    assert "metrics.json" in proc.stdout and "missing" in proc.stdout
    assert _json(proj, "metrics", "show", "--json", check=1)["errors"].keys() == {"metrics.json"}


def test_metrics_diff_after_a_params_change(proj: TempProject) -> None:
    assert _json(proj, "metrics", "diff", "--json")["metrics"] == {}
    assert "no metrics changed since HEAD" in proj.pivot("metrics", "diff").stdout

    proj.write("params.yaml", "train:\n  learning_rate: 1.0\n")
    assert proj.statuses()["train"] == "ran"
    diff = _json(proj, "metrics", "diff", "--json")["metrics"]["metrics.json"]
    assert diff["lr"] == {"old": 0.5, "new": 1.0, "status": "modified", "change": 0.5}
    assert diff["train.loss"]["status"] == "modified"
    assert diff["train.loss"]["change"] == pytest.approx(0.2 - 0.333333)
    assert "train.epochs" not in diff

    text = proj.pivot("--no-tui", "metrics", "diff", "--precision", "3").stdout
    assert re.search(r"metrics\.json\s+train\.loss\s+0\.333\s+0\.2\s+-0\.133", text)
    assert re.search(r"lr\s+0\.5\s+1\s+\+0\.5", text)

    md = proj.pivot("metrics", "diff", "--md").stdout
    assert "| Path | Metric | HEAD | workspace | Change |" in md
    assert "| metrics.json | lr | 0.5 | 1 | +0.5 |" in md

    everything = _json(proj, "metrics", "diff", "--all", "--json")["metrics"]["metrics.json"]
    assert everything["train.epochs"]["status"] == "unchanged"


def test_metrics_diff_shows_added_and_removed(proj: TempProject) -> None:
    data = json.loads(proj.read("metrics.json"))
    del data["lr"]
    data["train"]["acc"] = 0.9
    proj.write("metrics.json", json.dumps(data))
    diff = _json(proj, "metrics", "diff", "--json")["metrics"]["metrics.json"]
    assert diff == {
        "train.acc": {"old": None, "new": 0.9, "status": "added"},
        "lr": {"old": 0.5, "new": None, "status": "removed"},
    }
    text = proj.pivot("--no-tui", "metrics", "diff").stdout
    assert re.search(r"train\.acc\s+—\s+0\.9\s+added", text)
    assert re.search(r"lr\s+0\.5\s+—\s+removed", text)

    older = _json(proj, "metrics", "diff", "--rev", "HEAD", "metrics.json", "--json")
    assert older["metrics"]["metrics.json"].keys() == {"train.acc", "lr"}


def test_metrics_bad_options_and_revisions(proj: TempProject) -> None:
    assert (
        "cannot be used together" in proj.pivot("metrics", "show", "--json", "--md", check=2).stderr
    )
    proc = proj.pivot("metrics", "diff", "--rev", "no-such-rev", check=2)
    assert "unknown git revision 'no-such-rev'" in proc.stderr
    proc = proj.pivot("metrics", "show", "report", check=2)
    assert "stage 'report' has no Metric outputs" in proc.stderr


# -- plots ---------------------------------------------------------------------------------


def _polylines(page: str) -> list[str]:
    return re.findall(r'<polyline data-series="([^"]*)"', page)


def test_plots_show_writes_one_html_page_and_draws_in_the_terminal(proj: TempProject) -> None:
    proc = proj.pivot("--no-tui", "plots", "show", "-o", "out/plots.html")
    page = proj.read("out/plots.html")
    assert page.startswith("<!DOCTYPE html>")
    assert page.count("<svg") == 2  # history.json and curve.csv; chart.png is an image
    # history.json: the marker's y; curve.csv (no x/y): every numeric column against the row
    assert sorted(_polylines(page)) == ["a", "b", "loss", "step"]
    assert "Training loss" in page and "epoch" in page
    assert (
        "data:image/png;base64," + base64.b64encode((proj.root / "chart.png").read_bytes()).decode()
        in page
    )
    assert "<script" not in page and "http://" not in page.replace(
        'xmlns="http://www.w3.org/2000/svg"', ""
    )
    assert "https://" not in page

    assert "Training loss" in proc.stdout and "curve.csv" in proc.stdout
    assert len(BRAILLE.findall(proc.stdout)) > 20
    assert "━━ a" in proc.stdout and "━━ b" in proc.stdout
    assert "wrote out/plots.html (3 plots)" in proc.stdout


def test_plots_show_one_target_and_default_output(proj: TempProject) -> None:
    proc = proj.pivot("--no-tui", "plots", "show", "history.json")
    page = proj.read("plots.html")
    assert _polylines(page) == ["loss"]
    assert "curve.csv" not in proc.stdout
    quiet = proj.pivot("-q", "plots", "show", "curve.csv")
    assert not BRAILLE.search(quiet.stdout) and "wrote plots.html (1 plot)" in quiet.stdout


def test_plots_show_reports_unreadable_plots_and_exits_1(proj: TempProject) -> None:
    proj.write("curve.csv", "name,label\nx,y\n")
    proc = proj.pivot("--no-tui", "plots", "show", check=1)
    assert "no numeric column" in proc.stdout
    assert "no numeric column" in proj.read("plots.html")


def test_plots_diff_overlays_head_and_workspace(proj: TempProject) -> None:
    proj.write("params.yaml", "train:\n  learning_rate: 2.0\n  epochs: 8\n")
    assert proj.statuses()["train"] == "ran"
    proc = proj.pivot("--no-tui", "plots", "diff", "-o", "diff.html")
    page = proj.read("diff.html")
    series = _polylines(page)
    assert {"loss (HEAD)", "loss (workspace)", "a (HEAD)", "a (workspace)"} <= set(series)
    assert 'stroke-dasharray="6 4"' in page  # the old version is dashed
    assert "Pivot plots: HEAD vs workspace" in page
    assert "loss (HEAD)" in proc.stdout and "loss (workspace)" in proc.stdout
    assert len(BRAILLE.findall(proc.stdout)) > 20

    # history.json is not in git: its HEAD version came from the cache via the HEAD lock.
    assert "history.json" not in proj.git("ls-files")
    shutil.rmtree(proj.root / ".pivot" / "cache" / "files")
    proc = proj.pivot("--no-tui", "plots", "diff", "history.json", "-o", "diff.html")
    assert "not in the local cache" in proc.stdout
    assert _polylines(proj.read("diff.html")) == ["loss (workspace)"]


def test_plots_diff_new_plot_file_shows_workspace_only(proj: TempProject) -> None:
    proj.write("extra.json", json.dumps({"loss": [3, 2, 1]}))
    proc = proj.pivot("--no-tui", "plots", "diff", "extra.json")
    assert "not present at HEAD" in proc.stdout
    assert _polylines(proj.read("plots.html")) == ["loss (workspace)"]


def test_help_texts_have_examples() -> None:
    from click.testing import CliRunner

    from pivot.cli import cli

    runner = CliRunner()
    for group in ("params", "metrics", "plots"):
        for command in ("show", "diff"):
            result = runner.invoke(cli, [group, command, "--help"])
            assert result.exit_code == 0
            assert "Example" in result.output
