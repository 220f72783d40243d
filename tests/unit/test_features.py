from __future__ import annotations

import datetime as dt

import pytest
from pyspark.sql import Row

from ntl_spark import features, schemas

D = dt.date


def bills_df(spark, rows):
    return spark.createDataFrame(rows, schemas.BILLS_SCHEMA)


def customers_df(spark, ids):
    rows = [
        (cid, None, "conventional", "NORTE", "residential", 5.0, "A", None, None, D(2015, 1, 1), "active")
        for cid in ids
    ]
    return spark.createDataFrame(rows, schemas.CUSTOMERS_SCHEMA)


def test_monthly_matrix_orders_most_recent_first_and_keeps_gaps(spark):
    bills = bills_df(spark, [
        ("A", D(2026, 3, 1), 30.0, 31, "actual"),
        ("A", D(2026, 2, 1), 20.0, 28, "estimated"),
        # January missing
        ("A", D(2025, 12, 1), 10.0, 31, "actual"),
        ("A", D(2026, 4, 1), 999.0, 30, "actual"),  # after the reference month: must not appear
    ])
    keys = spark.createDataFrame([("A", D(2026, 3, 1)), ("B", D(2026, 3, 1))], "customer_id string, reference_month date")
    rows = {r.customer_id: r for r in features.build_features(bills, customers_df(spark, ["A", "B"]), keys, 4).collect()}
    a = rows["A"]
    assert [a.C1, a.C2, a.C3, a.C4] == [30.0, 20.0, None, 10.0]
    assert a.missing_months == 1.0
    assert a.estimated_share_12 == 0.25
    b = rows["B"]  # no bill at all: every consumption feature missing, the row still there
    assert [b.C1, b.C2, b.C3, b.C4, b.mean_12] == [None] * 5
    assert b.missing_months == 4.0


def test_point_in_time_rule_excludes_the_inspection_month_and_after(spark):
    bills = bills_df(spark, [("A", D(2026, m, 1), float(m * 100), 30, "actual") for m in range(1, 10)])
    insp = spark.createDataFrame(
        [("I1", "A", D(2026, 6, 15), "irregular", "bypass", None, None),
         ("I2", "A", D(2026, 8, 2), "no_access", None, None, None)],
        schemas.INSPECTIONS_SCHEMA,
    )
    rows = features.training_rows(bills, customers_df(spark, ["A"]), insp, 6, 1).collect()
    assert len(rows) == 1  # no_access carries no label
    r = rows[0]
    assert r["reference_month"] == D(2026, 5, 1)
    assert r["label"] == 1
    # C1 is May (500), nothing from June (inspection month) or later
    assert [r[f"C{i}"] for i in range(1, 7)] == [500.0, 400.0, 300.0, 200.0, 100.0, None]


def test_derived_features_see_a_drop(spark):
    months = 24
    series = [100.0] * 12 + [20.0] * 3  # oldest first: 12 normal months then a drop
    start = D(2025, 1, 1)
    rows = []
    for i, v in enumerate(series):
        y, m = divmod(start.month - 1 + i, 12)
        rows.append(("A", D(start.year + y, m + 1, 1), v, 30, "actual"))
    bills = bills_df(spark, rows)
    ref = rows[-1][1]
    keys = spark.createDataFrame([("A", ref)], "customer_id string, reference_month date")
    out = features.build_features(bills, customers_df(spark, ["A"]), keys, months).first()
    assert out["mean_3"] == pytest.approx(20.0)
    assert out["ratio_3_12"] < 0.5
    assert out["slope_12"] < 0  # consumption fell over time
    assert out["missing_months"] == months - len(series)
    assert out["kwh_per_kw"] == pytest.approx(out["mean_12"] / 5.0)
    cols = schemas.numeric_feature_columns(months)
    assert set(cols) <= set(out.asDict())
    without = schemas.numeric_feature_columns(months, raw_consumption=False)
    assert without == [c for c in cols if c not in schemas.consumption_columns(months)] and "C1" not in without


