"""The pipeline's configuration and outputs, read without Spark.

The console loads the same layered configuration as the jobs
(``conf/base.yaml`` + ``conf/<NTL_ENV>.yaml`` + overrides), so it finds the
lakehouse, the MLflow registry and the JDBC sources where the jobs put them.
Overrides come from ``NTL_CONSOLE_SET`` (``key=value`` separated by
whitespace or newlines, as ``--set`` takes them). Delta tables are read with
the ``deltalake`` package at their latest version; a read is cached per table
version, so a new job run shows up at the next request.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shlex
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ntl_spark.config import Config, load_config
from ntl_spark.errors import ConfigError

_lock = threading.Lock()
_config: Config | None = None
_cache: dict[tuple[str, int, str], Any] = {}

SCORES = "scores"
MONTHLY_FEATURES = "monthly_features"
CUSTOMERS = "customers"
INSPECTIONS = "inspections"
READINGS_DAILY = "readings_daily"
MODEL_DECISIONS = "model_decisions"
CAMPAIGNS = "campaigns"


class TableMissing(LookupError):
    """A Delta table the page needs has not been written yet (the message says which job writes it)."""


WRITTEN_BY = {
    SCORES: "the score job",
    MONTHLY_FEATURES: "the features job",
    CUSTOMERS: "the ingest job",
    INSPECTIONS: "the ingest job",
    READINGS_DAILY: "the windows job (deep.enabled)",
    MODEL_DECISIONS: "the validate_model or promote job",
    CAMPAIGNS: "the campaign job",
}


def config() -> Config:
    """The pipeline configuration (loaded once per process)."""
    global _config
    with _lock:
        if _config is None:
            overrides = shlex.split(os.environ.get("NTL_CONSOLE_SET", ""))
            _config = load_config(os.environ.get("NTL_ENV") or None, overrides)
        return _config


def set_config(cfg: Config | None) -> None:
    """Use ``cfg`` from now on (tests; ``None`` reloads from the environment)."""
    global _config
    with _lock:
        _config = cfg
        _cache.clear()


def table_path(name: str) -> str:
    return config().paths.table(name)


def _delta(name: str) -> Any:
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    path = table_path(name)
    if "://" not in path and not (Path(path) / "_delta_log").is_dir():
        raise TableMissing(f"table '{name}' does not exist yet at {path}: run {WRITTEN_BY.get(name, 'the pipeline')}")
    try:
        return DeltaTable(path)
    except TableNotFoundError as e:
        raise TableMissing(f"table '{name}' does not exist yet at {path}: run {WRITTEN_BY.get(name, 'the pipeline')}") from e


def version(name: str) -> int:
    return int(_delta(name).version())


def read(name: str, columns: Sequence[str] | None = None, filters: Any = None, key: str = "") -> pa.Table:
    """A Delta table at its latest version as Arrow (cached per version and ``key``).

    Args:
        name: table under the lakehouse.
        columns: columns to read (None = all).
        filters: a pyarrow compute expression applied while reading.
        key: cache key of this particular read (empty = uncached when filtered).
    """
    table = _delta(name)
    v = int(table.version())
    cache_key = (name, v, key or repr(columns))
    if (filters is None or key) and cache_key in _cache:
        return _cache[cache_key]
    dataset = table.to_pyarrow_dataset()
    out = dataset.to_table(columns=list(columns) if columns else None, filter=filters)
    if filters is None or key:
        with _lock:
            for k in [k for k in _cache if k[0] == name and k[1] != v]:
                del _cache[k]
            _cache[cache_key] = out
    return out


# ------------------------------------------------------------------ rankings
BANDS = {"high": (0.8, None), "medium": (0.5, 0.8), "low": (0.2, 0.5), "minimal": (None, 0.2)}


def ranking_runs() -> pd.DataFrame:
    """Every (model_name, model_version, scored_on) in the scores table with its row count, newest first."""
    t = read(SCORES, ["model_name", "model_version", "scored_on", "reference_month"])
    df = t.to_pandas()
    if df.empty:
        return pd.DataFrame(columns=["model_name", "model_version", "scored_on", "reference_month", "rows"])
    out = df.groupby(["model_name", "model_version", "scored_on", "reference_month"]).size().reset_index(name="rows")
    return out.sort_values(["scored_on", "model_name"], ascending=[False, True]).reset_index(drop=True)


def latest_run(model_name: str, champion_version: str | None) -> dict[str, Any] | None:
    """The newest ranking of ``model_name``, by its champion version when one is given and has a ranking."""
    runs = ranking_runs()
    runs = runs[runs["model_name"] == model_name]
    if champion_version is not None:
        by_champion = runs[runs["model_version"] == str(champion_version)]
        if not by_champion.empty:
            runs = by_champion
    if runs.empty:
        return None
    return runs.iloc[0].to_dict()


def ranking(model_name: str, model_version: str, scored_on: dt.date) -> pd.DataFrame:
    """One ranking joined with the customers' tariff, meter type and coordinates, best first."""
    cond = ((pc.field("model_name") == model_name) & (pc.field("model_version") == str(model_version))
            & (pc.field("scored_on") == pa.scalar(scored_on, pa.date32())))
    scores = read(SCORES, ["customer_id", "region", "score", "rank", "region_rank", "top_features", "reference_month"],
                  filters=cond, key=f"{model_name}|{model_version}|{scored_on}").to_pandas()
    try:
        cust = customers()[["customer_id", "tariff", "meter_type", "meter_id", "latitude", "longitude"]]
        scores = scores.merge(cust, on="customer_id", how="left")
    except TableMissing:
        for c in ("tariff", "meter_type", "meter_id", "latitude", "longitude"):
            scores[c] = None
    return scores.sort_values("rank").reset_index(drop=True)


