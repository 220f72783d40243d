"""Monitor: is the champion still good enough? Advise retraining with exit code 10.

In: the champion (``model.champion``) and its registration time, its
``scores`` (the latest scoring day, and the first one as the reference),
``training_set`` and the ``monthly_features`` of the scored month, and
``outcomes``.
Out: rows appended to the ``monitoring`` Delta table
(``schemas.MONITORING_SCHEMA``), one per check, and the run's verdict:
``retrain`` true when any check advises it. The ``monitor`` job exits
:data:`ntl_spark.errors.EXIT_RETRAIN` (10) then, 0 when there is nothing to
do; the monthly cycle and the schedulers branch on it.

Checks (thresholds in the ``monitor`` section):

- ``feature_drift``: PSI of each numeric input of the champion (those its
  metadata records; for a version that records none, those of
  ``train.raw_consumption``) over the scored population, the month of the
  champion's first scoring day vs the month of its latest
  (:mod:`ntl_spark.validate.drift`); retrain at ``feature_psi_retrain``.
  Not the training set: inspected customers are a chosen sample and differ
  from the population by construction (the data gate's train/serve skew
  report shows that difference);
- ``score_drift``: PSI of the champion's scores, its first scoring day vs the
  latest; retrain at ``score_psi_retrain``;
- ``hit_rate``: the model arm's hit rate over the last ``months`` months of
  outcomes; retrain when its Wilson 95% upper bound is below
  ``hit_rate_floor`` (with at least ``min_labelled`` labelled inspections);
- ``lift``: the model arm over the control arm; retrain when the upper bound
  of the lift's 95% interval is below ``min_lift`` (the model is, with
  confidence, no better than a random draw; both arms need ``min_labelled``);
- ``new_labels``: labelled inspections after the latest label of the
  champion's training data (the ``training_set`` version its run recorded;
  else after its registration day); retrain at ``min_new_labels``.

A check without data (no outcomes yet, one scoring day) is recorded with a
null value and does not advise anything.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from typing import Any

import numpy as np
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from ntl_spark import fieldstats, lakehouse, models, schemas, tracking
from ntl_spark.config import Config, MonitorConf
from ntl_spark.errors import EXIT_OK, EXIT_RETRAIN, MissingInputError
from ntl_spark.validate import drift

log = logging.getLogger(__name__)

Check = tuple[str, str, float | None, float | None, bool, str]  # check, subject, value, threshold, retrain, detail


def hit_rate_checks(outcomes: DataFrame, version: str, since: dt.date, mc: MonitorConf) -> list[Check]:
    """The ``hit_rate`` and ``lift`` checks on the outcomes of ``version`` inspected on or after ``since``."""
    rows = (
        outcomes.where((F.col("model_version") == version) & (F.col("inspected_on") >= F.lit(since))
                       & F.col("arm").isin("model", "control") & ~F.col("no_access"))
        .groupBy("arm").agg(F.count("*").alias("n"), F.sum(F.col("irregular").cast("long")).alias("k")).collect()
    )
    got = {r["arm"]: (int(r["k"] or 0), int(r["n"])) for r in rows}
    k1, n1 = got.get("model", (0, 0))
    k0, n0 = got.get("control", (0, 0))
    out: list[Check] = []
    if n1 >= mc.min_labelled:
        lo, hi = fieldstats.wilson(k1, n1)
        out.append(("hit_rate", "model", k1 / n1, mc.hit_rate_floor, hi < mc.hit_rate_floor,
                    f"{k1}/{n1} irregular since {since}, Wilson 95% [{lo:.3f}, {hi:.3f}]"))
    else:
        out.append(("hit_rate", "model", None, mc.hit_rate_floor, False,
                    f"{n1} labelled model-arm inspections since {since} (< monitor.min_labelled {mc.min_labelled})"))
    if n1 >= mc.min_labelled and n0 >= mc.min_labelled:
        lift, lo, hi = fieldstats.lift_interval(k1, n1, k0, n0)
        out.append(("lift", "model/control", lift, mc.min_lift, hi < mc.min_lift,
                    f"model {k1}/{n1} vs control {k0}/{n0}, lift 95% [{lo:.3f}, {hi:.3f}]"))
    else:
        out.append(("lift", "model/control", None, mc.min_lift, False,
                    f"labelled since {since}: model {n1}, control {n0} (each needs monitor.min_labelled "
                    f"{mc.min_labelled})"))
    return out


def new_label_check(outcomes: DataFrame, after: dt.date, how: str, mc: MonitorConf) -> Check:
    """The ``new_labels`` check: labelled inspections (any arm) after ``after``."""
    n = outcomes.where(~F.col("no_access") & (F.col("inspected_on") > F.lit(after))).count()
    return ("new_labels", schemas.OUTCOMES_TABLE, float(n), float(mc.min_new_labels), n >= mc.min_new_labels,
            f"{n} labelled inspections after {after} ({how})")


def label_cutoff(spark: SparkSession, cfg: Config, client: Any, ref: tracking.ModelRef) -> tuple[dt.date, str]:
    """The last inspection day the champion could have learnt from, and how it was found.

    The latest ``inspected_on`` of the ``training_set`` version its training
    run recorded (``data.training_set.version``); without one, the day the
    version was registered.
    """
    if ref.run_id:
        params = client.get_run(ref.run_id).data.params
        recorded = params.get(f"data.{schemas.TRAINING_SET}.version")
        if recorded is not None:
            ts = lakehouse.read_pinned(spark, cfg.paths.table(schemas.TRAINING_SET), schemas.TRAINING_SET, "features",
                                       int(recorded)).df
            last = ts.agg(F.max("inspected_on")).first()
            if last is not None and last[0] is not None:
                return last[0], f"the latest label in training_set v{recorded}, the champion's training data"
    registered = dt.datetime.fromtimestamp(
        client.get_model_version(ref.name, ref.version).creation_timestamp / 1000).date()
    return registered, "the champion's registration day"


def verdict_code(result: dict[str, Any]) -> int:
    """The monitor job's exit code: 10 when retraining is advised, else 0."""
    return EXIT_RETRAIN if result.get("retrain") else EXIT_OK