def test_categorical_attributes_are_carried_raw_not_encoded(spark):
    # a region no list in the code knows: it reaches the feature rows as it is (the train job encodes it)
    cust = spark.createDataFrame(
        [("A", "M1", "smart", "LITORAL NORTE", "tarifa_x", 4.0, "retail", None, None, D(2015, 1, 1), "active")],
        schemas.CUSTOMERS_SCHEMA,
    )
    bills = bills_df(spark, [("A", D(2026, 2, 1), 50.0, 28, "actual")])
    keys = spark.createDataFrame([("A", D(2026, 2, 1))], "customer_id string, reference_month date")
    out = features.build_features(bills, cust, keys, 3)
    row = out.first()
    assert (row.region, row.tariff, row.meter_type, row.activity) == ("LITORAL NORTE", "tarifa_x", "smart", "retail")
    assert set(schemas.CUSTOMER_CATEGORICAL) | set(schemas.numeric_feature_columns(3)) <= set(out.columns)
    assert not [c for c in out.columns if c.startswith(("region_", "tariff_")) or c == "is_smart"]


def test_scoring_keys_only_active_and_connected_by_the_end_of_the_month(spark):
    cust = customers_df(spark, ["A", "B"]).union(
        spark.createDataFrame([
            Row("C", None, "conventional", "SUR", "general", 3.0, "X", None, None, D(2020, 1, 1), "inactive"),
            Row("E", None, "conventional", "SUR", "general", 3.0, "X", None, None, D(2026, 1, 31), "active"),
            Row("F", None, "conventional", "SUR", "general", 3.0, "X", None, None, D(2026, 2, 1), "active"),
        ], schemas.CUSTOMERS_SCHEMA)
    )
    keys = features.scoring_keys(cust, D(2026, 1, 1)).collect()
    assert sorted(r.customer_id for r in keys) == ["A", "B", "E"]
    assert {r.reference_month for r in keys} == {D(2026, 1, 1)}


def test_history_months_and_keys_for_unlabelled_negatives(spark):
    # offsets 0 (the reference month itself) and months already in the table are not built again
    assert features.history_months(D(2026, 9, 1), [0, 6, 12, 18], [D(2026, 3, 1), D(2026, 9, 1)]) == [
        D(2025, 3, 1), D(2025, 9, 1)]
    assert features.history_months(D(2026, 9, 1), [0], []) == []
    cust = customers_df(spark, ["A"]).union(spark.createDataFrame([
        Row("L", None, "conventional", "SUR", "general", 3.0, "X", None, None, D(2025, 6, 30), "active"),
        Row("M", None, "conventional", "SUR", "general", 3.0, "X", None, None, D(2025, 7, 1), "active"),
        Row("C", None, "conventional", "SUR", "general", 3.0, "X", None, None, D(2020, 1, 1), "inactive"),
    ], schemas.CUSTOMERS_SCHEMA))
    keys = features.history_keys(cust, [D(2025, 6, 1), D(2025, 9, 1)])
    got = sorted((r.customer_id, r.reference_month) for r in keys.collect())
    # a customer connected after a month's end has no row at that month
    assert got == [("A", D(2025, 6, 1)), ("A", D(2025, 9, 1)), ("L", D(2025, 6, 1)), ("L", D(2025, 9, 1)),
                   ("M", D(2025, 9, 1))]


