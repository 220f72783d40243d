"""Data gate: statistics, consistency rules and drift of the lakehouse tables, with a report.

In: the tables named in ``validation.tables`` (bronze tables, ``monthly_features``
of the reference month, ``training_set``) at their latest Delta versions, plus
any table a rule names (e.g. ``quarantine``).
Out: rows appended to the ``data_stats`` Delta table (keyed by table, Delta
version and run id); for the tables of ``validation.incremental`` (readings),
per-day rule counts and statistics in ``data_rule_days`` / ``data_stats_days``,
recomputed only for the days changed since the previous run (:mod:`.days`); an HTML report under ``<paths.reports>/<validation.report_dir>/<run id>/``;
an MLflow run in the validation experiment (metrics, report, JSON of the
findings); a printed summary. A blocking rule, or a feature whose PSI between
the training split and the scoring month reaches ``validation.drift.psi_block``,
stops the job (``DataError`` naming them) after the report is written.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import tempfile
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from ntl_spark import lakehouse, schemas
from ntl_spark.config import Config, RuleConf
from ntl_spark.errors import DataError
from ntl_spark.models import CustomerSplit
from ntl_spark.validate import days as days_
from ntl_spark.validate import drift as drift_
from ntl_spark.validate import rules as rules_
from ntl_spark.validate import stats as stats_
from ntl_spark.validate.report import Report, bar_chart, histogram_chart, shares_chart

log = logging.getLogger(__name__)

SCORING = "scoring"
VALIDATION = "validation"


@dataclass
class DataValidation:
    """What one run of the data gate found."""

    run_id: str
    status: str  # ok, warn or block
    versions: dict[str, int | None]
    rules: list[rules_.RuleResult]
    drift: list[drift_.Drift]
    label_rates: dict[str, tuple[int, float]]
    report: str = ""
    mlflow_run_id: str = ""
    problems: list[str] = field(default_factory=list)  # blocking findings, in words
    warnings: list[str] = field(default_factory=list)
    # what the day-incremental tables had recomputed: some days, or everything and why
    refreshed: list[days_.DayRefresh] = field(default_factory=list)


def experiment_name(cfg: Config) -> str:
    """The MLflow experiment of validation runs."""
    return cfg.validation.experiment or f"{cfg.mlflow.experiment}-validation"


def report_dir(cfg: Config, run_id: str) -> Path:
    """Folder of one validation run's report (local paths only)."""
    base = cfg.paths.resolve("reports")
    if "://" in base:
        base = tempfile.mkdtemp(prefix="ntl-reports-")
    return Path(base) / cfg.validation.report_dir / run_id


def reference_month(df: DataFrame, configured: str) -> dt.date | None:
    """The scoring month of ``monthly_features``: configured, else the latest present."""
    if configured:
        return dt.date.fromisoformat(configured)
    return df.agg(F.max("reference_month")).collect()[0][0]


def load_tables(spark: SparkSession, cfg: Config, names: list[str]) -> dict[str, tuple[DataFrame, int | None]]:
    """Latest Delta version of every named table that exists (the scoring month only of monthly_features)."""
    out: dict[str, tuple[DataFrame, int | None]] = {}
    for name in names:
        path = cfg.paths.table(name)
        pinned = lakehouse.read_optional(spark, path)
        if pinned is None:
            log.warning("validation: no Delta table %s at %s (skipped)", name, path)
            continue
        df, version = pinned.df, pinned.version
        if name == schemas.MONTHLY_FEATURES:
            month = reference_month(df, cfg.features.reference_month)
            df = df.where(F.col("reference_month") == F.lit(month))
        out[name] = (df, version)
    return out


def check_drift(cfg: Config, training: DataFrame, scoring: DataFrame | None) -> tuple[list[drift_.Drift], dict]:
    """PSI of the model inputs: training split vs validation split and vs the scoring month; label rates.

    The inputs are those of the model ``train`` will fit on ``training``
    (:func:`.drift.drift_columns`: C1..C<months> only with ``train.raw_consumption``).
    The validation split is a random split by customer, so its drift can warn but
    never blocks (a high PSI there means too few rows, not bad data).
    """
    dc = cfg.validation.drift
    train, test = CustomerSplit(cfg.train.split_salt, cfg.train.test_fraction).split(training)
    compared = {VALIDATION: test}
    if scoring is not None:
        compared[SCORING] = scoring
    cols = drift_.drift_columns(cfg, training, *compared.values())
    found = drift_.feature_drift(train, compared, cols, dc.bins, dc.psi_warn, dc.psi_block)
    found = [d if d.compared == SCORING or d.level != "block" else drift_.Drift(
        d.column, d.compared, d.psi, "warn", d.edges, d.reference, d.current) for d in found]
    rates = drift_.label_rates({"train": train, VALIDATION: test}) if "label" in training.columns else {}
    return found, rates


