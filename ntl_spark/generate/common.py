"""Shared pieces of the synthetic generator: calendar, random streams, domains, progress.

In: the ``generate`` section of the configuration. Out: a ``Calendar`` (the
month window and the readings window as day numbers), seeded numpy generators
per table and chunk, and the domain tables (regions, tariffs, seasonality)
that the table modules draw from.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import sys
import time

import numpy as np

from ntl_spark.config import GenerateConf

# Customers are processed in fixed chunks: every random draw is seeded by
# (seed, stream, chunk), so results depend on the seed and not on memory limits.
CHUNK_CUSTOMERS = 50_000
# Smart meters per readings part file (meters x days x 96 rows each).
METERS_PER_PART = 1_000

INTERVALS = 96
US_PER_DAY = 86_400_000_000
US_PER_INTERVAL = 900_000_000

# Stream identifiers mixed into the seed of each random generator.
STREAMS = {
    "customers": 1,
    "bills": 2,
    "fraud": 3,
    "inspections": 4,
    "readings": 5,
    "events": 6,
    "campaigns": 7,
    "weather": 8,
}

REGIONS = ("MONTEVIDEO", "NORTE", "CENTRO", "ESTE", "OESTE", "SUR")
REGION_SHARE = np.array([0.40, 0.11, 0.11, 0.14, 0.10, 0.14])
REGION_LEVEL = np.array([1.10, 0.90, 0.92, 1.05, 0.95, 1.00])
# Centre (lat, lon) and spread in degrees of each region's customers.
REGION_GEO = np.array(
    [
        [-34.87, -56.17, 0.05],
        [-31.00, -56.60, 0.70],
        [-33.10, -56.00, 0.60],
        [-34.50, -54.60, 0.40],
        [-33.00, -57.90, 0.50],
        [-34.45, -56.60, 0.30],
    ]
)
# Uruguay's extent (lat_min, lat_max, lon_min, lon_max): coordinates are clipped
# to it, so that they pass ingest's bounding-box rule (ingest.bbox).
COUNTRY_BOX = (-34.97, -30.09, -58.43, -53.08)

TARIFFS = ("residential", "residential_two_period", "general", "medium")
TARIFF_SHARE = np.array([0.78, 0.10, 0.10, 0.02])
# Median monthly kWh, spread (sigma of the log) and load factor per tariff.
TARIFF_LEVEL = np.array([230.0, 420.0, 1_300.0, 16_000.0])
TARIFF_SIGMA = np.array([0.55, 0.50, 0.80, 0.70])
TARIFF_LOAD_FACTOR = np.array([0.12, 0.16, 0.25, 0.40])
TARIFF_MIN_KW = np.array([2.2, 3.3, 4.4, 40.0])

ACTIVITIES = (
    ("household",),
    ("household",),
    ("retail", "restaurant", "office", "workshop", "services", "agriculture", "education"),
    ("industry", "agroindustry", "hotel", "supermarket", "hospital", "cold_storage"),
)

# Monthly seasonality (Jan..Dec) per tariff: winter peak Jun-Aug (heating),
# a smaller summer peak in Jan-Feb (air conditioning).
SEASON = np.array(
    [
        [1.04, 1.00, 0.92, 0.90, 0.97, 1.12, 1.22, 1.16, 1.00, 0.91, 0.88, 0.96],
        [1.03, 1.00, 0.93, 0.91, 0.98, 1.12, 1.20, 1.15, 1.00, 0.92, 0.90, 0.96],
        [1.10, 1.08, 1.00, 0.94, 0.94, 1.00, 1.04, 1.02, 0.96, 0.94, 0.97, 1.04],
        [1.06, 1.05, 1.01, 0.97, 0.97, 1.00, 1.02, 1.01, 0.98, 0.97, 0.98, 1.01],
    ]
)

EPOCH = dt.date(1970, 1, 1)


def rng_for(seed: int, stream: str, chunk: int = 0) -> np.random.Generator:
    """A PCG64 generator for one table (stream) and chunk.

    Args:
        seed: ``generate.seed``.
        stream: one of ``STREAMS``.
        chunk: chunk number (customers chunk or readings part).

    Returns:
        An independent generator; the same arguments always give the same draws.
    """
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, STREAMS[stream], chunk])))


def month_index(day: dt.date) -> int:
    """Months since 1970-01 of the month holding ``day``."""
    return (day.year - 1970) * 12 + day.month - 1


def month_first_day(months: np.ndarray | int) -> np.ndarray:
    """Day number (since 1970-01-01) of the first day of each month index."""
    return (np.asarray(months, dtype="int64").astype("datetime64[M]").astype("datetime64[D]")).astype(np.int64)


def day_to_date(day: int) -> dt.date:
    return EPOCH + dt.timedelta(days=int(day))


@dataclasses.dataclass(frozen=True)
class Calendar:
    """Time frame of one generation run (all days as integers since 1970-01-01).

    Attributes:
        start_month: month index of the first billed month.
        months: number of billed months.
        month_start: first day of each billed month plus the day after the last one
            (``months + 1`` entries).
        moy: month of year (0 = January) of each billed month.
        read_start: first day with readings.
        read_days: number of days with readings (0 = no readings).
    """

    start_month: int
    months: int
    month_start: np.ndarray
    moy: np.ndarray
    read_start: int
    read_days: int

    @property
    def first_day(self) -> int:
        return int(self.month_start[0])

    @property
    def end_day(self) -> int:
        """The day after the last day of the window."""
        return int(self.month_start[-1])

    @property
    def days_in_month(self) -> np.ndarray:
        return np.diff(self.month_start)

    def month_of_day(self, days: np.ndarray) -> np.ndarray:
        """Position in the window (0..months-1) of the month holding each day (clipped)."""
        return np.clip(np.searchsorted(self.month_start, days, side="right") - 1, 0, self.months - 1)

    @classmethod
    def from_conf(cls, gc: GenerateConf) -> Calendar:
        end = month_index(dt.date.fromisoformat(gc.end_month))
        start = end - gc.months + 1
        idx = np.arange(start, end + 2)
        month_start = month_first_day(idx)
        read_days = int(gc.reading_days)
        return cls(
            start_month=start,
            months=gc.months,
            month_start=month_start,
            moy=(idx[:-1] % 12).astype(np.int64),
            read_start=int(month_start[-1]) - read_days,
            read_days=read_days,
        )


class Progress:
    """One progress line per step on stderr with the running rate."""

    def __init__(self, label: str, total: int, unit: str = "rows") -> None:
        self.label = label
        self.total = total
        self.unit = unit
        self.done = 0
        self.rows = 0
        self.busy = 0.0
        self.started = time.perf_counter()

    def step(self, done: int, rows: int, seconds: float) -> None:
        """Record ``done`` more units of work that produced ``rows`` rows in ``seconds``."""
        self.done += done
        self.rows += rows
        self.busy += seconds
        rate = self.rows / max(self.busy, 1e-9)
        print(
            f"[generate] {self.label}: {self.done:,}/{self.total:,} {self.unit}, {self.rows:,} rows, "
            f"{rate:,.0f} rows/s, {self.busy:.1f} s busy",
            file=sys.stderr,
            flush=True,
        )

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.started
