"""End-to-end checks of the synthetic generator on small runs (no Spark)."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from ntl_spark import generate, schemas
from ntl_spark.config import Config, load_config
from ntl_spark.generate.writers import arrow_schema

SMALL = ["generate.customers=3000", "generate.reading_days=100", "generate.smart_meter_share=0.2"]


def config(root: Path, *overrides: str) -> Config:
    return load_config("test", [f"paths.root={root}", *overrides])


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("gen")
    generate.run(config(root, *SMALL))
    return root / "raw"


def read(out: Path, table: str) -> pd.DataFrame:
    return pq.read_table(out / table).to_pandas()


def files(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def test_same_seed_same_files(run_dir: Path, tmp_path: Path) -> None:
    generate.run(config(tmp_path, *SMALL))
    again = files(tmp_path / "raw")
    assert again.keys() == files(run_dir).keys()
    assert again == files(run_dir)
    other = tmp_path / "other"
    generate.run(config(other, *SMALL, "generate.seed=7"))
    assert files(other / "raw")["bills/part-00000.parquet"] != again["bills/part-00000.parquet"]


def test_larger_run_extends_smaller_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(generate, "CHUNK_CUSTOMERS", 400)
    generate.run(config(tmp_path / "a", "generate.customers=800"))
    generate.run(config(tmp_path / "b", "generate.customers=1200"))
    a, b = read(tmp_path / "a" / "raw", "customers"), read(tmp_path / "b" / "raw", "customers")
    pd.testing.assert_frame_equal(a, b.iloc[: len(a)])


def test_tables_follow_the_contract(run_dir: Path) -> None:
    for table, schema in schemas.SOURCE_SCHEMAS.items():
        parts = sorted((run_dir / table).glob("part-*.parquet"))
        assert parts and parts[0].name == "part-00000.parquet"
        got = pq.read_schema(parts[0])
        want = arrow_schema(schema)
        assert got.names == want.names, table
        assert [f.type for f in got] == [f.type for f in want], table
    manifest = json.loads((run_dir / "_manifest.json").read_text())
    assert manifest["rows"]["customers"] == 3000 and manifest["seed"] == 42
    truth = pq.read_table(run_dir / "_truth" / "fraud.parquet")
    assert truth.column_names == ["customer_id", "meter_id", "attack", "fraud_start", "fraud_end"]


def test_customers_and_bills_are_plausible(run_dir: Path) -> None:
    c, b = read(run_dir, "customers"), read(run_dir, "bills")
    assert c.customer_id.is_unique and c.customer_id.iloc[0] == "C0000001"
    assert 0.35 < (c.region == "MONTEVIDEO").mean() < 0.45
    assert (c.meter_type == "smart").sum() == c.meter_id.notna().sum() > 0
    assert 0.01 < (c.status == "inactive").mean() < 0.06
    assert (c.contracted_kw > 0).all()
    assert not b.duplicated(["customer_id", "period"]).any()
    assert b.days.between(28, 35).all() and (b.kwh >= 0).all()
    assert 0.03 < (b.read_type == "estimated").mean() < 0.07
    assert (pd.to_datetime(b.period).dt.day == 1).all()


def test_fraud_lowers_consumption_after_start(run_dir: Path) -> None:
    b, t = read(run_dir, "bills"), read(run_dir, "_truth/fraud.parquet")
    b["period"] = pd.to_datetime(b.period)
    t = t[~t.attack.isin(["h5", "h6"])]
    rows = b.merge(t, on="customer_id")
    start = pd.to_datetime(rows.fraud_start)
    end = pd.to_datetime(rows.fraud_end).fillna(pd.Timestamp.max)
    before = rows[rows.period < start - pd.Timedelta(days=31)].groupby("customer_id").kwh.mean()
    during = rows[(rows.period > start) & (rows.period < end - pd.Timedelta(days=31))].groupby("customer_id").kwh.mean()
    ratio = (during / before).dropna()
    assert len(ratio) > 50
    assert ratio.median() < 0.75
    # honest customers keep their level over the same window
    honest = b[~b.customer_id.isin(read(run_dir, "_truth/fraud.parquet").customer_id)]
    first = honest[honest.period < "2024-06-01"].groupby("customer_id").kwh.mean()
    last = honest[honest.period >= "2025-06-01"].groupby("customer_id").kwh.mean()
    assert 0.85 < (last / first).median() < 1.15


def test_irregular_share_and_outcomes(run_dir: Path) -> None:
    i = read(run_dir, "inspections")
    labelled = i[i.outcome != "no_access"]
    share = (labelled.outcome == "irregular").mean()
    assert 0.05 <= share <= 0.12
    assert 0.02 < (i.outcome == "no_access").mean() < 0.12
    irregular = i[i.outcome == "irregular"]
    assert irregular.irregularity.notna().all() and irregular.recovered_kwh.notna().all()
    assert i[i.outcome != "irregular"].irregularity.isna().all()
    assert i.inspection_id.is_unique


def test_inspections_target_campaign_regions(run_dir: Path) -> None:
    i, c = read(run_dir, "inspections"), read(run_dir, "customers")
    manifest = json.loads((run_dir / "_manifest.json").read_text())
    population = c.region.value_counts(normalize=True)
    i = i.merge(c[["customer_id", "region"]], on="customer_id")
    lifts = []
    for camp in manifest["inspections"]["campaigns"]:
        if camp["smart_only"]:
            continue
        got = i[i.campaign_id == camp["campaign_id"]]
        if len(got) >= 20:
            lifts.append(got.region.isin(camp["regions"]).mean() / population[camp["regions"]].sum())
    assert len(lifts) >= 5 and np.median(lifts) > 1.5
    # ad-hoc inspections exist, and campaigns cover the whole window
    assert i.campaign_id.isna().mean() > 0.1
    days = pd.to_datetime(i.inspected_on)
    assert days.min() < pd.Timestamp("2024-01-01") and days.max() > pd.Timestamp("2026-06-01")


def test_recent_smart_meter_campaign_has_90_days_of_readings(run_dir: Path) -> None:
    i, c, r = read(run_dir, "inspections"), read(run_dir, "customers"), read(run_dir, "readings")
    smart = i[i.campaign_id == "CMP-SMART"].merge(c, on="customer_id")
    assert len(smart) >= 30 and (smart.meter_type == "smart").all()
    first = r.ts.min().normalize()
    assert (pd.to_datetime(smart.inspected_on) - pd.Timedelta(days=90) >= first).all()
    assert (smart.outcome == "irregular").sum() >= 2


def test_readings_match_bills_and_show_gaps(run_dir: Path) -> None:
    r, b, c = read(run_dir, "readings"), read(run_dir, "bills"), read(run_dir, "customers")
    assert r.ts.dt.minute.isin([0, 15, 30, 45]).all() and (r.ts.dt.second == 0).all()
    assert r.ts.max() == pd.Timestamp("2026-09-30 23:45:00")
    assert 0 < r.kwh.isna().mean() < 0.01 and (r.kwh.dropna() >= 0).all()
    per_day = r.groupby([r.meter_id, r.ts.dt.date]).size()
    assert (per_day == 96).all() and len(per_day) < r.meter_id.nunique() * 100  # whole days are missing
    month = r.assign(period=r.ts.dt.to_period("M").dt.start_time.dt.date)
    monthly = month[month.period >= pd.Timestamp("2026-07-01").date()].groupby(["meter_id", "period"]).kwh.sum()
    bills = b.merge(c[["customer_id", "meter_id"]], on="customer_id").dropna(subset=["meter_id"])
    bills = bills.set_index(["meter_id", "period"])
    joined = pd.concat([monthly.rename("readings"), (bills.kwh / bills.days * 30.4).rename("bill")], axis=1).dropna()
    assert 0.9 < (joined.readings / joined.bill).median() < 1.1


def test_events_flag_tampered_meters(run_dir: Path) -> None:
    e, t = read(run_dir, "events"), read(run_dir, "_truth/fraud.parquet")
    assert set(e.code) <= set(schemas.EVENT_CODES)
    assert not e.duplicated(["meter_id", "ts", "code"]).any()
    tamper = e[e.code.isin(["COVER_OPEN", "MAGNETIC_TAMPER", "REVERSE_ENERGY"])].groupby("meter_id").size()
    cheats = set(t.meter_id.dropna())
    meters = set(e.meter_id)
    rate_cheat = tamper.reindex(list(cheats & meters), fill_value=0).mean()
    rate_honest = tamper.reindex(list(meters - cheats), fill_value=0).mean()
    assert rate_cheat > 3 * rate_honest


def test_csv_layout_and_rerun_cleans(tmp_path: Path) -> None:
    cfg = config(tmp_path, "generate.customers=200", "generate.reading_days=2", "generate.format=csv")
    out = tmp_path / "raw"
    (out / "bills").mkdir(parents=True)
    (out / "bills" / "part-00099.csv").write_text("stale")
    generate.run(cfg)
    assert sorted(p.name for p in (out / "bills").iterdir()) == ["part-00000.csv"]
    lines = (out / "readings" / "part-00000.csv").read_text().splitlines()
    assert lines[0] == '"meter_id","ts","kwh"'
    assert re.fullmatch(r'"M\d{7}",\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,[\d.]*', lines[1])
    customers = (out / "customers" / "part-00000.csv").read_text().splitlines()
    assert any(',,' in line for line in customers[1:])  # null meter_id is an empty field
    assert re.search(r",\d{4}-\d\d-\d\d,", customers[1])


def test_lookalikes_are_honest_and_look_like_theft(run_dir: Path) -> None:
    look = read(run_dir, "_truth/lookalikes.parquet")
    fraud = read(run_dir, "_truth/fraud.parquet")
    c = read(run_dir, "customers")
    counts = look.kind.value_counts()
    assert set(counts.index) == {"move_out", "solar", "efficiency", "seasonal_home", "meter_replacement",
                                 "tariff_change"}
    assert 0.12 < len(look) / len(c) < 0.25
    assert (c.set_index("customer_id").loc[look[look.kind == "tariff_change"].customer_id].tariff
            == "residential_two_period").all()
    # efficiency steps drop the bills by 15-40 % after the change, like a partial theft
    b = read(run_dir, "bills").merge(look[look.kind == "efficiency"], on="customer_id")
    b = b[~b.customer_id.isin(fraud.customer_id)]
    b["period"] = pd.to_datetime(b.period)
    changed = pd.to_datetime(b.changed_on)
    after = b[b.period > changed + pd.Timedelta(days=31)].groupby("customer_id").kwh.mean()
    before = b[b.period < changed - pd.Timedelta(days=31)].groupby("customer_id").kwh.mean()
    assert 0.6 < (after / before).dropna().median() < 0.9


def test_solar_meters_raise_reverse_energy_and_replacements_a_zero_day(run_dir: Path) -> None:
    look, e, r = read(run_dir, "_truth/lookalikes.parquet"), read(run_dir, "events"), read(run_dir, "readings")
    fraud = read(run_dir, "_truth/fraud.parquet")
    reverse = e[e.code == "REVERSE_ENERGY"].groupby("meter_id").size()
    solar = set(look[look.kind == "solar"].meter_id.dropna())
    honest = set(e.meter_id) - set(fraud.meter_id.dropna())
    assert solar & honest
    assert reverse.reindex(list(solar & honest), fill_value=0).mean() > 3 * reverse.reindex(
        list(honest - solar), fill_value=0).mean()
    swap = look[(look.kind == "meter_replacement") & look.meter_id.notna()]
    swap = swap[pd.to_datetime(swap.changed_on) >= r.ts.min()]
    daily = r.assign(day=r.ts.dt.normalize()).groupby(["meter_id", "day"]).kwh.sum()
    zeros = [daily.get((m, pd.Timestamp(d)), np.nan) for m, d in zip(swap.meter_id, swap.changed_on, strict=True)]
    zeros = [z for z in zeros if not np.isnan(z)]
    assert zeros and max(zeros) == 0.0


def test_caught_customers_may_steal_again(run_dir: Path) -> None:
    fraud, again = read(run_dir, "_truth/fraud.parquet"), read(run_dir, "_truth/restarts.parquet")
    i = read(run_dir, "inspections")
    assert len(again) > 0
    rows = again.merge(fraud, on="customer_id")
    assert (rows.fraud_end.notna()).all() and (rows.restart > rows.fraud_end).all()
    caught = rows[rows.restart_end.notna()]
    for row in caught.itertuples():
        hit = i[(i.customer_id == row.customer_id) & (i.inspected_on == row.restart_end)]
        assert len(hit) == 1 and hit.outcome.iloc[0] in ("irregular", "regular")  # regular: label noise


def test_weather_differs_by_region(run_dir: Path) -> None:
    from ntl_spark.generate import weather
    from ntl_spark.generate.common import REGIONS, Calendar

    cfg = config(run_dir, *SMALL)
    cal = Calendar.from_conf(cfg.generate)
    f = weather.season_factors(cal, cfg.generate.weather, np.random.default_rng(0))
    north, east = REGIONS.index("NORTE"), REGIONS.index("ESTE")
    jan = cal.moy == 0
    assert f[0, north, jan].mean() > f[0, east, jan].mean()  # hotter summers: more cooling
    assert not np.allclose(f[0, 0, 12:24], f[0, 0, :12])  # each year's weather differs
    off = weather.season_factors(cal, dataclasses.replace(cfg.generate.weather, enabled=False), np.random.default_rng(0))
    assert np.allclose(off[:, 0, :12], off[:, 3, :12])