def run(spark: SparkSession, cfg: Config) -> DataValidation:
    """Run the data gate; raise ``DataError`` after reporting when something blocks."""
    vc = cfg.validation
    run_id = uuid.uuid4().hex[:12]
    now = dt.datetime.now().replace(microsecond=0)
    wanted = list(dict.fromkeys([*vc.tables, *[r.table for r in vc.rules]]))
    tables = load_tables(spark, cfg, wanted)
    versions = {t: v for t, (_, v) in tables.items()}

    # statistics, stored per run
    stats_path = cfg.paths.table(stats_.DATA_STATS)
    per_table = {}
    refreshed: list[days_.DayRefresh] = []
    for name in vc.tables:
        if name not in tables:
            continue
        df, version = tables[name]
        cols = [c for c in df.columns if not c.startswith("_") and c != schemas.LINEAGE_COLUMN]
        if name in vc.incremental and version is not None:
            described, refresh = days_.table_stats(spark, cfg, name, df, version, cols, now)
            refreshed.append(refresh)
        else:
            described = stats_.column_stats(df, cols, vc.histogram_bins, histogram_rows=vc.sample_rows)
        per_table[name] = stats_.with_keys(described, run_id, name, version, now)
    stats_rows: list[dict[str, Any]] = []
    if per_table:
        frames = list(per_table.values())
        union = frames[0]
        for f in frames[1:]:
            union = union.unionByName(f)
        stats_.append(union, stats_path)
        stats_rows = [r.asDict(recursive=True) for r in union.collect()]
    previous = stats_.previous_run(spark, stats_path, run_id)
    changes = []
    if previous:
        all_stats = spark.read.format("delta").load(stats_path)
        changes = [r.asDict() for r in stats_.compare(all_stats, previous, run_id).collect()]

    # rules: those that add up over days, on a day-incremental table, from the kept per-day counts
    by_day: dict[str, list[RuleConf]] = {}
    for rule in vc.rules:
        if rule.day and rule.table in vc.incremental and tables.get(rule.table, (None, None))[1] is not None:
            by_day.setdefault(rule.table, []).append(rule)
    found_rules = {r.rule: r for r in rules_.evaluate_rules(
        {t: df for t, (df, _) in tables.items()}, [c for c in vc.rules if c.table not in by_day or not c.day])}
    for name, day_rules in by_day.items():
        df, version = tables[name]
        day_results, refresh = days_.rule_results(spark, cfg, name, df, int(version or 0), day_rules, now)
        refreshed.append(refresh)
        found_rules.update({res.rule: res for res in day_results})
    results = [found_rules[rule.name] for rule in vc.rules]

    # drift
    found: list[drift_.Drift] = []
    rates: dict[str, tuple[int, float]] = {}
    if schemas.TRAINING_SET in tables:
        training = tables[schemas.TRAINING_SET][0].cache()
        scoring = tables[schemas.MONTHLY_FEATURES][0] if schemas.MONTHLY_FEATURES in tables else None
        found, rates = check_drift(cfg, training, scoring)
        training.unpersist()

    result = DataValidation(run_id, "ok", versions, results, found, rates, refreshed=refreshed)
    for r in results:
        if r.status == "block":
            result.problems.append(r.message())
        elif r.status == "warn":
            result.warnings.append(r.message())
    for d in found:
        if d.level == "block" and vc.drift.action == "block":
            result.problems.append(f"feature {d.column}: PSI {d.psi:.3f} training vs {d.compared} "
                                   f"(block at {vc.drift.psi_block:g})")
    for compared in (SCORING, VALIDATION):
        blocking = compared == SCORING and vc.drift.action == "block"
        part = sorted((d for d in found if d.compared == compared and d.level != "ok"
                       and not (blocking and d.level == "block")), key=lambda d: -d.psi)
        if part:
            worst = ", ".join(f"{d.column} {d.psi:.2f}" for d in part[:5])
            result.warnings.append(f"drift training vs {compared}: {len(part)} feature(s) at PSI >= "
                                   f"{vc.drift.psi_warn:g} (highest {worst})")
    if VALIDATION in rates and "train" in rates:
        diff = abs(rates[VALIDATION][1] - rates["train"][1])
        if diff > vc.drift.label_rate_warn:
            result.warnings.append(f"label: irregular share {rates['train'][1]:.3f} in training vs "
                                   f"{rates[VALIDATION][1]:.3f} in validation")
    result.status = "block" if result.problems else "warn" if result.warnings else "ok"

    folder = report_dir(cfg, run_id)
    page = build_report(cfg, result, stats_rows, changes, previous)
    result.report = str(page.write(folder / "data_report.html"))
    (folder / "findings.json").write_text(json.dumps(findings(result), indent=1, default=str))
    result.mlflow_run_id = log_to_mlflow(cfg, result, folder)
    print_summary(result)
    if result.problems:
        raise DataError(f"data validation {run_id} blocked ({len(result.problems)} finding(s), report "
                        f"{result.report}): " + "; ".join(result.problems))
    return result


