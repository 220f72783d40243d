"""Simulate: the field loop closed on the synthetic utility, month after month.

In: the ``generate`` section (the utility and its fraud truth) and the
``simulate`` section. Out: the usual lakehouse tables, MLflow models, and
under ``<paths.reports>/<simulate.report_dir>/``: ``months.json`` (per
simulated month and arm: requests, labelled visits, hit rate with its Wilson
interval, recovered kWh; the model version used, whether retraining was
advised and done) and ``hit_rate.png`` / ``recovered_kwh.png``.

The last ``simulate.months`` billed months of the generated window are
simulated. Before the first, the field has done only what the generator
recorded (its inspections from the first simulated scoring day on are
removed from the bronze table), and a first model is trained and made
champion. Then, for each month M:

features (reference month M, the training set rebuilt from every label so
far) -> score (the champion, scored on M + 1) -> campaign (created that day)
-> the generator's field teams answer each request from the truth, with its
label noise and no-access rate, two weeks later (:mod:`ntl_spark.generate.field`)
-> the answers land in the bronze ``inspections`` -> outcomes -> monitor ->
when it advises retraining (exit-code 10 semantics) and ``simulate.retrain``:
features again (the training set with the month's answers), train, and the
new version becomes champion for the next month.

The bills were generated ahead, so a thief caught in the loop keeps stealing
in the later bills: the simulation measures the hit rate of each month's
choices, not the utility's recovery over time. Retraining learns from the
model's own campaigns plus the control arm: ``months.json`` shows whether the
model arm's hit rate holds against the control arm's (selection bias).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from pathlib import Path
from typing import Any

from ntl_spark.config import Config, apply_overrides

log = logging.getLogger(__name__)


def add_months(day: dt.date, months: int) -> dt.date:
    """The first day of the month ``months`` after ``day``'s month."""
    y, m = divmod(day.year * 12 + day.month - 1 + months, 12)
    return dt.date(y, m + 1, 1)


def simulated_months(cfg: Config) -> list[dt.date]:
    """The reference months simulated: the last ``simulate.months`` billed months of the generated window."""
    end = dt.date.fromisoformat(cfg.generate.end_month)
    return [add_months(end, -k) for k in range(cfg.simulate.months - 1, -1, -1)]


def month_summary(outcomes: Any, campaign_id: str) -> dict[str, dict[str, float]]:
    """Per arm of one campaign: requests answered, labelled, irregular, hit rate and Wilson interval, recovered kWh."""
    from pyspark.sql import functions as F

    from ntl_spark import fieldstats

    rows = (
        outcomes.where(F.col("campaign_id") == campaign_id).groupBy("arm")
        .agg(F.count("*").alias("visits"), F.sum((~F.col("no_access")).cast("long")).alias("labelled"),
             F.sum(F.coalesce(F.col("irregular"), F.lit(False)).cast("long")).alias("irregular"),
             F.sum(F.coalesce(F.col("recovered_kwh"), F.lit(0.0))).alias("recovered_kwh"))
        .collect()
    )
    out: dict[str, dict[str, float]] = {}
    for r in rows:
        k, n = int(r["irregular"] or 0), int(r["labelled"] or 0)
        lo, hi = fieldstats.wilson(k, n)
        out[str(r["arm"])] = {"visits": int(r["visits"]), "labelled": n, "irregular": k,
                              "hit_rate": k / n if n else float("nan"), "hit_rate_low": lo, "hit_rate_high": hi,
                              "recovered_kwh": float(r["recovered_kwh"] or 0.0)}
    return out


