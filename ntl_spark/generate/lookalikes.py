"""Honest customers whose consumption looks like theft.

In: a chunk's customers, the calendar, the ``generate.lookalikes`` shares and
the chunk's ``bills`` generator. Out: a ``Lookalikes`` bundle (the look-alike
kind of every customer, '' for none, the day it starts and its size) whose
``monthly`` factors multiply the honest monthly kWh, and the per-meter inputs
the readings and events need (solar share, replacement day, tariff before a
change).

Kinds (at most one per customer):

* ``move_out``: the home empties (2-10 months at 0-8 % of its use), then a
  new occupant with another level moves in (or it stays empty).
* ``solar``: rooftop panels from a day on; the meter records net import, a
  drop that is largest in the southern summer and at midday; smart meters
  raise REVERSE_ENERGY when the panels export.
* ``efficiency``: a retrofit (insulation, heat pump, LED) lowers use for good
  (x 0.6-0.85).
* ``seasonal_home``: a holiday home used Dec-Mar only, near zero otherwise;
  half of them turn seasonal inside the window (the owners moved).
* ``meter_replacement``: the meter is changed; the new one registers a
  different level (x 0.7-1.35) and the day of the change records nothing.
* ``tariff_change``: a home moves to the two-period tariff, shifting use to
  the night and billing a bit less.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ntl_spark.config import LookalikesConf
from ntl_spark.generate.bills import month_positions
from ntl_spark.generate.common import TARIFFS, Calendar
from ntl_spark.generate.customers import Customers

KINDS = ("move_out", "solar", "efficiency", "seasonal_home", "meter_replacement", "tariff_change")
# Solar production per month (Jan..Dec) relative to its yearly mean, southern hemisphere.
SOLAR_SEASON = np.array([1.35, 1.22, 1.05, 0.85, 0.68, 0.58, 0.62, 0.78, 0.95, 1.12, 1.28, 1.40])
SOLAR_SEASON = SOLAR_SEASON / SOLAR_SEASON.mean()
OCCUPIED_MONTHS = np.array([0, 1, 2, 11])  # Jan, Feb, Mar, Dec
HOME = TARIFFS.index("residential_two_period")


@dataclasses.dataclass
class Lookalikes:
    """Look-alikes of one chunk.

    Attributes:
        kind: look-alike name per customer ('' for none).
        day: day the change happens (meaningful where ``kind`` is set).
        size: solar share of the yearly use, or the level factor of a step.
        tariff_before: tariff index before a tariff change (the current one otherwise).
        monthly: factor per (customer, month) on the honest kWh.
    """

    kind: np.ndarray
    day: np.ndarray
    size: np.ndarray
    tariff_before: np.ndarray
    monthly: np.ndarray

    def of(self, name: str) -> np.ndarray:
        return self.kind == name


def draw_lookalikes(cust: Customers, cal: Calendar, conf: LookalikesConf, rng: np.random.Generator) -> Lookalikes:
    """Pick the chunk's look-alikes and their monthly factors.

    Args:
        cust: the chunk's customers.
        cal: the calendar.
        conf: ``generate.lookalikes`` (share of customers per kind).
        rng: the chunk's ``bills`` generator.

    Returns:
        The chunk's look-alikes. ``cust.tariff`` is set to the two-period
        tariff for the customers whose tariff changes (their current tariff).
    """
    n, m = len(cust), cal.months
    shares = np.array([getattr(conf, k) for k in KINDS])
    u = rng.random(n)
    edges = np.cumsum(shares)
    idx = np.searchsorted(edges, u, side="right")
    kind = np.where(idx < len(KINDS), np.asarray(KINDS + ("",), dtype=object)[np.minimum(idx, len(KINDS))], "")
    home = cust.tariff <= HOME
    kind = np.where(np.isin(kind, ("move_out", "seasonal_home", "tariff_change")) & ~home, "", kind)
    lo = np.maximum(cust.connected, cal.first_day) + 90
    hi = np.maximum(cust.disconnected - 30, lo + 1)
    day = lo + (rng.random(n) * (hi - lo)).astype(np.int64)
    kind = np.where(day >= cust.disconnected, "", kind).astype("U20")
    # A tariff change moves a residential home to the two-period tariff: the
    # customers table shows the new tariff, the series the old one until the change.
    kind = np.where((kind == "tariff_change") & (cust.tariff != TARIFFS.index("residential")), "", kind)
    kind = kind.astype("U20")
    tariff_before = cust.tariff.copy()
    cust.tariff = np.where(kind == "tariff_change", HOME, cust.tariff)

    at = np.clip(month_positions(cal, day), 0, m - 1)[:, None]
    pos = np.arange(m)[None, :]
    after = pos >= at
    size = np.ones(n)
    f = np.ones((n, m))

    rows = kind == "move_out"
    empty_for = rng.integers(2, 11, n)[:, None]
    vacant = after & (pos < at + empty_for)
    new_level = rng.lognormal(0.0, 0.4, n)[:, None]
    f = np.where(rows[:, None] & vacant, rng.uniform(0.0, 0.08, (n, m)), f)
    f = np.where(rows[:, None] & after & ~vacant, new_level, f)

    rows = kind == "solar"
    size = np.where(rows, rng.uniform(0.25, 0.6, n), size)
    solar = np.maximum(1.0 - size[:, None] * SOLAR_SEASON[cal.moy][None, :], 0.05)
    f = np.where(rows[:, None] & after, solar, f)

    rows = kind == "efficiency"
    size = np.where(rows, rng.uniform(0.6, 0.85, n), size)
    f = np.where(rows[:, None] & after, size[:, None], f)

    rows = kind == "seasonal_home"
    whole = rng.random(n) < 0.5
    occupied = np.isin(cal.moy, OCCUPIED_MONTHS)[None, :]
    off = rng.uniform(0.03, 0.15, (n, m))
    f = np.where(rows[:, None] & (after | whole[:, None]) & ~occupied, off, f)

    rows = kind == "meter_replacement"
    size = np.where(rows, rng.uniform(0.7, 1.35, n), size)
    dim = cal.days_in_month[None, :]
    f = np.where(rows[:, None] & after, size[:, None], f)
    f = np.where(rows[:, None] & (pos == at), f * (1.0 - 1.0 / dim), f)

    rows = kind == "tariff_change"
    size = np.where(rows, rng.uniform(0.75, 1.0, n), size)
    f = np.where(rows[:, None] & after, size[:, None], f)
    return Lookalikes(kind=kind, day=day, size=size, tariff_before=tariff_before, monthly=f)


def solar_midday(hours: np.ndarray) -> np.ndarray:
    """Shape of solar production over the day (sums to 1)."""
    shape = np.clip(np.cos((hours - 13.0) / 7.0 * np.pi / 2.0), 0.0, None) ** 2
    return shape / shape.sum()