def findings(result: DataValidation) -> dict[str, Any]:
    """The run's findings as plain data (logged as JSON)."""
    return {
        "run_id": result.run_id, "status": result.status, "versions": result.versions,
        "problems": result.problems, "warnings": result.warnings,
        "rules": [asdict(r) for r in result.rules],
        "drift": [{"column": d.column, "compared": d.compared, "psi": d.psi, "level": d.level} for d in result.drift],
        "label_rates": {k: {"rows": n, "irregular_share": rate} for k, (n, rate) in result.label_rates.items()},
        "incremental": [{"table": d.table, "part": d.part, "since": d.since, "version": d.version,
                         "whole": d.whole, "reason": d.plan.reason,
                         "days": [[lo.isoformat(), hi.isoformat()] for lo, hi in d.plan.windows or ()],
                         "described": d.describe()} for d in result.refreshed],
    }


def build_report(
    cfg: Config, result: DataValidation, stats_rows: list[dict[str, Any]], changes: list[dict[str, Any]],
    previous: str | None,
) -> Report:
    """The HTML page of one data validation run."""
    vc = cfg.validation
    page = Report(f"Data validation {result.run_id}")
    page.summary(f"status: {result.status} - {len(result.problems)} blocking, {len(result.warnings)} warning(s)",
                 result.status)
    page.text("Tables (Delta version): " + ", ".join(f"{t} v{v}" for t, v in result.versions.items()))
    for text in result.problems:
        page.summary("BLOCK: " + text, "block")
    for text in result.warnings[:30]:
        page.summary("warn: " + text, "warn")

    page.heading("Consistency rules")
    day_rules = [r.name for r in vc.rules if r.day and any(d.table == r.table and d.part == days_.RULES
                                                           for d in result.refreshed)]
    if day_rules:
        page.text(f"Counted per day and summed over every day ({', '.join(day_rules)}): "
                  + "; ".join(d.describe() for d in result.refreshed if d.part == days_.RULES) + ".", note=True)
    page.table([{"rule": r.rule, "table": r.table, "kind": r.kind, "condition": r.description, "level": r.level,
                 "checked": r.checked, "offending": r.offending, "share": r.share, "tolerated": r.max_share,
                 "status": r.status} for r in result.rules])
    ran = [r for r in result.rules if r.status != "skipped"]
    if ran:
        page.figure(bar_chart([r.rule for r in ran], [r.share for r in ran], [r.status for r in ran],
                              "Share of offending rows (groups) per rule", "share"))

    page.heading("Drift (PSI against the training split)")
    page.text(f"Bins: the training split's {vc.drift.bins}-quantiles plus a bin for missing values. "
              f"Levels: warn at {vc.drift.psi_warn:g}, block at {vc.drift.psi_block:g} (the validation split "
              f"only warns).", note=True)
    if result.label_rates:
        page.table([{"set": k, "rows": n, "irregular share": rate} for k, (n, rate) in result.label_rates.items()])
    if result.drift:
        ordered = sorted(result.drift, key=lambda d: -d.psi)
        for compared in (SCORING, VALIDATION):
            part = [d for d in ordered if d.compared == compared]
            if part:
                top = part[:40]
                page.figure(bar_chart([d.column for d in top], [d.psi for d in top], [d.level for d in top],
                                      f"PSI, training vs {compared} (top {len(top)})", "PSI",
                                      [vc.drift.psi_warn, vc.drift.psi_block]))
        by_col: dict[str, dict[str, drift_.Drift]] = {}
        for d in result.drift:
            by_col.setdefault(d.column, {})[d.compared] = d
        page.table([{"feature": c, **{f"PSI {k}": v.psi for k, v in ds.items()},
                     **{f"level {k}": v.level for k, v in ds.items()}}
                    for c, ds in sorted(by_col.items(), key=lambda kv: -max(x.psi for x in kv[1].values()))])
        worst = [c for c, _ in sorted(by_col.items(), key=lambda kv: -max(x.psi for x in kv[1].values()))][:6]
        panels = []
        for c in worst:
            any_d = next(iter(by_col[c].values()))
            sets = {"training": any_d.reference, **{k: v.current for k, v in by_col[c].items()}}
            panels.append((c, any_d.edges, sets))
        page.figure(shares_chart(panels), "Binned shares of the most drifted features")

    page.heading("Statistics per table")
    if previous:
        page.text(f"Changes are against the previous validation run {previous} (data_stats table).", note=True)
    change_by = {(c["table"], c["column"]): c for c in changes}
    by_day = {d.table: d for d in result.refreshed if d.part == days_.STATISTICS}
    for table in dict.fromkeys(r["table"] for r in stats_rows):
        rows = [r for r in stats_rows if r["table"] == table]
        page.text(f"{table} (Delta v{rows[0]['delta_version']}): {rows[0]['count']:,} rows")
        if table in by_day and not by_day[table].whole:
            page.text(f"{table}: rows, nulls, min, max, mean and std over every day; distinct, quantiles, "
                      f"histograms and top values of the days changed since the previous gate run only "
                      f"({by_day[table].describe()}).", note=True)
        elif table in by_day:
            page.text(by_day[table].describe() + ".", note=True)
        out = []
        for r in rows:
            q = r.get("quantiles") or []
            ch = change_by.get((table, r["column"]), {})
            out.append({
                "column": r["column"], "type": r["dtype"], "nulls": r["nulls"],
                "null %": 100.0 * r["nulls"] / max(r["count"], 1), "distinct": r["distinct"],
                "min": r["min"] if r["min"] is not None else r.get("min_text"),
                "p50": q[3] if len(q) > 3 else None,
                "max": r["max"] if r["max"] is not None else r.get("max_text"),
                "mean": r["mean"], "std": r["std"],
                "top values": ", ".join(f"{t['value']} ({t['count']:,})" for t in (r.get("top_values") or [])[:4]),
                "mean change": ch.get("mean_change"), "rows change": ch.get("count_change"),
            })
        page.table(out)
        hists = [(r["column"], r["hist_edges"], r["hist_counts"]) for r in rows if r.get("hist_counts")][:8]
        if hists:
            page.figure(histogram_chart(hists), f"{table}: histograms")
    return page


