"""The ordering rule: which event's word wins for each field of a subscription.

Stripe delivers out of order, so state must be a function of the *set* of
events seen, never of their arrival order. Each field group keeps the version
of the event that set it, and an event only writes a group when its version is
greater. A version is a string whose lexicographic order is a strict total
order over events (the event id breaks every remaining tie), so the value left
standing is that of the maximum event, whatever order they came in: that is
why any permutation, with any duplicates, converges.

status version  = terminal, authoritative, created, source, progress, event id
details version = authoritative, created, terminal, progress, event id

- terminal: `canceled`/`incomplete_expired` outrank everything, so once seen
  they stay.
- authoritative: a checkout's status and tier are provisional; any
  subscription or invoice event outranks them whatever its `created`.
- created: Stripe's one-second timestamp; newest wins.
- source, within one second: subscription events > invoices > checkouts.
- progress, within one second: incomplete < trialing < active < past_due <
  unpaid < paused, the order a subscription moves through.
"""
from __future__ import annotations

from enum import IntEnum

from subsvc.models import SubscriptionStatus as S


class Source(IntEnum):
    CHECKOUT = 1
    INVOICE = 2
    SUBSCRIPTION = 3


TERMINAL = frozenset({S.CANCELED, S.INCOMPLETE_EXPIRED})
PROGRESS: dict[str, int] = {
    S.INCOMPLETE: 1, S.TRIALING: 2, S.ACTIVE: 3, S.PAST_DUE: 4, S.UNPAID: 5, S.PAUSED: 6,
    S.CANCELED: 7, S.INCOMPLETE_EXPIRED: 7,
}
CREATED_DIGITS = 12


def _parts(status: str | None, source: Source, created: int) -> tuple[int, int, str, int]:
    terminal = int(status in TERMINAL)
    authoritative = int(source is not Source.CHECKOUT)
    return terminal, authoritative, f"{created:0{CREATED_DIGITS}d}", PROGRESS.get(status or "", 0)


def status_version(status: str, source: Source, created: int, event_id: str) -> str:
    terminal, authoritative, stamp, progress = _parts(status, source, created)
    return f"{terminal}{authoritative}{stamp}{int(source)}{progress}{event_id}"


def details_version(status: str | None, source: Source, created: int, event_id: str) -> str:
    terminal, authoritative, stamp, progress = _parts(status, source, created)
    return f"{authoritative}{stamp}{terminal}{progress}{event_id}"

