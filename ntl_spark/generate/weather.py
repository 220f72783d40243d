"""Weather-driven, region-specific seasonality of the synthetic consumption.

In: the calendar, the ``generate.weather`` settings and the run's ``weather``
random stream. Out: a factor per (tariff, region, month of the window) that
multiplies a customer's level: heating below 17 °C and cooling above 23 °C
of the month's mean temperature, with each region's climate and a monthly
anomaly (a warm winter, a cool summer) shared by every customer of a region,
so that one region's consumption can drop for a year for no honest customer's
fault. Factors are normalised to a mean of 1 over a normal year.
"""

from __future__ import annotations

import numpy as np

from ntl_spark.config import WeatherConf
from ntl_spark.generate.common import REGIONS, SEASON, TARIFFS, Calendar

# Monthly mean temperature (Jan..Dec, °C) per region (order of REGIONS): the
# north is warmer in summer, the east coast milder.
TEMP_NORMAL = np.array(
    [
        [23.0, 22.5, 20.8, 17.5, 14.2, 11.5, 10.9, 11.8, 13.4, 16.2, 18.8, 21.5],  # MONTEVIDEO
        [26.4, 25.4, 23.4, 19.6, 16.2, 13.3, 12.8, 14.5, 16.3, 19.4, 22.3, 25.0],  # NORTE
        [24.4, 23.6, 21.4, 17.8, 14.3, 11.4, 10.8, 12.2, 14.1, 17.0, 20.0, 23.0],  # CENTRO
        [21.8, 21.6, 20.0, 16.8, 13.8, 11.2, 10.5, 11.3, 12.9, 15.5, 18.0, 20.4],  # ESTE
        [25.4, 24.5, 22.4, 18.6, 15.2, 12.2, 11.7, 13.2, 15.2, 18.3, 21.3, 24.1],  # OESTE
        [23.2, 22.6, 20.6, 17.2, 13.9, 11.1, 10.5, 11.6, 13.3, 16.1, 18.9, 21.7],  # SUR
    ]
)
HEAT_BELOW = 17.0
COOL_ABOVE = 23.0
# Share of the level added per °C of heating and cooling degree, per tariff.
HEAT_PER_DEGREE = np.array([0.045, 0.050, 0.015, 0.008])
COOL_PER_DEGREE = np.array([0.035, 0.035, 0.050, 0.020])
# Part of a month's anomaly shared by the whole country; the rest is the region's own.
NATIONAL_SHARE = 0.5
ANOMALY_MEMORY = 0.5  # AR(1) coefficient from one month to the next


def _response(temp: np.ndarray) -> np.ndarray:
    """Use per tariff for temperatures ``temp`` (any shape): shape (tariffs, *temp.shape)."""
    heat = np.maximum(HEAT_BELOW - temp, 0.0)
    cool = np.maximum(temp - COOL_ABOVE, 0.0)
    t = (slice(None),) + (None,) * temp.ndim
    return 1.0 + HEAT_PER_DEGREE[t] * heat[None] + COOL_PER_DEGREE[t] * cool[None]


def anomalies(cal: Calendar, sd: float, rng: np.random.Generator) -> np.ndarray:
    """Temperature anomaly (°C) per region and month of the window, shape (regions, months)."""
    r, m = len(REGIONS), cal.months
    shocks = NATIONAL_SHARE * rng.standard_normal((1, m)) + (1.0 - NATIONAL_SHARE) * rng.standard_normal((r, m))
    out = np.zeros((r, m))
    scale = sd * np.sqrt(1.0 - ANOMALY_MEMORY**2) / np.sqrt(NATIONAL_SHARE**2 + (1.0 - NATIONAL_SHARE) ** 2)
    prev = np.zeros(r)
    for i in range(m):
        prev = ANOMALY_MEMORY * prev + scale * shocks[:, i]
        out[:, i] = prev
    return out


def season_factors(cal: Calendar, conf: WeatherConf, rng: np.random.Generator) -> np.ndarray:
    """Seasonal factor per (tariff, region, month of the window).

    With ``conf.enabled`` false every region follows the fixed per-tariff
    ``SEASON`` table, as before weather was modelled.

    Args:
        cal: the calendar.
        conf: ``generate.weather``.
        rng: the run's ``weather`` generator (the same for every chunk).

    Returns:
        Array (tariffs, regions, months), mean about 1 over a normal year.
    """
    if not conf.enabled:
        return np.broadcast_to(SEASON[:, None, cal.moy], (len(TARIFFS), len(REGIONS), cal.months)).copy()
    normal = _response(TEMP_NORMAL)  # (tariffs, regions, 12)
    mean = normal.mean(axis=-1, keepdims=True)
    temp = TEMP_NORMAL[:, cal.moy] + anomalies(cal, conf.anomaly_sd, rng)
    return _response(temp) / mean
