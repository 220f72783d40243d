"""The synthetic utility's field teams: campaign requests answered from the generator's truth.

In: a campaign's requests (campaign_id, customer_id), the ground truth of
fraud (``_truth/fraud.parquet``: customer_id, attack, fraud_start, fraud_end),
the inspection day, and the label settings of ``generate`` (no-access rate,
label noise). Out: ``inspections`` rows (``INSPECTIONS_SCHEMA`` columns) as
the field system would report them, carrying the campaign id.

A visit finds an irregularity when the customer's fraud runs on the
inspection day (started on or before it, not ended before it), flipped with
probability ``label_noise`` (a missed bypass, a meter fault taken for
tampering), as the generator labels its own inspections; a share
``no_access_rate`` of visits find nobody home. Recovered kWh of a true hit:
the months the fraud ran before the visit (at most 24) x the customer's
monthly kWh x ``stolen_share`` x a lognormal factor; a false hit reports a
small amount, as the generator does. Draws come from (seed, campaign id):
answering the same campaign again gives the same rows.
"""

from __future__ import annotations

import datetime as dt
import zlib
from collections.abc import Mapping

import numpy as np
import pandas as pd

from ntl_spark.generate.inspections import FALSE_IRREGULARITY, IRREGULARITY_BY_ATTACK, OTHER_IRREGULARITY

INSPECTION_COLUMNS = ("inspection_id", "customer_id", "inspected_on", "outcome", "irregularity", "recovered_kwh",
                      "campaign_id")


def fraud_running(truth: pd.DataFrame, day: dt.date) -> pd.DataFrame:
    """The truth rows whose fraud runs on ``day`` (one per customer: the latest start)."""
    start = pd.to_datetime(truth["fraud_start"]).dt.date
    end = pd.to_datetime(truth["fraud_end"]).dt.date
    on = (start <= day) & (truth["fraud_end"].isna() | (end > day))
    running = truth[on].assign(_start=start[on])
    return running.sort_values(["customer_id", "_start"]).drop_duplicates("customer_id", keep="last")


def answer_requests(
    requests: pd.DataFrame,
    truth: pd.DataFrame,
    inspected_on: dt.date,
    *,
    no_access_rate: float,
    label_noise: float,
    seed: int,
    monthly_kwh: Mapping[str, float] | None = None,
    stolen_share: float = 0.4,
) -> pd.DataFrame:
    """Inspection rows answering ``requests`` (one visit per request) on ``inspected_on``.

    Args:
        requests: campaign_id, customer_id (one campaign or several).
        truth: customer_id, attack, fraud_start, fraud_end (null = still running).
        inspected_on: the visits' day.
        no_access_rate: share of visits without access (no label).
        label_noise: chance that a visit with access reports the wrong label.
        seed: with each campaign id, seeds the draws.
        monthly_kwh: customer -> typical monthly kWh (recovered energy of true hits); missing = 300.
        stolen_share: share of the monthly kWh a fraud hides.

    Returns:
        ``INSPECTION_COLUMNS`` rows, ids ``<campaign_id>-<n>``, ordered by campaign and customer.

    Raises:
        ValueError: a rate outside [0, 1] or a column missing from ``requests``.
    """
    for name, rate in (("no_access_rate", no_access_rate), ("label_noise", label_noise)):
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"answer_requests: {name} must be in [0, 1], got {rate}")
    missing = [c for c in ("campaign_id", "customer_id") if c not in requests.columns]
    if missing:
        raise ValueError(f"answer_requests: requests lack column(s) {missing}")
    running = fraud_running(truth, inspected_on).set_index("customer_id")
    parts = []
    for campaign_id, part in requests.sort_values(["campaign_id", "customer_id"]).groupby("campaign_id", sort=True):
        rng = np.random.default_rng([seed, zlib.crc32(str(campaign_id).encode())])
        ids = part["customer_id"].astype(str).to_numpy()
        n = len(ids)
        reached = rng.random(n) >= no_access_rate
        flip = rng.random(n) < label_noise
        pick = rng.random(n)
        factor = rng.lognormal(0.0, 0.25, n)
        small = rng.uniform(30.0, 600.0, n)
        active = np.isin(ids, running.index.to_numpy())
        found = active ^ flip
        outcome = np.where(~reached, "no_access", np.where(found, "irregular", "regular"))
        irregularity: list[str | None] = []
        recovered: list[float | None] = []
        for i, cid in enumerate(ids):
            if outcome[i] != "irregular":
                irregularity.append(None)
                recovered.append(None)
                continue
            if active[i]:
                attack = str(running.loc[cid, "attack"])
                options = IRREGULARITY_BY_ATTACK.get(attack, OTHER_IRREGULARITY)
                months = min(24.0, max(1.0, (inspected_on - running.loc[cid, "_start"]).days / 30.4))
                kwh = float((monthly_kwh or {}).get(cid, 300.0))
                recovered.append(round(months * kwh * stolen_share * float(factor[i]), 0))
            else:
                options = FALSE_IRREGULARITY
                recovered.append(round(float(small[i]), 0))
            irregularity.append(options[int(pick[i] * len(options)) % len(options)])
        parts.append(pd.DataFrame({
            "inspection_id": [f"{campaign_id}-{i:06d}" for i in range(n)],
            "customer_id": ids,
            "inspected_on": [inspected_on] * n,
            "outcome": outcome,
            "irregularity": irregularity,
            "recovered_kwh": pd.array(recovered, dtype="Float64"),
            "campaign_id": [str(campaign_id)] * n,
        }))
    if not parts:
        return pd.DataFrame({c: [] for c in INSPECTION_COLUMNS})
    return pd.concat(parts, ignore_index=True)[list(INSPECTION_COLUMNS)]