def log_to_mlflow(cfg: Config, result: DataValidation, folder: Path) -> str:
    """One run in the validation experiment with metrics, the report and the findings."""
    import mlflow

    from ntl_spark import tracking

    tracking.setup(cfg, experiment=experiment_name(cfg))
    with mlflow.start_run(run_name=f"data-{result.run_id}") as run_:
        mlflow.set_tags({"validation.kind": "data", "validation.status": result.status,
                         "validation.run_id": result.run_id})
        tracking.log_data_versions(result.versions)
        metrics = {
            "rules_blocked": sum(r.status == "block" for r in result.rules),
            "rules_warned": sum(r.status == "warn" for r in result.rules),
            **{f"rule.{r.rule}.offending": r.offending for r in result.rules if r.status != "skipped"},
            **{f"psi.{d.compared}.{d.column}": d.psi for d in result.drift},
        }
        for compared in (SCORING, VALIDATION):
            values = [d.psi for d in result.drift if d.compared == compared]
            if values:
                metrics[f"psi_max.{compared}"] = max(values)
        for name, (n, rate) in result.label_rates.items():
            metrics[f"label_rate.{name}"] = rate
            metrics[f"rows.{name}"] = n
        mlflow.log_metrics({k: float(v) for k, v in metrics.items()})
        mlflow.log_artifacts(str(folder), artifact_path="validation")
        return run_.info.run_id


def print_summary(result: DataValidation) -> None:
    print(f"data validation {result.run_id}: {result.status.upper()}  "
          f"({sum(r.status == 'block' for r in result.rules)} rule(s) blocking, "
          f"{sum(r.status == 'warn' for r in result.rules)} warning, "
          f"{sum(r.status == 'ok' for r in result.rules)} ok, {sum(r.status == 'skipped' for r in result.rules)} skipped)")
    for r in result.rules:
        if r.status != "ok":
            print(f"  [{r.status:<7}] {r.message()}")
    for compared in (SCORING, VALIDATION):
        part = sorted((d for d in result.drift if d.compared == compared), key=lambda d: -d.psi)
        if part:
            worst = ", ".join(f"{d.column} {d.psi:.3f}" for d in part[:3])
            n_warn = sum(d.level == "warn" for d in part)
            n_block = sum(d.level == "block" for d in part)
            print(f"  drift training vs {compared}: {len(part)} features, {n_block} block, {n_warn} warn; "
                  f"highest PSI {worst}")
    for name, (n, rate) in result.label_rates.items():
        print(f"  label {name}: {n:,} rows, irregular share {rate:.3f}")
    for d in result.refreshed:
        print(f"  day by day: {d.describe()}")
    print(f"  report: {result.report}")
