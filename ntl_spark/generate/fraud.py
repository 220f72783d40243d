"""Which customers of a chunk steal, how, from when, and what their meters record.

In: the chunk's customers, their honest monthly kWh, the ``generate.fraud``
configuration. Out: a ``Fraud`` bundle (attack per customer, start and end
day, parameters, the share of energy a tampered smart meter records) and the
recorded monthly kWh once the attacks are applied.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ntl_spark.config import FraudConf
from ntl_spark.generate import attacks
from ntl_spark.generate.bills import month_positions
from ntl_spark.generate.common import Calendar
from ntl_spark.generate.customers import Customers
from ntl_spark.generate.readings import typical_days

NO_END = np.iinfo(np.int64).max // 4


@dataclasses.dataclass
class Fraud:
    """Fraud of one chunk; ``kind`` is '' for honest customers.

    A customer steals in up to two episodes: [start, end) and, after being
    caught, possibly again in [restart, end2).

    Attributes:
        kind: attack name per customer.
        start: first day of the attack; ``end``: day it stops (``NO_END`` = never).
        params: ``a``, ``t1``, ``t2`` per customer (NaN where unused).
        ratio: share of the honest energy recorded while the attack runs, for
            customers whose monthly bills derive from a curve-level attack.
        month_factor: recorded over honest energy per (customer, month) for the
            month-level attacks (``attacks.MONTH_ATTACKS``); 1 elsewhere.
        restart: first day of a second episode (``NO_END`` = none); ``end2``: its end.
    """

    kind: np.ndarray
    start: np.ndarray
    end: np.ndarray
    params: dict[str, np.ndarray]
    ratio: np.ndarray
    month_factor: np.ndarray
    restart: np.ndarray
    end2: np.ndarray

    @property
    def active(self) -> np.ndarray:
        return self.kind != ""

    def active_on(self, rows: np.ndarray, days: np.ndarray) -> np.ndarray:
        """Whether the attack of customer ``rows[i]`` runs on ``days[i]``."""
        first = (self.start[rows] <= days) & (days < self.end[rows])
        second = (self.restart[rows] <= days) & (days < self.end2[rows])
        return self.active[rows] & (first | second)

    def episodes(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """The [start, end) day pairs of the first and the second episode."""
        return [(self.start, self.end), (self.restart, self.end2)]


def draw_fraud(
    cust: Customers, cal: Calendar, conf: FraudConf, rng: np.random.Generator, honest: np.ndarray,
) -> Fraud:
    """Pick the fraudulent customers, their attack, start day and parameters.

    Args:
        cust: the chunk's customers.
        cal: the calendar.
        conf: ``generate.fraud``.
        rng: the chunk's ``fraud`` generator.
        honest: honest monthly kWh, (customers, months) (month-level attacks use it).

    Returns:
        The chunk's fraud (no end yet: inspections set it).
    """
    n = len(cust)
    names, p = attacks.normalised_mix(conf.attacks)
    lo = np.maximum(cust.connected, cal.first_day) + 60
    hi = cust.disconnected - 30
    fraud = (rng.random(n) < conf.rate) & (hi > lo)
    start = lo + (rng.random(n) * np.maximum(hi - lo, 1)).astype(np.int64)
    kind = np.where(fraud, np.asarray(names, dtype=object)[rng.choice(len(names), n, p=p)], "").astype("U12")
    params = {key: np.full(n, np.nan) for key in ("a", "t1", "t2")}
    ratio = np.ones(n)
    factor = np.ones((n, cal.months))
    for name in names:
        rows = np.flatnonzero(kind == name)
        if not len(rows):
            continue
        drawn = attacks.draw_params(name, len(rows), rng)
        for key, values in drawn.items():
            params[key][rows] = values
        if name in attacks.MONTH_ATTACKS:
            first = np.clip(month_positions(cal, start[rows]), 0, cal.months - 1)
            factor[rows] = attacks.month_factors(name, honest[rows], first, drawn, rng)
        else:
            ratio[rows] = attacks.day_ratio(name, typical_days(cust.tariff[rows]), dict(drawn), rng)
    none = np.full(n, NO_END)
    return Fraud(kind=kind, start=np.where(fraud, start, NO_END), end=none.copy(), params=params, ratio=ratio,
                 month_factor=factor, restart=none.copy(), end2=none.copy())


def active_share(fraud: Fraud, cal: Calendar) -> np.ndarray:
    """Share of each month's days during which the attack runs, (customers, months)."""
    ms = cal.month_start
    out = np.zeros((len(fraud.kind), cal.months))
    for start, end in fraud.episodes():
        lo = np.maximum(start[:, None], ms[None, :-1])
        hi = np.minimum(end[:, None], ms[None, 1:])
        out += np.clip(hi - lo, 0, None) / np.diff(ms)[None, :]
    return np.minimum(out, 1.0)


def recorded_months(
    honest: np.ndarray, cust: Customers, fraud: Fraud, cal: Calendar, rng: np.random.Generator
) -> np.ndarray:
    """Monthly kWh the meters record: honest use, reduced by each active attack.

    Conventional meters under an h-model get the model applied to the monthly
    series; smart meters, and FDI models on conventional meters, record the
    meter's ``ratio`` of the honest energy (with a little noise), which is what
    the 15-minute attack yields over a month.

    Args:
        honest: honest monthly kWh, (customers, months).
        cust: the chunk's customers.
        fraud: the chunk's fraud.
        cal: the calendar.
        rng: generator for the per-month draws.

    Returns:
        Recorded monthly kWh, same shape as ``honest``.
    """
    share = active_share(fraud, cal)
    out = honest.copy()
    rows_all = np.flatnonzero(fraud.active & (share.max(axis=1) > 0))
    if not len(rows_all):
        return out
    kinds = fraud.kind[rows_all]
    monthly = np.isin(kinds, ("h1", "h2", "h3", "h4", "h5", "h6")) & ~cust.smart[rows_all]
    for kind in ("h1", "h2", "h3", "h4", "h5", "h6"):
        rows = rows_all[monthly & (kinds == kind)]
        if not len(rows):
            continue
        last = np.where(fraud.restart[rows] < NO_END, fraud.end2[rows], fraud.end[rows])
        s = np.clip(month_positions(cal, fraud.start[rows]), 0, cal.months)
        e = np.clip(month_positions(cal, np.minimum(last, cal.end_day) - 1) + 1, 0, cal.months)
        params = {k: v[rows] for k, v in fraud.params.items()}
        attacked = attacks.apply_months(kind, honest[rows], s, e, params, rng)
        out[rows] = honest[rows] + share[rows] * (attacked - honest[rows])
    by_month = np.isin(kinds, attacks.MONTH_ATTACKS)
    rows = rows_all[by_month]
    out[rows] = honest[rows] * (1.0 + share[rows] * (fraud.month_factor[rows] - 1.0))
    rows = rows_all[~monthly & ~by_month]
    attacked = honest[rows] * fraud.ratio[rows, None] * rng.lognormal(-0.001, 0.05, (len(rows), cal.months))
    out[rows] = honest[rows] + share[rows] * (attacked - honest[rows])
    return out
