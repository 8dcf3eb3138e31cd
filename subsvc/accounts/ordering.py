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

Fetched objects (a thin event's related object, `flask stripe reconcile`).
An object read from Stripe's API is its *current* state, not a snapshot taken
at some event's `created`. It is applied as a subscription event stamped with
the time of the fetch, taken from Stripe's own clock (the response's `Date`
header, so a skewed local clock cannot make it win or lose wrongly), minus
FETCH_MARGIN_SECONDS. Against snapshot events that ranks it where it belongs:
- an event created before the fetch is already reflected in the object, and
  loses to it: the fetched state is at least as new;
- an event created after the fetch (one arriving while reconcile runs, say)
  outranks it and wins, as a newer snapshot should;
- within the margin the order of the read and an event is not known (a
  response's `Date` is stamped after the read, in whole seconds), so those
  events are ranked above the fetch: the set of real events decides among
  themselves as if the fetch had not happened, and the next reconcile run,
  stamped later, settles whatever they left.
`canceled` stays terminal either way, and `current_period_end` stays a max.
An invoice or checkout is different: what the handlers read of it (paid or
failed, its lines, its session) does not change once the event happened, so
a fetched invoice or checkout keeps its thin event's own `created`.

Paused (API 2026-09-30 and later: on demand, or automatically after the
final payment failure): only a subscription event moves a subscription out of
`paused`. A paid or failed invoice of a paused subscription says nothing of its
status, even when it is newer than the pause (the customer paying the open
invoice that led to the pause does not resume it; Stripe sends
`customer.subscription.resumed` when it does). No single version order can say
this: with a pause P, a later resume R and an invoice I newer than both, the
sets {P, I}, {R, I} and {P, R} need P > I, I > R and R > P, a cycle. So two
maxima are kept, each order-independent on its own:
- the newest event to speak of status (status version above), and its word
  (`event_status`);
- the newest subscription event (details version above: every subscription
  event writes the details when it is newest), and its word
  (`subscription_status`).
The status shown is a function of the pair (`settled_status`): `paused` when
the newest subscription event says so and the newest word is not terminal,
else the newest word. A function of two order-independent values is itself
order-independent, so any permutation still converges. An invoice older than
the pause loses on both counts anyway; an invoice paid after a resume counts
again, as before.
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
FETCH_MARGIN_SECONDS = 2


def fetched_created(response_date: int) -> int:
    """The `created` under which a fetched object's current state is applied (see above)."""
    return response_date - FETCH_MARGIN_SECONDS


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



def settled_status(event_status: str | None, subscription_status: str | None) -> str | None:
    """The status shown: the newest word, except that only a subscription event ends a pause."""
    if subscription_status == S.PAUSED and event_status not in TERMINAL:
        return S.PAUSED
    return event_status