def test_series_features_tell_theft_from_look_alikes():
    import numpy as np

    months = 36
    season = 100.0 * (1 + 0.3 * np.cos(np.arange(months) / 12 * 2 * np.pi))  # column 0 = most recent
    honest = season.copy()
    hookup = season.copy()
    hookup[:10] = season[10:22].mean()  # a direct hook-up: the old mean, flat, no season left
    retrofit = season.copy()
    retrofit[:8] *= 0.7  # one clean step, 8 months ago
    stopped = season.copy()
    stopped[:4] = 0.0  # a stopped meter: four zero months up to now
    k = np.vstack([honest, hookup, retrofit, stopped])
    e = np.zeros_like(k)
    e[0, :3] = 1
    peers = np.tile(season, (4, 1)) * 0.9  # the region follows the same season
    f = features.series_features(k, e, peers)
    assert f["season_corr_yoy"][0] == pytest.approx(1.0) and f["season_corr_yoy"][1] < 0.6
    assert f["season_amp_ratio"][1] < 0.6 < f["season_amp_ratio"][2]
    assert f["step_ratio"][2] == pytest.approx(0.7, abs=0.02) and f["step_months_ago"][2] == 8
    assert f["step_ratio"][0] == pytest.approx(1.0)  # the season is not a step against the peers
    assert list(f["zero_run_12"]) == [0, 0, 0, 4] and f["zero_run_current"][3] == 4
    assert f["near_zero_12"][3] == 4 and f["near_zero_12"][2] == 0
    assert f["estimated_share_3"][0] == 1.0
    assert f["ratio_6_yoy"][2] == pytest.approx(0.7, abs=0.02)
    assert f["peer_ratio_12"][0] == pytest.approx(1 / 0.9, abs=0.01)
    assert f["peer_drop_6_yoy"][0] == pytest.approx(1.0, abs=0.01) and f["peer_drop_6_yoy"][2] < 0.75
    # short series: what needs two years is missing, not made up
    short = features.series_features(k[:, :6], e[:, :6])
    assert np.isnan(short["season_corr_yoy"]).all() and np.isnan(short["step_ratio"]).all()


def test_peer_kwh_is_the_median_of_the_region_and_tariff_that_month(spark):
    cust = spark.createDataFrame(
        [(c, None, "conventional", r, "residential", 5.0, "A", None, None, D(2015, 1, 1), "active")
         for c, r in (("A", "NORTE"), ("B", "NORTE"), ("C", "NORTE"), ("D", "SUR"))],
        schemas.CUSTOMERS_SCHEMA,
    )
    bills = bills_df(spark, [(c, D(2026, 1, 1), v, 31, "actual")
                             for c, v in (("A", 100.0), ("B", 200.0), ("C", 900.0), ("D", 50.0))])
    got = {r.customer_id: r.peer_kwh for r in features.with_peer_kwh(bills, cust).collect()}
    assert got == {"A": 200.0, "B": 200.0, "C": 200.0, "D": 50.0}
    keys = spark.createDataFrame([("A", D(2026, 1, 1))], "customer_id string, reference_month date")
    row = features.build_features(bills, cust, keys, 3).first()
    assert row.peer_ratio_12 == pytest.approx(101 / 201)


def test_alarm_counts_cover_three_months_up_to_the_reference_month(spark):
    cust = spark.createDataFrame(
        [("A", "M1", "smart", "NORTE", "residential", 5.0, "A", None, None, D(2015, 1, 1), "active"),
         ("B", "M2", "smart", "NORTE", "residential", 5.0, "A", None, None, D(2015, 1, 1), "active"),
         ("C", None, "conventional", "NORTE", "residential", 5.0, "A", None, None, D(2015, 1, 1), "active")],
        schemas.CUSTOMERS_SCHEMA,
    )
    from pyspark.sql import functions as F

    # local wall-clock times, parsed in the session time zone as ingest reads them
    events = spark.createDataFrame([
        ("M1", "2026-03-31 23:00:00", "COVER_OPEN"),      # last day of the reference month: counted
        ("M1", "2026-01-02 08:00:00", "REVERSE_ENERGY"),  # first month of the window: counted
        ("M1", "2025-12-31 08:00:00", "COVER_OPEN"),      # before the window
        ("M1", "2026-04-01 00:00:00", "MAGNETIC_TAMPER"),  # the inspection's month: never
    ], "meter_id string, ts string, code string").withColumn("ts", F.to_timestamp("ts"))
    bills = bills_df(spark, [(c, D(2026, 3, 1), 100.0, 31, "actual") for c in "ABC"])
    keys = spark.createDataFrame([(c, D(2026, 3, 1)) for c in "ABC"], "customer_id string, reference_month date")
    rows = {r.customer_id: r for r in features.build_features(bills, cust, keys, 3, events).collect()}
    assert (rows["A"].alarms_3m_cover_open, rows["A"].alarms_3m_reverse_energy) == (1.0, 1.0)
    assert rows["A"].alarms_3m_magnetic_tamper == 0.0
    assert rows["B"].alarms_3m_cover_open == 0.0  # a smart meter without alarms
    assert rows["C"].alarms_3m_cover_open is None  # no smart meter: unknown
    no_events = features.build_features(bills, cust, keys, 3).first()
    assert no_events.alarms_3m_power_fail is None


