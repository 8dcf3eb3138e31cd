"""In-process cost of one event and one tier lookup, without HTTP or gunicorn.

python -m bench.inprocess [--postgres URL] [--events N] [--lookups N] [--profile]

Feeds N events of the bench mix (bench/events.py) through inbox.receive on a fresh
database and times each by family (subscription, invoice, checkout), then times
`GET /status/api/me` through Flask's test client. --profile prints a pyinstrument profile
of the event loop (pip install pyinstrument). A tool for comparing code changes on one
machine: run it before and after, alternating, and compare ratios.
"""
from __future__ import annotations

import argparse
import json
import logging
import statistics
import tempfile
import time
from collections import defaultdict
from itertools import islice
from pathlib import Path
from typing import Any

from bench.events import Prices, stream
from subsvc import create_app
from subsvc.accounts.entitlement import Policy
from subsvc.accounts.tiers import default_tiers, seed_tiers
from subsvc.events import parse_event
from subsvc.extensions import db
from subsvc.inbox import receive
from subsvc.models import User
from tests.conftest import base_config, pg_schema


def family(event_type: str) -> str:
    return event_type.split(".")[0].replace("customer", "subscription")


def run(database_url: str, events: int, lookups: int, profile: bool) -> dict[str, Any]:
    app = create_app(base_config(database_url))
    logging.getLogger("subsvc").setLevel(logging.WARNING)  # one INFO line per event: noise here
    prices = Prices()
    tiers = default_tiers()  # they map the lookup keys the bench's prices carry
    bodies = [json.dumps(e) for e in islice(stream(prices), events)]
    costs: dict[str, list[float]] = defaultdict(list)
    with app.app_context():
        db.drop_all()
        db.create_all()
        seed_tiers(db.session, tiers, overwrite=True)
        db.session.commit()
        policy = Policy.from_config(app.config)
        profiler = _profiler() if profile else None
        for body in bodies:
            event = parse_event(body)
            started = time.perf_counter()
            receive(event, policy)
            costs[family(event.type)].append(time.perf_counter() - started)
        if profiler is not None:
            profiler.stop()
            print(profiler.output_text(unicode=True, color=False, show_all=False))
        keys = _give_keys(min(lookups, 50))
    lookup_costs = _lookups(app, keys, lookups)
    with app.app_context():
        db.drop_all()
        db.engine.dispose()
    result = {name: round(statistics.median(v) * 1000, 3) for name, v in sorted(costs.items())}
    result["all (mean)"] = round(statistics.mean(sum(costs.values(), [])) * 1000, 3)
    result["/status/api/me"] = round(statistics.median(lookup_costs) * 1000, 3)
    return result


def _profiler() -> Any:
    from pyinstrument import Profiler
    profiler = Profiler(interval=0.0002)
    profiler.start()
    return profiler


def _give_keys(count: int) -> list[str]:
    from subsvc.accounts.api_keys import issue_key
    users = list(db.session.scalars(db.select(User).order_by(User.id).limit(count)))
    keys = [issue_key(user) for user in users]
    db.session.commit()
    return keys


def _lookups(app: Any, keys: list[str], count: int) -> list[float]:
    client = app.test_client()
    costs = []
    for i in range(count):
        headers = {"Authorization": f"Bearer {keys[i % len(keys)]}"}
        started = time.perf_counter()
        answer = client.get("/status/api/me", headers=headers)
        costs.append(time.perf_counter() - started)
        assert answer.status_code == 200, answer.status_code
    return costs


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.inprocess",
                                description=__doc__.splitlines()[0])
    p.add_argument("--postgres", help="a Postgres URL (a fresh schema is used); default SQLite")
    p.add_argument("--events", type=int, default=1500)
    p.add_argument("--lookups", type=int, default=1000)
    p.add_argument("--profile", action="store_true")
    args = p.parse_args()
    if args.postgres:
        import tests.conftest as conftest
        conftest.PG_URL = args.postgres
        with pg_schema("bench") as url:
            print(run(url, args.events, args.lookups, args.profile))
        return
    with tempfile.TemporaryDirectory() as tmp:
        print(run(f"sqlite:///{Path(tmp) / 'bench.db'}", args.events, args.lookups,
                  args.profile))


if __name__ == "__main__":
    main()
