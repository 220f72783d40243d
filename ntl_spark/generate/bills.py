"""Monthly billed consumption of one chunk of customers.

In: a chunk's ``Customers`` and the calendar. Out: the honest monthly kWh
matrix (customers x months) with the months each customer is billed, and,
once fraud has been applied, the ``bills`` table (``BILLS_SCHEMA``) with
estimated reads, bill lengths of 28..35 days and missing months.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from ntl_spark.generate.common import TARIFFS, Calendar
from ntl_spark.generate.customers import Customers

if TYPE_CHECKING:
    from ntl_spark.generate.lookalikes import Lookalikes

ESTIMATED_SHARE = 0.05
GAP_CUSTOMER_SHARE = 0.03
VACATION_SHARE = 0.2


def month_positions(cal: Calendar, days: np.ndarray) -> np.ndarray:
    """Position in the window of the month holding each day (-1 before it, ``months`` after it)."""
    return np.searchsorted(cal.month_start, days, side="right") - 1


def billed_months(cust: Customers, cal: Calendar) -> np.ndarray:
    """Mask (customers, months) of the months between connection and disconnection."""
    pos = np.arange(cal.months)[None, :]
    first = month_positions(cal, cust.connected)[:, None]
    last = month_positions(cal, cust.disconnected - 1)[:, None]
    return (pos >= first) & (pos <= last)


def honest_months(
    cust: Customers, cal: Calendar, rng: np.random.Generator, season: np.ndarray, look: Lookalikes | None = None,
) -> np.ndarray:
    """Monthly kWh each customer really uses: level x seasonality x trend x noise.

    Includes what makes honest series look suspicious too: the look-alikes
    (``ntl_spark.generate.lookalikes``: move-outs, solar, efficiency steps,
    seasonal homes, meter replacements, tariff changes) and summer vacations
    (January dips).

    Args:
        cust: the chunk's customers.
        cal: the calendar.
        rng: the chunk's ``bills`` generator.
        season: seasonal factor per (tariff, region, month), from ``weather.season_factors``.
        look: the chunk's look-alikes (none when absent).

    Returns:
        Array (customers, months) of kWh >= 0.
    """
    n, m = len(cust), cal.months
    pos = np.arange(m)[None, :]
    amp = rng.uniform(0.5, 1.5, (n, 1))
    tariff = cust.tariff if look is None else look.tariff_before
    x_season = 1.0 + amp * (season[tariff, cust.region] - 1.0)
    growth = rng.normal(0.0, 0.03, (n, 1))
    x = cust.level[:, None] * x_season * (1.0 + growth) ** (pos / 12.0)
    x *= rng.lognormal(-0.005, 0.10, (n, m))

    homes = cust.tariff[:, None] <= TARIFFS.index("residential_two_period")
    vacation = (cal.moy[None, :] == 0) & homes & (rng.random((n, m)) < VACATION_SHARE)
    x = np.where(vacation, x * rng.uniform(0.3, 0.8, (n, m)), x)
    return x if look is None else x * look.monthly


def bills_table(
    customer_ids: pa.Array,
    recorded: np.ndarray,
    billed: np.ndarray,
    expected: np.ndarray,
    cal: Calendar,
    rng: np.random.Generator,
) -> pa.Table:
    """The contract's ``bills`` rows of a chunk.

    Args:
        customer_ids: id per customer row.
        recorded: what the meter recorded per month (after fraud), (customers, months).
        billed: months billed per customer, same shape.
        expected: the customer's usual monthly kWh (used when no earlier read exists).
        cal: the calendar.
        rng: the chunk's ``bills`` generator.

    Returns:
        A pyarrow Table with ``BILLS_SCHEMA`` columns, one row per billed month.
    """
    n, m = recorded.shape
    present = billed.copy()
    gaps = rng.random(n) < GAP_CUSTOMER_SHARE
    missing = gaps[:, None] & (rng.random((n, m)) < rng.uniform(0.03, 0.1, (n, 1)))
    present &= ~missing

    # An estimated bill repeats the mean of the customer's previous (up to 3) reads.
    estimated = present & (rng.random((n, m)) < ESTIMATED_SHARE)
    seen = np.where(present, recorded, 0.0)
    csum = np.concatenate([np.zeros((n, 1)), np.cumsum(seen, axis=1)], axis=1)
    ccnt = np.concatenate([np.zeros((n, 1)), np.cumsum(present, axis=1)], axis=1)
    lo = np.maximum(np.arange(m) - 3, 0)
    total = csum[:, np.arange(m)] - csum[:, lo]
    count = ccnt[:, np.arange(m)] - ccnt[:, lo]
    previous = np.where(count > 0, total / np.maximum(count, 1), expected)
    kwh = np.where(estimated, previous, recorded)

    dim = cal.days_in_month[None, :]
    days = np.clip(dim + rng.integers(-2, 4, (n, m)), 28, 35)
    kwh = np.round(np.maximum(kwh, 0.0) * days / dim, 1)

    rows, cols = np.nonzero(present)
    return pa.table(
        {
            "customer_id": customer_ids.take(pa.array(rows)),
            "period": pa.array(cal.month_start[cols].astype(np.int32), type=pa.date32()),
            "kwh": pa.array(kwh[rows, cols], type=pa.float64()),
            "days": pa.array(days[rows, cols].astype(np.int32), type=pa.int32()),
            "read_type": pa.array(["actual", "estimated"]).take(pa.array(estimated[rows, cols].astype(np.int8))),
        }
    )
