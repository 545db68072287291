"""Resource admission (run.resources): who starts, who waits and why, in queue order."""

from __future__ import annotations

import pytest

from pivot.core.run.resources import (
    Capacities,
    Shortage,
    format_amounts,
    parse_overrides,
    resolve_capacities,
    waiting_reason,
)
from pivot.exceptions import ResourceError, UsageError


def _caps(**amounts: float) -> Capacities:
    return resolve_capacities(amounts, {}, {})


def test_stages_start_in_order_while_they_fit() -> None:
    admission = _caps(gpu=2).admit([("a", {"gpu": 1}), ("b", {"gpu": 1}), ("c", {"gpu": 1})], [], 3)
    assert admission.start == ["a", "b"]
    assert admission.waiting == {"c": (Shortage("gpu", 1, 0, 2),)}
    assert waiting_reason(admission.waiting["c"]) == "waiting for gpu (needs 1, 0 of 2 free)"


def test_running_stages_hold_their_amounts() -> None:
    admission = _caps(gpu=1).admit([("b", {"gpu": 1})], [{"gpu": 1}], 2)
    assert admission.start == []
    assert set(admission.waiting) == {"b"}


def test_a_waiting_big_stage_is_not_overtaken_by_small_ones_on_its_resource() -> None:
    """big needs both gpus; one is busy. small would fit in the free one, but that gpu is
    kept for big, which came first; a stage needing no gpu is not held up."""
    queue = [("big", {"gpu": 2}), ("small", {"gpu": 1}), ("cpu", {})]
    admission = _caps(gpu=2).admit(queue, [{"gpu": 1}], 4)
    assert admission.start == ["cpu"]
    assert admission.waiting["big"] == (Shortage("gpu", 2, 1, 2),)
    assert admission.waiting["small"] == (Shortage("gpu", 1, 1, 2, held_for="big"),)
    assert (
        waiting_reason(admission.waiting["small"])
        == "waiting for gpu (needs 1, 1 of 2 free, held for big)"
    )


def test_only_what_the_waiting_stage_asks_for_is_kept() -> None:
    queue = [("big", {"gpu": 2, "mem_gb": 4}), ("light", {"mem_gb": 4})]
    admission = _caps(gpu=2, mem_gb=8).admit(queue, [{"gpu": 1}], 4)
    assert admission.start == ["light"]  # 8 - 4 kept for big leaves 4
    assert list(admission.waiting) == ["big"]


def test_free_slots_limit_the_scan() -> None:
    queue = [("a", {}), ("b", {}), ("c", {"gpu": 1})]
    admission = _caps(gpu=0).admit(queue, [], 2)
    assert admission.start == ["a", "b"]
    assert admission.waiting == {}  # c waits for a worker, not (yet) for a gpu


def test_fractions_add_up() -> None:
    queue = [("a", {"gpu": 0.1}), ("b", {"gpu": 0.2}), ("c", {"gpu": 0.7})]
    assert _caps(gpu=1).admit(queue, [], 3).start == ["a", "b", "c"]


def test_a_resource_without_capacity_gets_the_largest_request() -> None:
    caps = resolve_capacities({"mem_gb": 16}, {"gpu": 2}, {"a": {"tpu": 1}, "b": {"tpu": 4}})
    assert caps.amounts == {"mem_gb": 16, "gpu": 2, "tpu": 4}
    assert caps.sources == {"mem_gb": "config", "gpu": "--resources", "tpu": "assumed"}
    assert caps.assumed == ["tpu"]


def test_the_flag_wins_over_config() -> None:
    caps = resolve_capacities({"gpu": 4}, {"gpu": 1}, {"a": {"gpu": 1}})
    assert caps.amounts == {"gpu": 1} and caps.sources == {"gpu": "--resources"}


def test_check_names_the_stage_resource_amount_and_capacity() -> None:
    caps = resolve_capacities({"gpu": 1}, {}, {})
    caps.check({"a": {"gpu": 1}})
    with pytest.raises(ResourceError, match=r"stage 'b' needs gpu=2 but the capacity is 1"):
        caps.check({"a": {"gpu": 1}, "b": {"gpu": 2}})


def test_parse_overrides() -> None:
    assert parse_overrides(["gpu=1,mem_gb=16", "gpu=2", " tpu = 0.5 "]) == {
        "gpu": 2,
        "mem_gb": 16,
        "tpu": 0.5,
    }
    for bad in ["gpu", "gpu=x", "gpu=inf", "gpu=nan", "=1", "g-pu=1"]:
        with pytest.raises(UsageError):
            parse_overrides([bad])


def test_format_amounts() -> None:
    assert format_amounts({"gpu": 1.0, "mem_gb": 7.5}) == "gpu=1, mem_gb=7.5"
