"""Field report: outcomes -> hit rates per month, model version, arm and region, with intervals.

In: the ``outcomes`` table (the outcomes job).
Out: the ``field_stats`` Delta table (``schemas.FIELD_STATS_SCHEMA``, rebuilt
whole: it is a function of ``outcomes``), an HTML report with its plots under
``<paths.reports>/<field_report.report_dir>/`` (``index.html``: hit rate per
arm over months with Wilson 95% intervals, the model arm's lift over the
control arm, recovered kWh per inspection, the tables), and, with
``field_report.log_to_mlflow``, one MLflow run per model version (experiment
``<mlflow.experiment>-field``, tagged with the version) holding the figures and
the metrics, its id set as the version's ``field_report_run`` tag.

The hit rate is irregular / labelled inspections (no-access visits carry no
label); the lift is the model arm's hit rate over the control arm's in the
same month, version and region (Katz interval, :mod:`ntl_spark.fieldstats`).
"""

from __future__ import annotations

import datetime as dt
import html
import logging
import math
from pathlib import Path
from typing import Any

import pandas as pd
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from ntl_spark import fieldstats, lakehouse, schemas, tracking
from ntl_spark.config import Config
from ntl_spark.errors import DataError

log = logging.getLogger(__name__)

ARM_COLOURS = {"model": "#1f77b4", "control": "#d62728", "unsolicited": "#7f7f7f"}


def plot_hit_rates(stats: pd.DataFrame, path: Path, title: str) -> Path:
    """Hit rate per arm over months (region ALL, every model version together) with Wilson intervals."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    rows = stats[stats["region"] == "ALL"]
    for arm, part in rows.groupby("arm"):
        agg = part.groupby("month")[["irregular", "labelled"]].sum().reset_index().sort_values("month")
        agg = agg[agg["labelled"] > 0]
        if agg.empty:
            continue
        rate = agg["irregular"] / agg["labelled"]
        bounds = [fieldstats.wilson(int(k), int(n)) for k, n in zip(agg["irregular"], agg["labelled"], strict=True)]
        lo = [r - b[0] for r, b in zip(rate, bounds, strict=True)]
        hi = [b[1] - r for r, b in zip(rate, bounds, strict=True)]
        ax.errorbar(pd.to_datetime(agg["month"]), rate, yerr=[lo, hi], marker="o", capsize=3, label=str(arm),
                    color=ARM_COLOURS.get(str(arm)))
    ax.set_ylabel("hit rate (irregular / labelled)")
    ax.set_xlabel("inspection month")
    ax.set_ylim(bottom=0)
    ax.set_title(title)
    ax.legend()
    ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_recovered(stats: pd.DataFrame, path: Path, title: str) -> Path:
    """Recovered kWh per month and arm (region ALL), bars side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = stats[stats["region"] == "ALL"]
    table = rows.groupby(["month", "arm"])["recovered_kwh"].sum().unstack("arm").fillna(0.0).sort_index()
    fig, ax = plt.subplots(figsize=(8, 4.5))
    if not table.empty:
        width = 0.8 / max(1, len(table.columns))
        xs = range(len(table.index))
        for j, arm in enumerate(table.columns):
            ax.bar([x + j * width for x in xs], table[arm], width=width, label=str(arm),
                   color=ARM_COLOURS.get(str(arm)))
        ax.set_xticks([x + width * (len(table.columns) - 1) / 2 for x in xs])
        ax.set_xticklabels([pd.Timestamp(m).strftime("%Y-%m") for m in table.index], rotation=45)
        ax.legend()
    ax.set_ylabel("recovered kWh")
    ax.set_title(title)
    ax.grid(alpha=0.3, axis="y")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


def _fmt(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, float):
        return f"{v:.3f}"
    return html.escape(str(v))


def write_html(stats: pd.DataFrame, folder: Path, figures: list[Path], generated: str) -> Path:
    """``index.html`` in ``folder``: the figures, then the region-ALL rows, then every row."""
    cols = ["month", "model_name", "model_version", "arm", "region", "inspections", "labelled", "irregular",
            "hit_rate", "hit_rate_low", "hit_rate_high", "lift", "lift_low", "lift_high",
            "recovered_kwh_per_inspection", "no_access_share"]

    def table(df: pd.DataFrame) -> str:
        head = "".join(f"<th>{c}</th>" for c in cols)
        body = "".join("<tr>" + "".join(f"<td>{_fmt(r[c])}</td>" for c in cols) + "</tr>" for _, r in df.iterrows())
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    imgs = "".join(f'<p><img src="{f.name}" alt="{f.stem}"></p>' for f in figures)
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>Field report</title>"
        "<style>body{font-family:sans-serif} table{border-collapse:collapse;font-size:12px}"
        "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}</style></head><body>"
        f"<h1>Field report</h1><p>{html.escape(generated)}. Hit rate = irregular / labelled inspections "
        "(Wilson 95% interval); lift = model arm / control arm (Katz 95% interval).</p>"
        f"{imgs}<h2>All regions</h2>{table(stats[stats['region'] == 'ALL'])}"
        f"<h2>Per region</h2>{table(stats[stats['region'] != 'ALL'])}</body></html>"
    )
    path = folder / "index.html"
    path.write_text(page)
    return path


