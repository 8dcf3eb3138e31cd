"""The dispatch table: Stripe event type -> handler, filled by @handles."""
from __future__ import annotations

from collections.abc import Callable

from subsvc.accounts.entitlement import Policy
from subsvc.events import JsonDict, StripeEvent

Handler = Callable[[StripeEvent, Policy], None]
Predicate = Callable[[JsonDict], bool]

_handlers: dict[str, tuple[Handler, Predicate]] = {}


def handles(*types: str, when: Predicate = lambda obj: True) -> Callable[[Handler], Handler]:
    """Register a handler for `types`; `when` says whether an object has anything for it to do."""
    def register(handler: Handler) -> Handler:
        for type_ in types:
            _handlers[type_] = (handler, when)
        return handler
    return register


def is_handled_type(type_: str) -> bool:
    """Whether some handler takes events of this type (whatever their object says)."""
    return type_ in _handlers


def registered_types() -> list[str]:
    return sorted(_handlers)


def handler_for(event: StripeEvent) -> Handler | None:
    """The handler with work to do for this event, or None: the event is `ignored`."""
    entry = _handlers.get(event.type)
    if entry is None or not entry[1](event.object):
        return None
    return entry[0]