def plot(months: list[dict[str, Any]], folder: Path) -> list[Path]:
    """Hit rate per arm per month (Wilson intervals, retrains marked) and recovered kWh per arm per month."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    labels = [m["month"][:7] for m in months]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for arm, colour in (("model", "#1f77b4"), ("control", "#d62728")):
        xs, ys, lo, hi = [], [], [], []
        for i, m in enumerate(months):
            a = m["arms"].get(arm)
            if a and a["labelled"]:
                xs.append(i)
                ys.append(a["hit_rate"])
                lo.append(a["hit_rate"] - a["hit_rate_low"])
                hi.append(a["hit_rate_high"] - a["hit_rate"])
        ax.errorbar(xs, ys, yerr=[lo, hi], marker="o", capsize=3, label=arm, color=colour)
    for i, m in enumerate(months):
        if m["retrained"]:
            ax.axvline(i + 0.5, color="#999", linestyle="--")
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels(labels, rotation=45, ha="right")
    ax.set_ylim(bottom=0)
    ax.set_ylabel("hit rate (irregular / labelled)")
    ax.set_title("Closed-loop simulation: hit rate per arm (dashed: retrained after)")
    ax.legend()
    ax.grid(alpha=0.3)
    hit = folder / "hit_rate.png"
    fig.savefig(hit, dpi=100, bbox_inches="tight")
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(8, 4.5))
    width = 0.4
    for j, arm in enumerate(("model", "control")):
        ax.bar([i + j * width for i in range(len(months))],
               [m["arms"].get(arm, {}).get("recovered_kwh", 0.0) for m in months], width=width, label=arm)
    ax.set_xticks([i + width / 2 for i in range(len(months))])
    ax.set_xticklabels(labels, rotation=45, ha="right")
    ax.set_ylabel("recovered kWh")
    ax.set_title("Closed-loop simulation: recovered kWh per arm")
    ax.legend()
    kwh = folder / "recovered_kwh.png"
    fig.savefig(kwh, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return [hit, kwh]


def _plain(value: Any) -> Any:
    """A pandas/numpy cell as a Python value Spark accepts (missing -> None)."""
    import pandas as pd

    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return None
    return value.item() if hasattr(value, "item") else value


def run(cfg: Config) -> dict[str, Any]:
    """Generate the utility, then run the closed loop for ``simulate.months`` months (see the module docstring)."""
    import pandas as pd
    from pyspark.sql import functions as F

    from ntl_spark import (
        campaign,
        features,
        generate,
        ingest,
        lakehouse,
        monitor,
        outcomes,
        schemas,
        score,
        tracking,
        train,
    )
    from ntl_spark.generate import field
    from ntl_spark.session import build_session

    sim = cfg.simulate
    started = time.time()
    refs = simulated_months(cfg)
    first_day = add_months(refs[0], 1)
    if sim.generate:
        generate.run(cfg)
    truth = pd.read_parquet(Path(generate.output_dir(cfg)) / "_truth" / "fraud.parquet")
    from pyspark.sql import SparkSession

    owned = SparkSession.getActiveSession() is None  # a session that runs already (a test) stays up
    spark = build_session(cfg, app_name="ntl-simulate")
    months: list[dict[str, Any]] = []
    try:
        ingest.run(spark, cfg)
        # the field has done only what the generator recorded before the first simulated scoring day
        path = cfg.paths.table(schemas.INSPECTIONS)
        bronze = lakehouse.read_pinned(spark, path, schemas.INSPECTIONS, "ingest")
        kept = bronze.df.where(F.col("inspected_on") < F.lit(first_day))
        lakehouse.write(kept, path, schemas.INSPECTIONS, schema=schemas.bronze_schema(schemas.INSPECTIONS))
        setup = apply_overrides(cfg, [f"features.reference_month={refs[0].isoformat()}"])
        features.run(spark, setup)
        client = tracking.setup(cfg)
        first = train.run(spark, setup)
        if first.model_version is None:
            raise RuntimeError("simulate: train registered no version (train.register must be true)")
        tracking.set_alias(client, cfg.model.name, cfg.model.champion, first.model_version)
        champion = first.model_version
        for i, ref in enumerate(refs):
            scored_on = add_months(ref, 1)
            campaign_id = f"SIM-{ref:%Y%m}"
            m_cfg = apply_overrides(cfg, [
                f"features.reference_month={ref.isoformat()}", f"score.scored_on={scored_on.isoformat()}",
                "score.model_ref=", f"campaign.created_on={scored_on.isoformat()}", f"campaign.id={campaign_id}",
                "campaign.scored_on=", "campaign.model_ref=",
            ])
            if i > 0:
                features.run(spark, m_cfg)
            score.run(spark, m_cfg)
            made = campaign.run(spark, m_cfg)
            requests = lakehouse.read_pinned(spark, cfg.paths.table(schemas.CAMPAIGNS), schemas.CAMPAIGNS,
                                             "campaign").df.where(F.col("campaign_id") == campaign_id)
            mf = lakehouse.read_pinned(spark, cfg.paths.table(schemas.MONTHLY_FEATURES), schemas.MONTHLY_FEATURES,
                                       "features").df.where(F.col("reference_month") == F.lit(ref))
            kwh = {r["customer_id"]: float(r["mean_12"] or 0.0) for r in
                   mf.join(requests.select("customer_id"), "customer_id").select("customer_id", "mean_12").collect()}
            visit = scored_on + dt.timedelta(days=sim.visit_days)
            answers = field.answer_requests(
                requests.select("campaign_id", "customer_id").toPandas(), truth, visit,
                no_access_rate=cfg.generate.no_access_rate, label_noise=cfg.generate.label_noise,
                seed=cfg.generate.seed, monthly_kwh=kwh)
            rows = spark.createDataFrame(
                [(*[_plain(v) for v in rec], "simulate", "simulate", dt.datetime.now())
                 for rec in answers.itertuples(index=False, name=None)],
                schemas.bronze_schema(schemas.INSPECTIONS))
            lakehouse.write(rows, path, schemas.INSPECTIONS, where=f"campaign_id = '{campaign_id}'",
                            schema=schemas.bronze_schema(schemas.INSPECTIONS))
            outcomes.run(spark, m_cfg)
            verdict = monitor.run(spark, m_cfg)
            out_df = lakehouse.read_pinned(spark, cfg.paths.table(schemas.OUTCOMES_TABLE), schemas.OUTCOMES_TABLE,
                                           "outcomes").df
            retrained = False
            if verdict["retrain"] and sim.retrain and i < len(refs) - 1:
                features.run(spark, m_cfg)  # the training set with this month's answers
                result = train.run(spark, m_cfg)
                if result.model_version is not None:
                    tracking.set_alias(client, cfg.model.name, cfg.model.champion, result.model_version)
                    champion, retrained = result.model_version, True
            months.append({"month": ref.isoformat(), "campaign_id": campaign_id, "requests": made["rows"],
                           "model_version": made["model_version"], "retrain_advised": verdict["retrain"],
                           "reasons": verdict["reasons"], "retrained": retrained, "champion_after": champion,
                           "arms": month_summary(out_df, campaign_id)})
    finally:
        if owned:
            spark.stop()
    folder = Path(cfg.paths.resolve("reports")) / sim.report_dir
    figures = plot(months, folder)
    (folder / "months.json").write_text(json.dumps(months, indent=1, default=str))
    took = time.time() - started
    print(f"\nsimulate: {len(months)} months in {took:.0f} s; {folder / 'months.json'}")
    print(f"  {'month':<8} {'version':>7} {'arm':<8} {'hits':>10} {'hit rate':>9} {'95% interval':>16} {'kWh':>10}")
    for m in months:
        for arm in ("model", "control"):
            a = m["arms"].get(arm)
            if a:
                print(f"  {m['month'][:7]:<8} {m['model_version']:>7} {arm:<8} {a['irregular']:>4}/{a['labelled']:<5} "
                      f"{a['hit_rate']:>9.3f} [{a['hit_rate_low']:.3f}, {a['hit_rate_high']:.3f}] "
                      f"{a['recovered_kwh']:>10,.0f}")
        if m["retrain_advised"]:
            print(f"    retrain advised ({'; '.join(m['reasons'])[:200]}){' -> retrained' if m['retrained'] else ''}")
    return {"months": months, "figures": [str(f) for f in figures], "seconds": took, "report": str(folder)}
