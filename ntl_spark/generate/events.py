"""Smart-meter alarms of one chunk of meters.

In: the meters' service days and their fraud (start and end day). Out: a
pyarrow Table with ``EVENTS_SCHEMA``. POWER_FAIL and CLOCK_SET happen on every
meter; COVER_OPEN, MAGNETIC_TAMPER and REVERSE_ENERGY are rare on honest
meters, frequent while a meter is tampered with, and bunch up around the day
the tampering starts. Meters behind rooftop solar panels raise REVERSE_ENERGY
honestly whenever the panels export.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from ntl_spark.generate.common import US_PER_DAY

CODES = ("POWER_FAIL", "CLOCK_SET", "COVER_OPEN", "MAGNETIC_TAMPER", "REVERSE_ENERGY")
# Events per meter-day: honest meters, and meters while tampered with.
BASE_RATE = np.array([0.010, 0.004, 0.0004, 0.0002, 0.0002])
FRAUD_RATE = np.array([0.012, 0.004, 0.006, 0.004, 0.003])
BURST_MEAN = 2.0  # tamper alarms within a few days of the fraud start
SOLAR_REVERSE_RATE = 0.01  # REVERSE_ENERGY per day on a meter behind rooftop panels


def _spread(counts: np.ndarray, lo: np.ndarray, hi: np.ndarray, code: int, rng: np.random.Generator,
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    meter = np.repeat(np.arange(len(counts)), counts)
    span = np.maximum(hi - lo, 1)[meter]
    ts = lo[meter] * US_PER_DAY + (rng.random(len(meter)) * span * 86_400).astype(np.int64) * 1_000_000
    return meter, ts, np.full(len(meter), code, dtype=np.int8)


def make_events(
    meter_ids: pa.Array,
    live_from: np.ndarray,
    live_to: np.ndarray,
    fraud_start: np.ndarray,
    fraud_end: np.ndarray,
    rng: np.random.Generator,
    *,
    episode2: tuple[np.ndarray, np.ndarray] | None = None,
    solar_from: np.ndarray | None = None,
) -> pa.Table:
    """Alarms of ``k`` meters between their first and last day of service.

    Args:
        meter_ids: id per meter.
        live_from, live_to: first day and the day after the last day with events.
        fraud_start, fraud_end: tampering days [start, end); start >= end for honest meters.
        rng: the chunk's ``events`` generator.
        episode2: tampering days of a second episode [start, end) per meter.
        solar_from: day rooftop panels start exporting per meter (past ``live_to`` = none):
            REVERSE_ENERGY alarms on sunny days from then on.

    Returns:
        A pyarrow Table with ``EVENTS_SCHEMA`` columns, sorted by meter and time.
    """
    k = len(live_from)
    span = np.maximum(live_to - live_from, 0)
    f0 = np.clip(fraud_start, live_from, live_to)
    f1 = np.clip(fraud_end, f0, live_to)
    fdays = f1 - f0
    parts = []
    for code in range(len(CODES)):
        parts.append(_spread(rng.poisson(BASE_RATE[code] * span), live_from, live_to, code, rng))
        extra = np.maximum(FRAUD_RATE[code] - BASE_RATE[code], 0.0)
        if extra > 0:
            parts.append(_spread(rng.poisson(extra * fdays), f0, f1, code, rng))
    tampered = fdays > 0
    burst = np.where(tampered, rng.poisson(BURST_MEAN, k), 0)
    meter, ts, _ = _spread(burst, f0 - 3, f0 + 4, 0, rng)
    parts.append((meter, ts, rng.integers(2, 5, len(meter)).astype(np.int8)))
    if episode2 is not None:
        g0 = np.clip(episode2[0], live_from, live_to)
        g1 = np.clip(episode2[1], g0, live_to)
        for code in range(len(CODES)):
            extra = np.maximum(FRAUD_RATE[code] - BASE_RATE[code], 0.0)
            if extra > 0:
                parts.append(_spread(rng.poisson(extra * (g1 - g0)), g0, g1, code, rng))
    if solar_from is not None:
        s0 = np.clip(solar_from, live_from, live_to)
        parts.append(_spread(rng.poisson(SOLAR_REVERSE_RATE * (live_to - s0)), s0, live_to,
                             CODES.index("REVERSE_ENERGY"), rng))

    meter = np.concatenate([p[0] for p in parts])
    ts = np.concatenate([p[1] for p in parts])
    code = np.concatenate([p[2] for p in parts])
    order = np.lexsort((code, ts, meter))
    meter, ts, code = meter[order], ts[order], code[order]
    if len(meter):
        dup = np.zeros(len(meter), dtype=bool)
        dup[1:] = (meter[1:] == meter[:-1]) & (ts[1:] == ts[:-1]) & (code[1:] == code[:-1])
        meter, ts, code = meter[~dup], ts[~dup], code[~dup]
    return pa.table(
        {
            "meter_id": meter_ids.take(pa.array(meter)),
            "ts": pa.array(ts, type=pa.timestamp("us")),
            "code": pa.array(list(CODES)).take(pa.array(code)),
        }
    )
