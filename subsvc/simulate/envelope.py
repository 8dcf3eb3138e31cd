"""The Event envelope that carries every simulated Stripe object (subsvc.simulate)."""

from __future__ import annotations

import copy
import uuid

from subsvc.simulate.ids import API_NEW, is_legacy_api, new_id, now
from subsvc.simulate.shapes import Json


def event(type_: str, obj: Json, *, created: int | None = None, event_id: str | None = None,
          api_version: str = API_NEW, previous_attributes: Json | None = None,
          automatic: bool = False) -> Json:
    """A full Event envelope around ``obj``.

    ``automatic`` marks what Stripe did of itself (a renewal): such events carry null request ids.
    """
    data: Json = {"object": copy.deepcopy(obj)}
    if previous_attributes is not None:
        data["previous_attributes"] = copy.deepcopy(previous_attributes)
    request: Json | str | None = ({"id": None, "idempotency_key": None} if automatic
                                  else {"id": new_id("req"), "idempotency_key": str(uuid.uuid4())})
    if is_legacy_api(api_version):  # before 2017-05-25 `request` was the bare id
        request = None if automatic else new_id("req")
    return {
        "id": event_id or new_id("evt"),
        "object": "event",
        "api_version": api_version,
        "created": created if created is not None else (obj.get("created") or now()),
        "data": data,
        "livemode": False,
        "pending_webhooks": 1,
        "request": request,
        "type": type_,
    }
