"""Smart-meter alarms of one chunk of meters.

In: the meters' service days and their fraud (start and end day). Out: a
pyarrow Table with ``EVENTS_SCHEMA``. POWER_FAIL and CLOCK_SET happen on every
meter; COVER_OPEN, MAGNETIC_TAMPER and REVERSE_ENERGY are rare on honest
meters, frequent while a meter is tampered with, and bunch up around the day
the tampering starts.
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
) -> pa.Table:
    """Alarms of ``k`` meters between their first and last day of service.

    Args:
        meter_ids: id per meter.
        live_from, live_to: first day and the day after the last day with events.
        fraud_start, fraud_end: tampering days [start, end); start >= end for honest meters.
        rng: the chunk's ``events`` generator.

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
