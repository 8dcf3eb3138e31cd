"""The drift report of `flask stripe reconcile` as text: one line per pass, one per drift."""
from __future__ import annotations

from collections import Counter
from typing import Any

from subsvc.drift import Drift, show_value
from subsvc.reconcile import Report


def render_report(report: Report) -> str:
    heal = "would heal" if report.dry_run else "healed"
    lines = [f"Reconcile with Stripe (undelivered events of the last {report.since_days} days)"
             + (", dry run: nothing was changed" if report.dry_run else "")]
    lines.append(f"undelivered events: {_counts(report.events)}")
    for failure in report.event_failures:
        lines.append(f"  failed {failure['event_id']} ({failure['type']}): {failure['error']}")
    lines.append(f"pending thin events: {_counts(report.thin)}")
    lines += [f"  still pending {event_id}" for event_id in report.thin_left
              if not report.dry_run]
    healed = sum(d.healed for d in report.drift)
    lines.append(f"subscriptions: {report.checked} checked, {len(report.drift)} differed, "
                 f"{healed} {heal}, {len(report.unhealed)} not healed")
    lines += [f"  {_verdict(d, heal)} {d.subscription}: {_differences(d)}"
              + (f" ({d.reason})" if d.reason else "") for d in report.drift]
    if report.cut_short:
        lines.append(f"stopped early: {report.cut_short}")
    left = len(report.unhealed) + len(report.event_failures) + len(report.thin_left)
    lines.append("Nothing left to heal." if report.ok else f"{left} left unhealed.")
    return "\n".join(lines)


def _counts(counts: Counter[str]) -> str:
    if not counts:
        return "none"
    return f"{sum(counts.values())} (" + ", ".join(
        f"{n} {outcome}" for outcome, n in sorted(counts.items())) + ")"


def _verdict(drift: Drift, heal: str) -> str:
    if drift.healed:
        return heal
    return "left" if drift.skipped else "NOT healed"


def _differences(drift: Drift) -> str:
    return ", ".join(f"{name} {_value(ours)} -> {_value(theirs)}"
                     for name, (ours, theirs) in drift.differences.items()) or "unreadable"


def _value(value: Any) -> str:
    shown = show_value(value)
    return "none" if shown is None else str(shown)