def _months_before(day: dt.date, months: int) -> dt.date:
    y, m = divmod(day.year * 12 + day.month - 1 - months, 12)
    return dt.date(y, m + 1, 1)


def run(spark: SparkSession, cfg: Config) -> dict[str, Any]:
    """Run every check on the champion, append them to ``monitoring`` and return the verdict."""
    mc = cfg.monitor
    client = tracking.setup(cfg)
    if tracking.alias_version(client, cfg.model.name, cfg.model.champion) is None:
        raise MissingInputError(f"registered model '{cfg.model.name}' has no champion (alias "
                                f"'{cfg.model.champion}') to monitor: run validate_model or promote")
    ref = tracking.resolve(client, cfg.model.name, cfg.model.champion)
    cutoff, cutoff_how = label_cutoff(spark, cfg, client, ref)
    checks: list[Check] = []
    versions: dict[str, int | None] = {}

    scores_p = lakehouse.read_optional(spark, cfg.paths.table(schemas.SCORES))
    scored_on: dt.date | None = None
    if scores_p is not None:
        versions[schemas.SCORES] = scores_p.version
        mine = scores_p.df.where((F.col("model_name") == ref.name) & (F.col("model_version") == ref.version))
        days = sorted(r[0] for r in mine.select("scored_on").distinct().collect())
        if cfg.score.scored_on:
            wanted = dt.date.fromisoformat(cfg.score.scored_on)
            days = [d for d in days if d <= wanted]
        if days:
            scored_on = days[-1]
            latest = mine.where(F.col("scored_on") == F.lit(scored_on))
            if len(days) > 1:
                first = np.array([r[0] for r in mine.where(F.col("scored_on") == F.lit(days[0]))
                                  .select("score").collect()])
                now = np.array([r[0] for r in latest.select("score").collect()])
                d = drift.array_drift(first, now, cfg.validation.drift.bins, mc.score_psi_retrain,
                                      mc.score_psi_retrain)
                checks.append(("score_drift", "score", d.psi, mc.score_psi_retrain, d.psi >= mc.score_psi_retrain,
                               f"scores of {days[0]} vs {scored_on}"))
            else:
                checks.append(("score_drift", "score", None, mc.score_psi_retrain, False,
                               f"one scoring day ({scored_on}) of v{ref.version}: nothing to compare"))
            checks += _feature_checks(spark, cfg, mine.where(F.col("scored_on") == F.lit(days[0])), latest,
                                      versions, ref=ref)
    if scored_on is None:
        checks.append(("score_drift", "score", None, mc.score_psi_retrain, False,
                       f"no scores of {ref.name} v{ref.version}"))

    outcomes_p = lakehouse.read_optional(spark, cfg.paths.table(schemas.OUTCOMES_TABLE), schemas.OUTCOMES_TABLE, "outcomes")
    if outcomes_p is not None:
        versions[schemas.OUTCOMES_TABLE] = outcomes_p.version
        last = outcomes_p.df.agg(F.max("inspected_on")).first()
        end = last[0] if last is not None and last[0] is not None else dt.date.today()
        checks += hit_rate_checks(outcomes_p.df, ref.version, _months_before(end, mc.months - 1), mc)
        checks.append(new_label_check(outcomes_p.df, cutoff, cutoff_how, mc))
    else:
        checks.append(("hit_rate", "model", None, mc.hit_rate_floor, False, "no outcomes table yet"))

    run_at = dt.datetime.now().replace(microsecond=0)
    lineage = lakehouse.merge_lineage(versions)
    rows = [(run_at, ref.name, ref.version, scored_on, c, s,
             None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v), t, bool(r), det, lineage)
            for c, s, v, t, r, det in checks]
    version = lakehouse.write(spark.createDataFrame(rows, schemas.MONITORING_SCHEMA),
                              cfg.paths.table(schemas.MONITORING), schemas.MONITORING, mode="append",
                              schema=schemas.MONITORING_SCHEMA)
    reasons = [f"{c} {s}: {det}" for c, s, _v, _t, r, det in checks if r]
    retrain = bool(reasons)
    print(f"monitor: {ref.name} v{ref.version} (@{cfg.model.champion}), {len(checks)} checks, monitoring Delta "
          f"v{version}: {'RETRAIN ADVISED (exit 10)' if retrain else 'nothing to do'}")
    for c, s, v, t, r, det in checks:
        if c != "feature_drift" or r:
            print(f"  {'!' if r else ' '} {c:<13} {s:<14} {'-' if v is None else f'{v:.4f}':>9} "
                  f"(threshold {t}) {det}")
    return {"retrain": retrain, "reasons": reasons, "checks": len(checks), "version": version,
            "model_version": ref.version, "scored_on": scored_on}