def _hourly_readings(spark, meter, first, days, kwh_at):
    """Hourly readings of ``meter`` for ``days`` days from ``first``; ``kwh_at(day_index, hour)``."""
    from pyspark.sql import functions as F

    # local wall-clock times, parsed in the session time zone as ingest reads them
    rows = [(meter, f"{first + dt.timedelta(days=d)} {h:02d}:00:00", float(kwh_at(d, h)))
            for d in range(days) for h in range(24)]
    return spark.createDataFrame(rows, "meter_id string, ts string, kwh double").withColumn("ts", F.to_timestamp("ts"))


def test_interval_profile_tells_night_theft_solar_and_a_flat_hookup_apart(spark):
    cust = spark.createDataFrame(
        [(c, f"M{c}", "smart", "NORTE", "residential", 5.0, "A", None, None, D(2015, 1, 1), "active") for c in "NSF"]
        + [("C", None, "conventional", "NORTE", "residential", 5.0, "A", None, None, D(2015, 1, 1), "active")],
        schemas.CUSTOMERS_SCHEMA)
    first = D(2026, 2, 1)  # 59 days up to the end of the reference month (March)

    def night_theft(d, h):  # the night stops registering in the last 10 days
        return 0.0 if (h < 6 and d >= 49) else 1.0

    def solar(d, h):  # import falls to zero around midday
        return 0.0 if 10 <= h < 16 else 1.0

    def flat(d, h):  # a flat level, whatever the hour
        return 0.5

    readings = (_hourly_readings(spark, "MN", first, 59, night_theft)
                .unionByName(_hourly_readings(spark, "MS", first, 59, solar))
                .unionByName(_hourly_readings(spark, "MF", first, 59, flat))
                # the inspection's month: never read for a March reference month
                .unionByName(_hourly_readings(spark, "MF", D(2026, 4, 1), 5, lambda d, h: 99.0)))
    keys = spark.createDataFrame([(c, D(2026, 3, 1)) for c in "NSFC"], "customer_id string, reference_month date")
    win = features.IntervalWindow(days=20, recent_days=10, zero_kwh=0.0)
    bills = bills_df(spark, [(c, D(2026, 3, 1), 100.0, 31, "actual") for c in "NSFC"])
    rows = {r.customer_id: r for r in features.build_features(bills, cust, keys, 3, readings=readings,
                                                              interval=win).collect()}
    n, s, f = rows["N"], rows["S"], rows["F"]
    # 20-day window: 10 days with the night, 10 without
    assert n.night_day_ratio == pytest.approx((0.5 + 0.01) / 1.01)
    assert n.zero_interval_share == pytest.approx(60 / 480)
    assert n.interval_recent_ratio == pytest.approx((18 / 24 + 0.01) / 1.01)
    assert s.day_zero_share == 1.0 and s.night_day_ratio == pytest.approx(1.01 / 0.01)
    assert s.base_load_share == pytest.approx(0.01 / (18 / 24 + 0.01))
    assert f.profile_cv == 0.0 and f.base_load_share == 1.0 and f.interval_recent_ratio == pytest.approx(1.0)
    assert f.readings_per_day == 24.0  # the April readings stay out
    assert rows["C"].night_day_ratio is None  # no smart meter: unknown
    without = features.build_features(bills, cust, keys, 3).first()
    assert without.night_day_ratio is None