def _log_mlflow(cfg: Config, stats: pd.DataFrame, figures: list[Path], report: Path) -> dict[str, str]:
    import mlflow

    client = tracking.setup(cfg, experiment=f"{cfg.mlflow.experiment}-field")
    runs: dict[str, str] = {}
    versions = stats.dropna(subset=["model_version"])[["model_name", "model_version"]].drop_duplicates()
    for name, version in versions.itertuples(index=False):
        part = stats[(stats["model_name"] == name) & (stats["model_version"] == version) & (stats["region"] == "ALL")]
        with mlflow.start_run(run_name=f"field-{name}-v{version}") as run_:
            mlflow.set_tags({"model_name": name, "model_version": version})
            for arm in ("model", "control"):
                sub = part[part["arm"] == arm]
                k, n = int(sub["irregular"].sum()), int(sub["labelled"].sum())
                mlflow.log_metric(f"{arm}_labelled", n)
                if n:
                    mlflow.log_metric(f"{arm}_hit_rate", k / n)
            for f in [*figures, report]:
                mlflow.log_artifact(str(f))
            runs[str(version)] = run_.info.run_id
        if tracking.version_exists(client, name, str(version)):
            client.set_model_version_tag(name, str(version), "field_report_run", run_.info.run_id)
    return runs


def stats_rows(stats: pd.DataFrame, lineage: dict[str, int]) -> list[tuple[Any, ...]]:
    """``stats`` as rows of ``schemas.FIELD_STATS_SCHEMA`` (NaN -> null, numpy -> Python values)."""
    names = [f.name for f in schemas.FIELD_STATS_SCHEMA.fields if f.name != schemas.LINEAGE_COLUMN]

    def plain(v: Any) -> Any:
        if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA:
            return None
        return v.item() if hasattr(v, "item") else v

    return [(*[plain(v) for v in rec], dict(lineage)) for rec in stats[names].itertuples(index=False, name=None)]


def run(spark: SparkSession, cfg: Config) -> dict[str, Any]:
    """Summarise ``outcomes`` into ``field_stats``, the HTML report and the MLflow runs."""
    fc = cfg.field_report
    pinned = lakehouse.read_pinned(spark, cfg.paths.table(schemas.OUTCOMES_TABLE), schemas.OUTCOMES_TABLE, "outcomes")
    outcomes = pinned.df
    if fc.months:
        last = outcomes.agg(F.max("month")).first()
        if last is None or last[0] is None:
            raise DataError("outcomes is empty: run the outcomes job after inspections are ingested")
        first = (pd.Timestamp(last[0]) - pd.DateOffset(months=fc.months - 1)).date()
        outcomes = outcomes.where(F.col("month") >= F.lit(first))
    stats = fieldstats.add_rates(fieldstats.field_counts(outcomes))
    if stats.empty:
        raise DataError("outcomes is empty: run the outcomes job after inspections are ingested")
    sdf = spark.createDataFrame(stats_rows(stats, {schemas.OUTCOMES_TABLE: pinned.version}),
                                schemas.FIELD_STATS_SCHEMA)
    path = cfg.paths.table(schemas.FIELD_STATS)
    version = lakehouse.write(sdf, path, schemas.FIELD_STATS, schema=schemas.FIELD_STATS_SCHEMA)
    folder = Path(cfg.paths.resolve("reports")) / fc.report_dir
    figures = [plot_hit_rates(stats, folder / "hit_rate.png", "Hit rate per arm (all regions)"),
               plot_recovered(stats, folder / "recovered_kwh.png", "Recovered kWh per arm")]
    report = write_html(stats, folder, figures, f"outcomes Delta v{pinned.version}, generated {dt.datetime.now():%Y-%m-%d %H:%M}")
    runs = _log_mlflow(cfg, stats, figures, report) if fc.log_to_mlflow else {}
    print(f"field report: {len(stats):,} rows in field_stats Delta v{version}; report {report}")
    for r in stats[stats["region"] == "ALL"].itertuples(index=False):
        print(f"  {r.month} {r.model_name or '-'} v{r.model_version or '-'} {r.arm:<12} "
              f"{int(r.irregular):>5}/{int(r.labelled):<5} hit {_fmt(r.hit_rate)} "
              f"[{_fmt(r.hit_rate_low)}, {_fmt(r.hit_rate_high)}] lift {_fmt(r.lift)}")
    return {"rows": len(stats), "version": version, "report": str(report), "mlflow_runs": runs,
            "stats": stats}
