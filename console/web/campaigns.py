"""Which customers a new inspection request sends the field team to.

The top of a ranking in the zone, skipping customers inspected recently and
customers already waiting in another request (a line without a result).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import pandas as pd

from web import pipeline
from web.models import RequestLine


def select(ranking: pd.DataFrame, count: int, zone: str, exclude: Iterable[str]) -> pd.DataFrame:
    """The ``count`` best-ranked rows of ``ranking`` in ``zone`` (empty = all) not in ``exclude``.

    Raises:
        ValueError: ``count`` below 1.
    """
    if count < 1:
        raise ValueError(f"number of inspections must be at least 1 (got {count})")
    rows = ranking if not zone else ranking[ranking["region"] == zone]
    rows = rows[~rows["customer_id"].isin(set(exclude))]
    return rows.sort_values(["rank", "customer_id"]).head(count)


def excluded(inspected_within_days: int, today: dt.date | None = None) -> tuple[set[str], set[str]]:
    """(customers inspected within the last days, customers waiting in an open request line)."""
    today = today or dt.date.today()
    since = today - dt.timedelta(days=inspected_within_days)
    inspected = pipeline.recently_inspected(since) if inspected_within_days else set()
    if inspected_within_days:
        inspected |= set(RequestLine.objects.filter(inspected_on__gte=since).exclude(outcome="")
                         .values_list("customer_id", flat=True))
    waiting = set(RequestLine.objects.filter(request__deleted_at__isnull=True, outcome="")
                  .values_list("customer_id", flat=True))
    return inspected, waiting