def _feature_checks(spark: SparkSession, cfg: Config, first_day: DataFrame, latest: DataFrame,
                    versions: dict[str, int | None], inputs: list[str] | None = None,
                    ref: tracking.ModelRef | None = None) -> list[Check]:
    """Feature drift of the scored population: the month of the champion's first scoring day vs its latest.

    ``inputs``: the champion's numeric inputs; without them, those ``ref`` records
    (:func:`models.recorded_numeric_inputs`, read only when there are two months to
    compare); None: those of ``train.raw_consumption``
    (:func:`ntl_spark.validate.drift.drift_columns`).
    """
    mc = cfg.monitor
    mf = lakehouse.read_optional(spark, cfg.paths.table(schemas.MONTHLY_FEATURES))
    then = first_day.select("reference_month").first()
    now = latest.select("reference_month").first()
    if mf is None or then is None or now is None:
        return [("feature_drift", "-", None, mc.feature_psi_retrain, False, "monthly_features or scores missing")]
    versions[schemas.MONTHLY_FEATURES] = mf.version
    if then[0] == now[0]:
        return [("feature_drift", "-", None, mc.feature_psi_retrain, False,
                 f"one scored month ({now[0]}) of this version: nothing to compare")]
    reference = mf.df.where(F.col("reference_month") == F.lit(then[0]))
    month = mf.df.where(F.col("reference_month") == F.lit(now[0]))
    if inputs is None and ref is not None:
        inputs = models.recorded_numeric_inputs(ref)
    columns = drift.drift_columns(cfg, month, inputs=inputs)
    if not columns:
        return [("feature_drift", "-", None, mc.feature_psi_retrain, False, "no model input in monthly_features")]
    found = drift.feature_drift(reference, {"scoring": month}, columns, cfg.validation.drift.bins,
                                mc.feature_psi_retrain, mc.feature_psi_retrain)
    return [("feature_drift", d.column, d.psi, mc.feature_psi_retrain, d.psi >= mc.feature_psi_retrain,
             f"monthly_features {then[0]} vs {now[0]}") for d in found]
