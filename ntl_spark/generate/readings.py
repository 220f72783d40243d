"""15-minute smart-meter readings of a group of meters.

In: the meters' customers (tariff, connection), their honest monthly kWh, the
fraud each one commits (attack, start and end day, parameters) and the
calendar. Out: a pyarrow Table with ``READINGS_SCHEMA`` (local naive
timestamps, 96 intervals per day, null kWh for missing intervals, absent rows
for missing days). The daily energy follows the honest monthly kWh, so a
meter's monthly reading totals match its bills on average.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from ntl_spark.generate import attacks
from ntl_spark.generate.common import INTERVALS, US_PER_DAY, US_PER_INTERVAL, Calendar
from ntl_spark.generate.lookalikes import SOLAR_SEASON, solar_midday

MISSING_INTERVAL_RATE = 0.003
MISSING_DAY_RATE = 0.01
OUTAGE_METER_SHARE = 0.05

_HOURS = (np.arange(INTERVALS) + 0.5) / 4.0


def _bump(centre: float, width: float) -> np.ndarray:
    return np.exp(-0.5 * ((_HOURS - centre) / width) ** 2)


def _plateau(start: float, end: float) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-(_HOURS - start) * 3.0)) - 1.0 / (1.0 + np.exp(-(_HOURS - end) * 3.0))


def _day_shapes() -> np.ndarray:
    """Share of the daily energy per interval: (tariff, weekend, interval), rows sum to 1."""
    night = (_HOURS < 7).astype(float)
    shapes = np.array(
        [
            [  # residential: morning bump, strong evening peak
                0.35 + 0.5 * _bump(7.5, 1.0) + 0.3 * _bump(13.0, 1.5) + 1.3 * _bump(20.5, 1.6),
                0.40 + 0.6 * _bump(10.0, 2.0) + 0.5 * _bump(14.0, 2.0) + 1.1 * _bump(20.5, 1.8),
            ],
            [  # residential, two periods: use moved out of the 18-22 h peak, to the night
                0.55 + 0.6 * night + 0.4 * _bump(8.0, 1.0) + 0.8 * _bump(23.0, 1.0),
                0.60 + 0.5 * night + 0.5 * _bump(11.0, 2.0) + 0.7 * _bump(23.0, 1.0),
            ],
            [  # general: business hours on weekdays
                0.25 + 1.6 * _plateau(8.5, 19.0),
                0.25 + 0.4 * _plateau(9.0, 13.0),
            ],
            [  # medium: base load plus one or two shifts
                0.60 + 1.0 * _plateau(7.0, 18.0),
                0.60 + 0.2 * _plateau(7.0, 14.0),
            ],
        ]
    )
    return shapes / shapes.sum(axis=-1, keepdims=True)


DAY_SHAPES = _day_shapes()
# Daily energy on weekdays / weekends relative to the weekly mean, per tariff.
_WEEK = np.array([[1.0, 1.08], [1.0, 1.05], [1.0, 0.45], [1.0, 0.6]])
WEEK_FACTOR = _WEEK / ((5 * _WEEK[:, :1] + 2 * _WEEK[:, 1:]) / 7.0)


def typical_days(tariff: np.ndarray) -> np.ndarray:
    """Weekday daily curve (shares of the day) per customer, shape (n, 96)."""
    return DAY_SHAPES[tariff, 0]


def is_weekend(days: np.ndarray) -> np.ndarray:
    """Saturday or Sunday (1970-01-01, day 0, was a Thursday)."""
    return (days + 3) % 7 >= 5


def _lookalike_days(x: np.ndarray, days: np.ndarray, mpos: np.ndarray, cal: Calendar,
                    look: dict[str, np.ndarray]) -> None:
    """Solar panels and meter replacements on the daily curves ``x`` (meters, days, intervals), in place."""
    solar = np.flatnonzero(look["kind"] == "solar")
    if len(solar):
        on = days[None, :] >= look["day"][solar, None]
        share = look["size"][solar, None] * SOLAR_SEASON[cal.moy[mpos]][None, :]
        net = np.maximum(1.0 - share, 0.05)
        # The month's net energy came in with x; the gross use is net / (1 - share).
        gross = x[solar] / net[:, :, None]
        made = (gross.sum(axis=-1) * np.minimum(share, 0.95))[:, :, None] * solar_midday(_HOURS)[None, None, :]
        x[solar] = np.where(on[:, :, None], np.maximum(gross - made, 0.0), x[solar])
    swap = np.flatnonzero(look["kind"] == "meter_replacement")
    if len(swap):
        zero = days[None, :] == look["day"][swap, None]
        x[swap] = np.where(zero[:, :, None], 0.0, x[swap])


def make_readings(
    meter_ids: pa.Array,
    tariff: np.ndarray,
    monthly: np.ndarray,
    live_from: np.ndarray,
    live_to: np.ndarray,
    fraud_kind: np.ndarray,
    fraud_start: np.ndarray,
    fraud_end: np.ndarray,
    fraud_params: dict[str, np.ndarray],
    cal: Calendar,
    rng: np.random.Generator,
    *,
    episode2: tuple[np.ndarray, np.ndarray] | None = None,
    month_factor: np.ndarray | None = None,
    look: dict[str, np.ndarray] | None = None,
) -> pa.Table:
    """Readings of ``k`` meters over the calendar's readings window.

    Args:
        meter_ids: id per meter.
        tariff: tariff index per meter.
        monthly: honest monthly kWh per meter, (k, months).
        live_from, live_to: first day and the day after the last day with service.
        fraud_kind: attack name per meter (empty string for honest meters).
        fraud_start, fraud_end: days the attack is active, [start, end).
        fraud_params: per-meter attack parameters (``a``, ``t1``, ``t2``; NaN where unused).
        cal: the calendar.
        rng: the part's ``readings`` generator.
        episode2: start and end day of a second fraud episode per meter (none when absent).
        month_factor: recorded over honest energy per (meter, month) for month-level attacks.
        look: the meters' look-alikes: ``kind``, ``day``, ``size`` and ``tariff_before``
            (``ntl_spark.generate.lookalikes``); solar meters lose their midday
            import, a replaced meter records a zero day, a tariff change moves
            the daily shape.

    Returns:
        A pyarrow Table with ``READINGS_SCHEMA`` columns.
    """
    k, d = len(tariff), cal.read_days
    days = cal.read_start + np.arange(d)
    mpos = cal.month_of_day(days)
    weekend = is_weekend(days).astype(np.int64)
    dim = cal.days_in_month[mpos]

    day_tariff = np.broadcast_to(tariff[:, None], (k, d))
    if look is not None:
        changed = (look["kind"] == "tariff_change")[:, None] & (days[None, :] < look["day"][:, None])
        day_tariff = np.where(changed, look["tariff_before"][:, None], day_tariff)
    energy = monthly[:, mpos] / dim[None, :] * WEEK_FACTOR[day_tariff, weekend[None, :]]
    energy *= rng.lognormal(-0.011, 0.15, (k, d))
    noise = rng.standard_normal((k, d, INTERVALS), dtype=np.float32)
    noise *= np.float32(0.35)
    noise += np.float32(-0.061)
    np.exp(noise, out=noise)
    x = DAY_SHAPES[day_tariff, weekend[None, :]] * noise
    x *= energy[:, :, None]
    if look is not None:
        _lookalike_days(x, days, mpos, cal, look)

    def running(rows: np.ndarray) -> np.ndarray:
        active = (days[None, :] >= fraud_start[rows, None]) & (days[None, :] < fraud_end[rows, None])
        if episode2 is not None:
            active |= (days[None, :] >= episode2[0][rows, None]) & (days[None, :] < episode2[1][rows, None])
        return active

    for kind in attacks.ATTACKS:
        rows = np.flatnonzero(fraud_kind == kind)
        if not len(rows):
            continue
        active = running(rows)
        if not active.any():
            continue
        params = {name: values[rows].astype(np.int64 if name != "a" else float) for name, values in fraud_params.items()
                  if not np.isnan(values[rows]).any()}
        attacked = attacks.apply_days(kind, x[rows], params, rng)
        x[rows] = np.where(active[:, :, None], attacked, x[rows])
    if month_factor is not None:
        rows = np.flatnonzero(np.isin(fraud_kind, attacks.MONTH_ATTACKS))
        if len(rows):
            scale = np.where(running(rows), month_factor[rows][:, mpos], 1.0).astype(np.float32)
            x[rows] *= scale[:, :, None]

    keep = (days[None, :] >= live_from[:, None]) & (days[None, :] < live_to[:, None])
    keep &= rng.random((k, d)) >= MISSING_DAY_RATE
    outage = rng.random(k) < OUTAGE_METER_SHARE
    o0 = rng.integers(0, max(d, 1), k)[:, None]
    o1 = o0 + rng.integers(1, 8, k)[:, None]
    pos = np.arange(d)[None, :]
    keep &= ~(outage[:, None] & (pos >= o0) & (pos < o1))

    flat = x.reshape(-1)
    n_missing = rng.binomial(flat.size, MISSING_INTERVAL_RATE) if flat.size else 0
    flat[rng.integers(0, max(flat.size, 1), n_missing)] = np.nan

    mi, di = np.nonzero(keep)
    values = x[mi, di].reshape(-1)
    np.round(values, 3, out=values)
    ts = (days[di] * US_PER_DAY)[:, None] + np.arange(INTERVALS, dtype=np.int64)[None, :] * US_PER_INTERVAL
    nulls = np.isnan(values)
    return pa.table(
        {
            "meter_id": meter_ids.take(pa.array(np.repeat(mi.astype(np.int32), INTERVALS))),
            "ts": pa.array(ts.reshape(-1), type=pa.timestamp("us")),
            "kwh": pa.array(values, type=pa.float64(), mask=nulls if nulls.any() else None),
        }
    )
