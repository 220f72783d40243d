"""Synthetic customers (service points) of one chunk.

In: the ``generate`` configuration, the calendar, the chunk's first customer
number and size, and how many smart meters earlier chunks handed out. Out: a
``Customers`` bundle of numpy arrays (including hidden attributes the other
tables need: consumption level, disconnection day) and its ``customers``
table as a pyarrow Table with ``CUSTOMERS_SCHEMA``.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pyarrow as pa

from ntl_spark.config import GenerateConf
from ntl_spark.generate.common import (
    ACTIVITIES,
    COUNTRY_BOX,
    REGION_GEO,
    REGION_LEVEL,
    REGION_SHARE,
    REGIONS,
    TARIFF_LEVEL,
    TARIFF_LOAD_FACTOR,
    TARIFF_MIN_KW,
    TARIFF_SHARE,
    TARIFF_SIGMA,
    TARIFFS,
    Calendar,
)

INACTIVE_SHARE = 0.03
NEW_CONNECTION_SHARE = 0.12
NO_GEO_SHARE = 0.05
NO_ACTIVITY_SHARE = 0.02


@dataclasses.dataclass
class Customers:
    """One chunk of customers as arrays (row i is the same customer everywhere).

    Attributes:
        number: customer number (1-based, global).
        region, tariff: indices into ``REGIONS`` / ``TARIFFS``.
        level: typical monthly kWh before seasonality.
        connected: connection day; disconnected: day service ended (``end_day`` if active).
        meter_no: smart meter number (1-based) or 0 for conventional meters.
    """

    number: np.ndarray
    region: np.ndarray
    tariff: np.ndarray
    level: np.ndarray
    contracted_kw: np.ndarray
    activity: np.ndarray
    latitude: np.ndarray
    longitude: np.ndarray
    connected: np.ndarray
    disconnected: np.ndarray
    inactive: np.ndarray
    meter_no: np.ndarray

    def __len__(self) -> int:
        return len(self.number)

    @property
    def smart(self) -> np.ndarray:
        return self.meter_no > 0

    def customer_ids(self) -> pa.Array:
        return pa.array([f"C{i:07d}" for i in self.number.tolist()], type=pa.string())

    def meter_ids(self) -> pa.Array:
        """Meter id per customer (null for conventional meters)."""
        return pa.array([f"M{i:07d}" if i > 0 else None for i in self.meter_no.tolist()], type=pa.string())

    def to_table(self) -> pa.Table:
        """The contract's ``customers`` rows of this chunk."""
        n = len(self)
        smart = self.smart
        return pa.table(
            {
                "customer_id": self.customer_ids(),
                "meter_id": self.meter_ids(),
                "meter_type": pa.array(np.where(smart, "smart", "conventional").tolist(), type=pa.string()),
                "region": pa.array(np.asarray(REGIONS, dtype=object)[self.region].tolist(), type=pa.string()),
                "tariff": pa.array(np.asarray(TARIFFS, dtype=object)[self.tariff].tolist(), type=pa.string()),
                "contracted_kw": pa.array(self.contracted_kw, type=pa.float64()),
                "activity": pa.array(self.activity.tolist(), type=pa.string()),
                "latitude": pa.array(self.latitude, type=pa.float64(), from_pandas=True),
                "longitude": pa.array(self.longitude, type=pa.float64(), from_pandas=True),
                "connected_on": pa.array(self.connected.astype(np.int32), type=pa.date32()),
                "status": pa.array(np.where(self.inactive, "inactive", "active").tolist(), type=pa.string()),
            }
        ) if n else pa.table({})


def make_customers(
    gc: GenerateConf,
    cal: Calendar,
    first: int,
    n: int,
    meters_before: int,
    rng: np.random.Generator,
) -> Customers:
    """Draw ``n`` customers numbered from ``first``.

    Args:
        gc: the ``generate`` configuration.
        cal: the run's calendar.
        first: number of the first customer of the chunk (1-based).
        n: chunk size.
        meters_before: smart meters handed out to earlier chunks.
        rng: the chunk's ``customers`` generator.

    Returns:
        The chunk's customers.
    """
    region = rng.choice(len(REGIONS), n, p=REGION_SHARE)
    tariff = rng.choice(len(TARIFFS), n, p=TARIFF_SHARE)
    level = TARIFF_LEVEL[tariff] * REGION_LEVEL[region] * rng.lognormal(0.0, TARIFF_SIGMA[tariff])
    peak = level / (730.0 * TARIFF_LOAD_FACTOR[tariff]) * rng.uniform(1.2, 2.5, n)
    contracted_kw = np.maximum(np.ceil(peak * 10.0) / 10.0, TARIFF_MIN_KW[tariff])

    choices = [np.asarray(a, dtype=object) for a in ACTIVITIES]
    activity = np.empty(n, dtype=object)
    for t, names in enumerate(choices):
        rows = np.flatnonzero(tariff == t)
        activity[rows] = names[rng.integers(0, len(names), len(rows))]
    activity[rng.random(n) < NO_ACTIVITY_SHARE] = None

    geo = REGION_GEO[region]
    lat = np.round(np.clip(geo[:, 0] + rng.normal(0.0, 1.0, n) * geo[:, 2], *COUNTRY_BOX[:2]), 6)
    lon = np.round(np.clip(geo[:, 1] + rng.normal(0.0, 1.0, n) * geo[:, 2], *COUNTRY_BOX[2:]), 6)
    no_geo = rng.random(n) < NO_GEO_SHARE
    lat[no_geo] = np.nan
    lon[no_geo] = np.nan

    first_day, end_day = cal.first_day, cal.end_day
    new = rng.random(n) < NEW_CONNECTION_SHARE
    old_day = first_day - rng.integers(30, 25 * 365, n)
    new_day = rng.integers(first_day, max(first_day + 1, end_day - 120), n)
    connected = np.where(new, new_day, old_day)

    inactive = rng.random(n) < INACTIVE_SHARE
    lo = np.maximum(connected, first_day) + 90
    off_day = lo + (rng.random(n) * np.maximum(end_day - 1 - lo, 1)).astype(np.int64)
    inactive &= off_day < end_day
    disconnected = np.where(inactive, off_day, end_day)

    p_smart = min(gc.smart_meter_share, gc.max_smart_meters / max(gc.customers, 1))
    smart = (rng.random(n) < p_smart) & ~inactive
    meter_no = np.where(smart, meters_before + np.cumsum(smart), 0)
    meter_no[meter_no > gc.max_smart_meters] = 0

    return Customers(
        number=np.arange(first, first + n, dtype=np.int64),
        region=region,
        tariff=tariff,
        level=level,
        contracted_kw=contracted_kw,
        activity=activity,
        latitude=lat,
        longitude=lon,
        connected=connected.astype(np.int64),
        disconnected=disconnected.astype(np.int64),
        inactive=inactive,
        meter_no=meter_no.astype(np.int64),
    )