def filter_ranking(df: pd.DataFrame, region: str = "", tariff: str = "", meter_type: str = "",
                   band: str = "") -> pd.DataFrame:
    """Rows of a ranking that match every filter given (empty = any)."""
    if band and band not in BANDS:
        raise ValueError(f"unknown score band {band!r}; known: {list(BANDS)}")
    mask = pd.Series(True, index=df.index)
    if region:
        mask &= df["region"] == region
    if tariff:
        mask &= df["tariff"] == tariff
    if meter_type:
        mask &= df["meter_type"] == meter_type
    if band:
        lo, hi = BANDS[band]
        if lo is not None:
            mask &= df["score"] >= lo
        if hi is not None:
            mask &= df["score"] < hi
    return df[mask]


def customers() -> pd.DataFrame:
    return read(CUSTOMERS, ["customer_id", "meter_id", "meter_type", "region", "tariff", "contracted_kw", "activity",
                            "latitude", "longitude", "connected_on", "status"]).to_pandas()


def records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as dicts with missing values (NaN, NaT) as None, for templates."""
    return df.astype(object).where(df.notna(), None).to_dict("records")


def customer(customer_id: str) -> dict[str, Any] | None:
    rows = customers()
    row = rows[rows["customer_id"] == customer_id]
    return None if row.empty else records(row)[0]


def latest_features(customer_ids: Sequence[str]) -> pd.DataFrame:
    """The newest monthly_features row of each customer (any columns the table has)."""
    t = read(MONTHLY_FEATURES, filters=pc.field("customer_id").isin(list(customer_ids)))
    df = t.to_pandas()
    if df.empty:
        return df
    df = df.sort_values("reference_month").groupby("customer_id", as_index=False).tail(1)
    return df.reset_index(drop=True)


def monthly_consumption(customer_id: str) -> pd.DataFrame:
    """month, kwh of the customer's newest feature row (C1 = the month before reference_month's month)."""
    feats = latest_features([customer_id])
    if feats.empty:
        return pd.DataFrame(columns=["month", "kwh"])
    row = feats.iloc[0]
    ref = pd.Timestamp(row["reference_month"])
    cols = sorted((c for c in feats.columns if re.fullmatch(r"C\d+", c)), key=lambda c: int(c[1:]))
    months = [ref - pd.DateOffset(months=int(c[1:]) - 1) for c in cols]
    return pd.DataFrame({"month": months, "kwh": [row[c] for c in cols]}).sort_values("month")


def readings_days(meter_id: str, days: int = 60) -> pd.DataFrame:
    """The meter's last ``days`` days of 15-minute readings (day, kwh array), oldest first."""
    t = read(READINGS_DAILY, filters=pc.field("meter_id") == meter_id)
    df = t.to_pandas()
    if df.empty:
        return df
    return df.sort_values("day").tail(days).reset_index(drop=True)


