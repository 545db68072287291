"""Resources: named amounts a stage holds while it runs (``gpu``, ``mem_gb``), and the
scheduler's accounting of them (docs/resources.md).

Capacities come from the config (``resources.<name>``), overridden per name by
``pivot run --resources``. A resource no capacity is set for gets the largest amount one
stage of the pipeline asks for, and the run says so: a stage that declares a resource is
saying it uses something scarce, and running too few such stages at once is cheap (slower,
and the warning says how to allow more) where running too many is not (a GPU or the machine
out of memory, hours into a run). A stage that asks for more than a capacity could never
start, so the run refuses to begin (:class:`~pivot.exceptions.ResourceError`, exit 2).

Admission keeps the order stages became ready in. A stage that does not fit keeps what it
asks for reserved: later stages may start ahead of it only with what is left over, so a big
stage is never starved by a stream of small ones, and stages that need none of its resources
are not held up by it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from pivot.exceptions import ResourceError, UsageError

#: ``{resource: amount}``, as a stage declares it or a capacity is set.
Amounts = Mapping[str, float]

#: Rounding slack when amounts are fractions (0.1 + 0.2 fits in 0.3).
_EPSILON = 1e-9


def format_amount(value: float) -> str:
    """``1`` for 1 and 1.0, ``0.5`` for 0.5."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def format_amounts(amounts: Amounts) -> str:
    """``gpu=1, mem_gb=8`` (in the order declared)."""
    return ", ".join(f"{name}={format_amount(value)}" for name, value in amounts.items())


def parse_overrides(values: Iterable[str]) -> dict[str, float]:
    """``--resources gpu=1,mem_gb=16`` (the option may be repeated; a later value wins)."""
    from pivot.registry import RESOURCE_NAME

    parsed: dict[str, float] = {}
    for value in values:
        for item in value.split(","):
            name, equals, text = (part.strip() for part in item.partition("="))
            if not equals or not RESOURCE_NAME.match(name):
                raise UsageError(
                    f"bad --resources item {item.strip()!r}; write NAME=AMOUNT, such as gpu=1"
                )
            parsed[name] = _parse_amount(name, text)
    return parsed


def _parse_amount(name: str, text: str) -> float:
    try:
        amount: float = int(text)
    except ValueError:
        try:
            amount = float(text)
        except ValueError:
            amount = -1.0
    if not (0 <= amount < float("inf")):
        raise UsageError(
            f"bad --resources amount for {name}: {text!r}; use a number 0 or more, such as {name}=1"
        )
    return amount


@dataclasses.dataclass(frozen=True)
class Shortage:
    """Why a stage cannot start yet: one resource it needs more of than is free for it."""

    resource: str
    needs: float
    #: What running stages leave free (reservations not counted).
    free: float
    capacity: float
    #: The earlier stage this much is reserved for, when the stage would fit but for it.
    held_for: str | None = None

    def describe(self) -> str:
        text = (
            f"needs {format_amount(self.needs)}, {format_amount(max(self.free, 0))} of "
            f"{format_amount(self.capacity)} free"
        )
        if self.held_for is not None:
            text += f", held for {self.held_for}"
        return f"{self.resource} ({text})"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def waiting_reason(shortages: Iterable[Shortage]) -> str:
    """``waiting for gpu (needs 1, 0 of 1 free)``; several resources joined with ``and``."""
    return "waiting for " + " and ".join(s.describe() for s in shortages)


@dataclasses.dataclass(frozen=True)
class Admission:
    """What to do with the queue now: the stages to start (in order), and why others wait."""

    start: list[str]
    waiting: dict[str, tuple[Shortage, ...]]


@dataclasses.dataclass(frozen=True)
class Capacities:
    """How much of each resource the stages running at once may hold together."""

    amounts: dict[str, float]
    #: Where each capacity came from: ``--resources``, ``config``, or ``assumed`` (no
    #: capacity set: the largest amount one stage asks for).
    sources: dict[str, str]

    @property
    def assumed(self) -> list[str]:
        return [name for name, source in self.sources.items() if source == "assumed"]

    def assumed_note(self, resource: str) -> str:
        """The warning a run gives when a stage needing an assumed capacity is queued."""
        amount = format_amount(self.amounts[resource])
        return (
            f"no capacity is set for resource '{resource}': stages needing it share "
            f"{amount} (the most one stage asks for); set it with "
            f"`pivot config set resources.{resource} N` or `pivot run --resources {resource}=N`"
        )

    def check(self, requests: Mapping[str, Amounts]) -> None:
        """Refuse a stage that asks for more than a capacity (it could never start)."""
        for stage, needs in requests.items():
            for resource, amount in needs.items():
                capacity = self.amounts.get(resource, 0.0)
                if amount > capacity + _EPSILON:
                    where = {"--resources": "from --resources", "config": "from config"}.get(
                        self.sources.get(resource, ""), "none set"
                    )
                    raise ResourceError(
                        f"stage '{stage}' needs {resource}={format_amount(amount)} but the "
                        f"capacity is {format_amount(capacity)} ({where}), so it could never "
                        f"start; ask for less, or raise it with `pivot run --resources "
                        f"{resource}={format_amount(amount)}` or `pivot config set "
                        f"resources.{resource} {format_amount(amount)}`"
                    )

    def admit(
        self, queue: Iterable[tuple[str, Amounts]], held: Iterable[Amounts], slots: int
    ) -> Admission:
        """Which queued stages start now, given what the running stages ``held`` and the free
        worker ``slots``. The queue is scanned in order until the slots are used up."""
        free = dict(self.amounts)
        for needs in held:
            for resource, amount in needs.items():
                free[resource] = free.get(resource, 0.0) - amount
        unreserved = dict(free)
        reserved_for: dict[str, str] = {}
        start: list[str] = []
        waiting: dict[str, tuple[Shortage, ...]] = {}
        for name, needs in queue:
            if len(start) >= slots:
                break
            short = tuple(
                Shortage(
                    resource,
                    amount,
                    free.get(resource, 0.0),
                    self.amounts.get(resource, 0.0),
                    reserved_for.get(resource)
                    if amount <= free.get(resource, 0.0) + _EPSILON
                    else None,
                )
                for resource, amount in needs.items()
                if amount > unreserved.get(resource, 0.0) + _EPSILON
            )
            for resource, amount in needs.items():
                unreserved[resource] = unreserved.get(resource, 0.0) - amount
                if short:
                    reserved_for.setdefault(resource, name)
                else:
                    free[resource] = free.get(resource, 0.0) - amount
            if short:
                waiting[name] = short
            else:
                start.append(name)
        return Admission(start, waiting)


def resolve_capacities(
    configured: Amounts, overrides: Amounts, requests: Mapping[str, Amounts]
) -> Capacities:
    """Capacities for a run: ``overrides`` (``--resources``) over ``configured``, and for
    any other resource a stage in ``requests`` names, the largest amount one stage asks."""
    amounts: dict[str, float] = {}
    sources: dict[str, str] = {}
    for name, amount in configured.items():
        amounts[name], sources[name] = amount, "config"
    for name, amount in overrides.items():
        amounts[name], sources[name] = amount, "--resources"
    for needs in requests.values():
        for name, amount in needs.items():
            if sources.get(name, "assumed") == "assumed":
                amounts[name] = max(amounts.get(name, 0.0), amount)
                sources[name] = "assumed"
    return Capacities(amounts, sources)