def test_interval_window_checks_its_days(spark):
    with pytest.raises(ValueError, match="recent_days"):
        features.interval_profile(spark.createDataFrame([], schemas.READINGS_SCHEMA),
                                  spark.createDataFrame([], schemas.CUSTOMERS_SCHEMA),
                                  spark.createDataFrame([], "customer_id string, reference_month date"), 10, 10, 0.0)


def test_readings_between_keeps_the_days_the_windows_can_use(spark):
    from pyspark.sql import functions as F

    days = ["2026-01-01 00:00:00", "2026-01-02 00:00:00", "2026-03-31 23:45:00", "2026-04-01 00:00:00"]
    readings = spark.createDataFrame([("M", d, float(i)) for i, d in enumerate(days)],
                                     "meter_id string, ts string, kwh double").withColumn("ts", F.to_timestamp("ts"))
    # reference months Feb..Mar 2026, 58-day windows: Feb's starts on Jan 2 (Feb 28 is its 58th day), March's
    # ends on Mar 31; the same days interval_profile keeps
    kept = features.readings_between(readings, D(2026, 2, 1), D(2026, 3, 1), 58)
    assert sorted(r.kwh for r in kept.collect()) == [1.0, 2.0]
    assert features.readings_between(None, D(2026, 2, 1), D(2026, 3, 1), 58) is None
    assert features.last_day_of(D(2024, 2, 10)) == D(2024, 2, 29)


def test_inspection_history_counts_visits_up_to_the_reference_month_only(spark):
    bills = bills_df(spark, [(c, D(2026, m, 1), 100.0, 30, "actual") for c in "AB" for m in range(1, 10)])
    insp = spark.createDataFrame([
        ("I1", "A", D(2025, 11, 20), "irregular", "bypass", None, None),
        ("I2", "A", D(2026, 3, 31), "regular", None, None, None),    # last day of the reference month: known
        ("I3", "A", D(2026, 4, 1), "irregular", "bypass", None, None),  # the month after: never
    ], schemas.INSPECTIONS_SCHEMA)
    keys = spark.createDataFrame([(c, D(2026, 3, 1)) for c in "AB"], "customer_id string, reference_month date")
    rows = {r.customer_id: r for r in features.build_features(bills, customers_df(spark, ["A", "B"]), keys, 3,
                                                                 inspections=insp).collect()}
    a = rows["A"]
    assert (a.inspections_before, a.irregular_before) == (2.0, 1.0)
    assert a.months_since_inspection == 0.0
    assert a.months_since_irregular == pytest.approx(4.35, abs=0.01)  # 2025-11-20 -> 2026-03-31
    b = rows["B"]  # never visited: zero visits, no time since
    assert (b.inspections_before, b.irregular_before, b.months_since_inspection, b.months_since_irregular) == (
        0.0, 0.0, None, None)
    assert features.build_features(bills, customers_df(spark, ["A"]), keys, 3).first().inspections_before is None


def test_a_label_never_sees_its_own_inspection_in_the_visit_history(spark):
    bills = bills_df(spark, [("A", D(2026, m, 1), float(m * 100), 30, "actual") for m in range(1, 10)])
    insp = spark.createDataFrame([
        ("I1", "A", D(2026, 2, 10), "irregular", "bypass", None, None),
        ("I2", "A", D(2026, 6, 1), "regular", None, None, None),  # first day of its month
    ], schemas.INSPECTIONS_SCHEMA)
    rows = {r.inspection_id: r for r in features.training_rows(bills, customers_df(spark, ["A"]), insp, 6, 1).collect()}
    assert (rows["I1"].inspections_before, rows["I1"].months_since_irregular) == (0.0, None)
    later = rows["I2"]  # reference month May: the February finding, not its own visit
    assert (later.inspections_before, later.irregular_before) == (1.0, 1.0)
    assert later.months_since_irregular == pytest.approx(3.68, abs=0.01)
