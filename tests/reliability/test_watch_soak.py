"""Watch mode over many cycles: the soak in ``watch_soak.py`` (1,000 cycles on demand), a
short version here. ``PIVOT_SOAK_CYCLES`` raises the count, ``PIVOT_SOAK_SEED`` changes the
edits."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.reliability import watch_soak

pytestmark = pytest.mark.slow


def test_watch_cycles_end_like_a_clean_run_without_leaking(tmp_path: Path) -> None:
    cycles = int(os.environ.get("PIVOT_SOAK_CYCLES", "20"))
    result = watch_soak.soak(
        tmp_path / "soak",
        cycles=cycles,
        seed=int(os.environ.get("PIVOT_SOAK_SEED", "7")),
        sample_every=5,
        warmup=5,
    )

    assert result.problems == []
    assert sum(result.edits.values()) == cycles
    assert result.extra_cycles == 0  # every cycle came from an edit: no self-triggering
    assert [s.cycle for s in result.samples] == list(range(0, cycles + 1, 5))


def test_the_bounds_catch_growth() -> None:
    """The checker itself: a descriptor leak and memory growth are reported."""
    steady = [watch_soak.Sample(c, 20, 50.0, 2, 30, 100.0) for c in range(0, 60, 10)]
    assert watch_soak.check_bounds(steady, warmup=10, rss_growth_mib=8) == []
    leaking = [watch_soak.Sample(c, 20 + c // 10 * 3, 50.0 + c, 2, 30, 100.0) for c in range(60)]
    problems = watch_soak.check_bounds(leaking, warmup=10, rss_growth_mib=8)
    assert len(problems) == 2
    assert "descriptors" in problems[0] and "RSS" in problems[1]