def past_inspections(customer_id: str) -> pd.DataFrame:
    t = read(INSPECTIONS, ["inspection_id", "inspected_on", "outcome", "irregularity", "recovered_kwh", "campaign_id"],
             filters=pc.field("customer_id") == customer_id)
    return t.to_pandas().sort_values("inspected_on", ascending=False)


def recently_inspected(since: dt.date) -> set[str]:
    """Customers with an inspection on or after ``since`` in the lakehouse's inspections table."""
    try:
        t = read(INSPECTIONS, ["customer_id"], filters=pc.field("inspected_on") >= pa.scalar(since, pa.date32()))
    except TableMissing:
        return set()
    return set(t.column("customer_id").to_pylist())


def campaigns() -> pd.DataFrame:
    """One row per campaign of the campaign job: id, date, model, ranking day, requests per arm, regions."""
    cols = ["campaign_id", "created_on", "region", "arm", "model_name", "model_version", "scored_on", "order_by"]
    df = read(CAMPAIGNS, cols).to_pandas()
    if df.empty:
        return pd.DataFrame(columns=[*cols, "model_arm", "control_arm"])
    keys = ["campaign_id", "created_on", "model_name", "model_version", "scored_on", "order_by"]
    out = df.groupby(keys).agg(model_arm=("arm", lambda a: int((a == "model").sum())),
                               control_arm=("arm", lambda a: int((a == "control").sum())),
                               regions=("region", lambda r: ", ".join(sorted(set(r))))).reset_index()
    return out.sort_values(["created_on", "campaign_id"], ascending=[False, True]).reset_index(drop=True)


def campaign_rows(campaign_id: str) -> pd.DataFrame:
    """The requests of one campaign: model arm first, then control; by region and rank."""
    df = read(CAMPAIGNS, ["campaign_id", "customer_id", "region", "arm", "rank", "score", "model_name",
                          "model_version", "scored_on"], filters=pc.field("campaign_id") == campaign_id).to_pandas()
    if df.empty:
        return df
    df["arm_order"] = (df["arm"] != "model").astype(int)
    return df.sort_values(["arm_order", "region", "rank", "customer_id"]).drop(columns="arm_order")


def model_decisions() -> pd.DataFrame:
    try:
        df = read(MODEL_DECISIONS).to_pandas()
    except TableMissing:
        return pd.DataFrame()
    return df.sort_values("decided_at", ascending=False)


def jdbc_connect() -> Any:
    """A psycopg2 connection to the JDBC source database (``jdbc.url``; PostgreSQL only).

    Raises:
        ConfigError: the URL is not a PostgreSQL one, or no password is configured.
    """
    import psycopg2

    jc = config().jdbc
    m = re.match(r"jdbc:postgresql://([^:/?]+)(?::(\d+))?/([^?]+)", jc.url)
    if not m:
        raise ConfigError(f"config key 'jdbc.url': the console writes results to PostgreSQL only (got {jc.url!r})")
    if jc.password_file:
        password = Path(jc.password_file).expanduser().read_text().strip()
    else:
        password = os.environ.get(jc.password_env or "", None)
        if password is None:
            raise ConfigError(f"no JDBC password: set the environment variable {jc.password_env!r} "
                              f"(jdbc.password_env) or jdbc.password_file")
    return psycopg2.connect(host=m.group(1), port=int(m.group(2) or 5432), dbname=m.group(3), user=jc.user,
                            password=password, connect_timeout=10)
