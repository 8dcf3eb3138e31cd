"""The events wrk sends: whole lifecycles (tests/lifecycles.py), as Stripe delivers them.

Each record of the events file is "<Stripe-Signature> <body length>\\n<body>\\n"; the body is
pretty-printed like Stripe's (about 5 KB). The file is split into disjoint ranges, one per
measurement, and each range into one contiguous slice per wrk thread (lua/webhooks.lua), so
no event id is sent twice to one database unless a run asks for duplicates.
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from subsvc import simulate as sim
from tests import lifecycles

# Lifecycles in turn, each on both API versions: checkout, subscription created / updated /
# deleted, paid and failed invoices, trials and a resubscription.
MIX = ("full", "past_due", "full", "trial", "resubscribe")
HISTORY_DAYS = 120


@dataclass(frozen=True)
class Prices:
    """Stripe-shaped price ids whose lookup keys (pro_monthly, business_monthly) the default
    tiers (subsvc/tiers.default.json) map, as an operator's tier file would."""

    pro: str = field(default_factory=lambda: sim.new_id("price"))
    business: str = field(default_factory=lambda: sim.new_id("price"))


def lifecycle(n: int, prices: Prices, start: int) -> list[sim.Json]:
    name = MIX[n % len(MIX)]
    api = sim.API_NEW if (n // len(MIX)) % 2 else sim.API_OLD
    events, _ = lifecycles.lifecycle(name, sim.Customer.make(f"bench{n}"), pro_price=prices.pro,
                                     business_price=prices.business, start=start,
                                     api_version=api)
    return events


def stream(prices: Prices, first_customer: int = 0) -> Iterator[sim.Json]:
    start = int(time.time()) - HISTORY_DAYS * sim.DAY
    n = first_customer
    while True:
        yield from lifecycle(n, prices, start)
        n += 1


@dataclass
class EventFile:
    """The events file and the byte offset of every record (plus the end)."""

    path: Path
    offsets: list[int]

    @property
    def count(self) -> int:
        return len(self.offsets) - 1

    def slices(self, first: int, count: int, threads: int) -> list[str]:
        """wrk script arguments: one contiguous "<offset>:<count>" of [first, first+count) per
        thread."""
        if first + count > self.count:
            raise ValueError(f"events {first}..{first + count} asked, the file has {self.count}")
        bounds = [first + count * i // threads for i in range(threads + 1)]
        return [f"{self.offsets[a]}:{b - a}" for a, b in zip(bounds, bounds[1:], strict=False)]


def write_events(path: Path, count: int, secret: str, prices: Prices) -> EventFile:
    """`count` signed events; signed now, so the servers' tolerance must cover the whole run."""
    offsets = [0]
    timestamp = int(time.time())
    events = stream(prices)
    with path.open("wb") as out:
        for _ in range(count):
            body = sim.dumps(next(events), pretty=True)
            out.write(f"{sim.sign(body, secret, timestamp)} {len(body)}\n".encode())
            out.write(body + b"\n")
            offsets.append(out.tell())
    return EventFile(path, offsets)


def sample_payloads(prices: Prices, count: int) -> list[sim.Json]:
    """A few lifecycles' events, for the shape of seeded history rows."""
    events = stream(prices, first_customer=10**9)
    return [next(events) for _ in range(count)]
