"""Field inspections (the labels), chosen the way a utility chooses them.

In: the chunk's customers, their monthly kWh as recorded, the fraud, the
campaign plan (shared by all chunks) and the label settings of ``generate``.
Out: the inspected customers, days and outcomes; the fraud of a customer found
irregular ends on the inspection day (consumption afterwards is "recovered");
and the ``inspections`` table (``INSPECTIONS_SCHEMA``).

Inspections are not a random sample: most come from campaigns that favour a
few regions and customers whose consumption dropped against their own
history; the rest are ad-hoc. A campaign near the end of the window inspects
smart-meter customers on days whose previous 90 days have 15-minute readings.
The pull towards suspicious customers is tuned so that the share of irregular
outcomes among labelled inspections lands near ``irregular_target``.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pyarrow as pa

from ntl_spark.config import GenerateConf
from ntl_spark.generate.bills import month_positions
from ntl_spark.generate.common import REGIONS, SEASON, Calendar, day_to_date
from ntl_spark.generate.customers import Customers
from ntl_spark.generate.fraud import NO_END, Fraud

CAMPAIGN_SHARE = 0.7  # of the yearly inspections; the rest are ad-hoc
REGION_BOOST = 4.0  # selection weight of a campaign's target regions
SMART_CAMPAIGN_SHARE = 0.10  # of the smart meters, inspected by the recent smart-meter campaign
SMART_WINDOW_DAYS = 90
SMART_CAMPAIGN_ID = "CMP-SMART"

IRREGULARITY_BY_ATTACK = {
    "h2": ("bypass", "direct_connection"),
    "fdi4": ("bypass", "direct_connection"),
    "h1": ("meter_tamper", "bypass"),
    "fdi1": ("meter_tamper", "bypass"),
    "fdi2": ("meter_tamper", "bypass"),
    "fdi3": ("meter_tamper", "bypass"),
    "partial": ("bypass",),
    "night": ("bypass", "meter_tamper"),
    "stopped": ("meter_tamper",),
    "hookup": ("direct_connection",),
    "intermittent": ("bypass", "meter_tamper"),
}
OTHER_IRREGULARITY = ("meter_tamper",)
FALSE_IRREGULARITY = ("meter_fault", "billing_error")
OUTCOME_NAMES = ("regular", "irregular", "no_access")


@dataclasses.dataclass(frozen=True)
class Campaign:
    """A campaign: inspections between ``start`` and ``start + days`` (day numbers)."""

    campaign_id: str
    start: int
    days: int
    regions: tuple[int, ...]
    weight: float
    smart_only: bool = False

    def describe(self) -> dict[str, object]:
        return {
            "campaign_id": self.campaign_id,
            "start": day_to_date(self.start).isoformat(),
            "end": day_to_date(self.start + self.days - 1).isoformat(),
            "regions": [REGIONS[r] for r in self.regions],
            "smart_only": self.smart_only,
        }


def plan_campaigns(gc: GenerateConf, cal: Calendar, rng: np.random.Generator) -> list[Campaign]:
    """Campaigns of the whole run (the same for every chunk).

    Args:
        gc: the ``generate`` configuration.
        cal: the calendar.
        rng: the ``campaigns`` generator.

    Returns:
        Regular campaigns every ~3 months after the first 6, plus the smart-meter
        campaign when there are more than 90 days of readings.
    """
    out = []
    count = max(2, cal.months // 3)
    lo = cal.first_day + min(180, (cal.end_day - cal.first_day) // 3)
    hi = max(lo + 1, cal.end_day - 30)
    starts = np.sort(rng.integers(lo, hi, count))
    for i, start in enumerate(starts.tolist()):
        regions = tuple(sorted(rng.choice(len(REGIONS), int(rng.integers(1, 3)), replace=False).tolist()))
        out.append(Campaign(f"CMP{i + 1:03d}", int(start), int(rng.integers(15, 46)), regions,
                            float(rng.uniform(0.5, 1.5))))
    if cal.read_days > SMART_WINDOW_DAYS:
        start = cal.read_start + SMART_WINDOW_DAYS
        out.append(Campaign(SMART_CAMPAIGN_ID, start, cal.end_day - start, tuple(range(len(REGIONS))), 0.0, True))
    return out


def suspicion(recorded: np.ndarray, tariff: np.ndarray, cal: Calendar, month: int) -> np.ndarray:
    """Drop of the last 3 months against the 12 before, seasonally adjusted (0 = none, 1 = to zero)."""
    if month < 4:
        return np.zeros(len(recorded))
    x = recorded / SEASON[tariff][:, cal.moy]
    recent = x[:, month - 3:month].mean(axis=1)
    base = x[:, max(0, month - 15):month - 3].mean(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        drop = 1.0 - recent / base
    return np.clip(np.nan_to_num(drop, nan=0.0, posinf=0.0, neginf=0.0), -1.0, 1.0)


def _pick(
    logw: np.ndarray, susp: np.ndarray, active: np.ndarray, target: float, k: int, rng: np.random.Generator
) -> np.ndarray:
    """Draw ``k`` positions without replacement, probability ~ exp(logw + beta * susp).

    Gumbel top-k sampling; beta >= 0 (the pull towards suspicious customers) is
    the smallest value for which the share of ``active`` among the drawn
    positions reaches ``target``, found by bisection on the same Gumbel draws.
    """
    k = min(k, len(logw))
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    keys = logw + rng.gumbel(size=len(logw))

    def top(beta: float) -> np.ndarray:
        return np.argpartition(-(keys + beta * susp), k - 1)[:k]

    def share(beta: float) -> float:
        return float(active[top(beta)].mean())

    lo, hi = 0.0, 40.0
    if share(lo) >= target or share(hi) <= target:
        return top(lo if share(lo) >= target else hi)
    for _ in range(25):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if share(mid) < target else (lo, mid)
    return top(hi)


@dataclasses.dataclass
class Inspected:
    """Inspections of one chunk before they become a table."""

    row: np.ndarray  # customer row in the chunk
    day: np.ndarray
    campaign: np.ndarray  # index into the campaign list, -1 = ad-hoc
    outcome: np.ndarray  # index into OUTCOME_NAMES
    fraud_found: np.ndarray  # the customer's attack was running (before label noise)

    def __len__(self) -> int:
        return len(self.row)


def inspect(
    cust: Customers,
    recorded: np.ndarray,
    fraud: Fraud,
    campaigns: list[Campaign],
    gc: GenerateConf,
    cal: Calendar,
    rng: np.random.Generator,
) -> Inspected:
    """Choose the chunk's inspections, decide outcomes and end the fraud they find.

    Args:
        cust: the chunk's customers.
        recorded: monthly kWh as recorded if nobody were caught, (customers, months).
        fraud: the chunk's fraud; ``fraud.end`` is set to the day of the first
            inspection that finds it.
        campaigns: from ``plan_campaigns``.
        gc: the ``generate`` configuration.
        cal: the calendar.
        rng: the chunk's ``inspections`` generator.

    Returns:
        The inspections, sorted by customer and day.
    """
    n = len(cust)
    years = cal.months / 12.0
    per_customer = gc.inspections_per_year * years
    rows, days, camp = [], [], []

    k = rng.binomial(n, min(1.0, (1.0 - CAMPAIGN_SHARE) * per_customer)) if n else 0
    r = rng.integers(0, n, k)
    lo = np.maximum(cust.connected[r], cal.first_day)
    d = lo + (rng.random(k) * np.maximum(cust.disconnected[r] - lo, 1)).astype(np.int64)
    rows.append(r)
    days.append(d)
    camp.append(np.full(k, -1))
    prevalence = float(fraud.active_on(r, d).mean()) if k else 0.0
    reached = [rng.random(k) >= gc.no_access_rate]
    flips = [rng.random(k) < gc.label_noise]

    def caught_by(cutoff: int) -> np.ndarray:
        # Fraud ends at the first inspection (before ``cutoff``) that reaches the meter and reports it.
        r_, d_ = np.concatenate(rows), np.concatenate(days)
        seen = np.concatenate(reached) & ~np.concatenate(flips) & (d_ < cutoff)
        seen &= fraud.active[r_] & (fraud.start[r_] <= d_)
        end = fraud.end.copy()
        np.minimum.at(end, r_[seen], d_[seen])
        return end

    noise = gc.label_noise
    wanted = (gc.irregular_target - noise) / max(1.0 - 2.0 * noise, 1e-9)
    target = (wanted - (1.0 - CAMPAIGN_SHARE) * prevalence) / CAMPAIGN_SHARE
    target = float(np.clip(target, prevalence, 0.95))

    total_weight = sum(c.weight for c in campaigns if not c.smart_only) or 1.0
    for ci, c in enumerate(campaigns):
        live = (cust.connected < c.start) & (cust.disconnected >= c.start + c.days)
        if c.smart_only:
            live &= cust.smart
            k = rng.binomial(int(live.sum()), SMART_CAMPAIGN_SHARE)
        else:
            k = rng.binomial(n, min(1.0, CAMPAIGN_SHARE * per_customer * c.weight / total_weight))
        cand = np.flatnonzero(live)
        if not len(cand) or k == 0:
            continue
        month = int(np.clip(month_positions(cal, np.array([c.start]))[0], 0, cal.months))
        susp = suspicion(recorded[cand], cust.tariff[cand], cal, month)
        boost = np.isin(cust.region[cand], c.regions)
        logw = np.where(boost, np.log(REGION_BOOST), 0.0)
        end = caught_by(c.start)
        mid = c.start + c.days // 2
        active = fraud.active[cand] & (fraud.start[cand] <= mid) & (mid < end[cand])
        chosen = cand[_pick(logw, susp, active, target, k, rng)]
        rows.append(chosen)
        days.append(c.start + rng.integers(0, c.days, len(chosen)))
        camp.append(np.full(len(chosen), ci))
        reached.append(rng.random(len(chosen)) >= gc.no_access_rate)
        flips.append(rng.random(len(chosen)) < gc.label_noise)

    for i, d in enumerate(days):
        days[i] = np.minimum(d.astype(np.int64), cal.end_day - 1)
    fraud.end = caught_by(cal.end_day)
    row = np.concatenate(rows).astype(np.int64)
    day = np.concatenate(days)
    campaign = np.concatenate(camp).astype(np.int64)
    reach = np.concatenate(reached)
    flip = np.concatenate(flips)
    order = np.lexsort((day, row))
    row, day, campaign, reach, flip = row[order], day[order], campaign[order], reach[order], flip[order]

    _restart(fraud, row, day, reach & ~flip, cust.disconnected, gc.fraud.restart, rng)
    found = fraud.active[row] & (((fraud.start[row] <= day) & (day <= fraud.end[row]))
                                 | ((fraud.restart[row] <= day) & (day <= fraud.end2[row])))
    irregular = found ^ flip
    outcome = np.where(reach, np.where(irregular, 1, 0), 2)
    return Inspected(row=row, day=day, campaign=campaign, outcome=outcome, fraud_found=found)


RESTART_AFTER_DAYS = (60, 400)


def _restart(
    fraud: Fraud, row: np.ndarray, day: np.ndarray, reports: np.ndarray, live_to: np.ndarray, p: float,
    rng: np.random.Generator,
) -> None:
    """Let some caught customers steal again, until a later inspection reports it.

    Sets ``fraud.restart`` (60-400 days after the catch, with probability
    ``p``, before service ends) and ``fraud.end2`` (the first later inspection
    that reaches the meter and reports what it sees).
    """
    caught = fraud.active & (fraud.end < NO_END)
    again = caught & (rng.random(len(caught)) < p)
    when = fraud.end + rng.integers(*RESTART_AFTER_DAYS, len(caught))
    again &= when < live_to - 30
    fraud.restart = np.where(again, when, NO_END)
    seen = reports & again[row] & (day >= fraud.restart[row])
    end2 = np.full(len(caught), NO_END)
    np.minimum.at(end2, row[seen], day[seen])
    fraud.end2 = np.where(again, end2, NO_END)


def inspections_table(
    ins: Inspected,
    first_id: int,
    customer_ids: pa.Array,
    fraud: Fraud,
    stolen: np.ndarray,
    campaigns: list[Campaign],
    cal: Calendar,
    rng: np.random.Generator,
) -> pa.Table:
    """The contract's ``inspections`` rows of a chunk.

    Args:
        ins: from ``inspect``.
        first_id: number of the chunk's first inspection (ids are ``I`` + 8 digits).
        customer_ids: id per customer row.
        fraud: the chunk's fraud (after ``inspect``).
        stolen: honest minus recorded kWh per customer and month.
        campaigns: the campaign plan.
        cal: the calendar.
        rng: the chunk's ``inspections`` generator.

    Returns:
        A pyarrow Table with ``INSPECTIONS_SCHEMA`` columns.
    """
    n = len(ins)
    irregular = ins.outcome == 1
    true_hit = irregular & ins.fraud_found
    irregularity = np.full(n, None, dtype=object)
    for i in np.flatnonzero(irregular):
        options = (IRREGULARITY_BY_ATTACK.get(str(fraud.kind[ins.row[i]]), OTHER_IRREGULARITY)
                   if true_hit[i] else FALSE_IRREGULARITY)
        irregularity[i] = options[int(rng.integers(0, len(options)))]

    # Energy recovered: what was not recorded in the (up to 24) months before the inspection.
    month = np.clip(month_positions(cal, ins.day), 0, cal.months - 1)
    csum = np.concatenate([np.zeros((stolen.shape[0], 1)), np.cumsum(np.maximum(stolen, 0.0), axis=1)], axis=1)
    taken = csum[ins.row, month + 1] - csum[ins.row, np.maximum(month + 1 - 24, 0)]
    recovered = np.where(true_hit, taken * rng.lognormal(0.0, 0.25, n), rng.uniform(30.0, 600.0, n))
    recovered = np.where(irregular, np.round(recovered, 0), np.nan)

    ids = [f"I{i:08d}" for i in range(first_id, first_id + n)]
    names = np.asarray([c.campaign_id for c in campaigns] + [None], dtype=object)
    return pa.table(
        {
            "inspection_id": pa.array(ids, type=pa.string()),
            "customer_id": customer_ids.take(pa.array(ins.row)),
            "inspected_on": pa.array(ins.day.astype(np.int32), type=pa.date32()),
            "outcome": pa.array(list(OUTCOME_NAMES)).take(pa.array(ins.outcome)),
            "irregularity": pa.array(irregularity.tolist(), type=pa.string()),
            "recovered_kwh": pa.array(recovered, type=pa.float64(), from_pandas=True),
            "campaign_id": pa.array(names[ins.campaign].tolist(), type=pa.string()),
        }
    )
