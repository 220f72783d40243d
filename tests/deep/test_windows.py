"""DeepDAICE windows: layout, masks, imputation, normalisation, point-in-time rule."""

from __future__ import annotations

import datetime as dt
import glob
import os

import numpy as np
import pytest
from deep_helpers import local_frame
from pyspark.sql import functions as F

from ntl_spark import schemas, windows
from ntl_spark.sparkutil import arrow_batch_rows

D0 = dt.date(2026, 6, 1)


def _readings(spark, rows):
    return local_frame(spark, rows, schemas.READINGS_SCHEMA)


def _ts(day: dt.date, slot: int, minutes: int = 15) -> dt.datetime:
    return dt.datetime.combine(day, dt.time()) + dt.timedelta(minutes=slot * minutes)


def _one_day(daily_rows, width):
    """The rows of one meter-day added up (a day may be split over rows): None where nothing was observed."""
    assert len({(r.meter_id, r.day) for r in daily_rows}) == 1
    out = [None] * width
    for r in daily_rows:
        assert len(r.kwh) == width
        for i, v in enumerate(r.kwh):
            if v is not None:
                out[i] = v if out[i] is None else out[i] + v
    return out


def test_daily_readings_places_values_and_marks_missing(spark):
    rows = [("M1", _ts(D0, i), float(i)) for i in range(96) if i not in (5, 50)]
    rows.append(("M1", _ts(D0, 50), None))
    got = windows.daily_readings(_readings(spark, rows), 96).collect()
    assert got[0].day == D0
    kwh = _one_day(got, 96)
    assert kwh[5] is None and kwh[50] is None
    assert kwh[0] == 0.0 and kwh[95] == 95.0 and sum(v is None for v in kwh) == 2


def test_daily_readings_one_row_per_meter_day_for_sorted_input(spark):
    rows = [(f"M{m}", _ts(D0 + dt.timedelta(days=d), i), 1.0) for m in range(3) for d in range(2) for i in range(96)]
    got = windows.daily_readings(_readings(spark, rows).coalesce(1), 96).collect()
    assert sorted((r.meter_id, r.day) for r in got) == sorted({(m, ts.date()) for m, ts, _ in rows})


def test_daily_readings_half_hourly_sums_quarter_hours(spark):
    rows = [("M1", _ts(D0, i), 1.0) for i in range(96) if i != 3]
    kwh = _one_day(windows.daily_readings(_readings(spark, rows), 48).collect(), 48)
    assert kwh[0] == 2.0 and kwh[1] == 1.0  # slot 1 lost one of its two quarter-hours


def test_impute_normalise_order_of_fallbacks():
    x = np.full((1, 15, 2), 2.0)
    x[0, 3, 0] = 6.0  # observed a week before the gap at day 10
    x[0, 10, 0] = np.nan  # -> day 3 value
    x[0, 1, 1] = np.nan  # day -6 does not exist -> day 8 value
    x[0, 8, 1] = 4.0
    x[0, 7, 1] = np.nan  # day 0 and day 14 observed (2.0) -> 2.0
    values, mask, scale, coverage = windows.impute_normalise(x)
    observed = np.nanmean(x)
    assert scale[0] == pytest.approx(observed)
    assert values[0, 10, 0] * scale[0] == pytest.approx(6.0)
    assert values[0, 1, 1] * scale[0] == pytest.approx(4.0)
    assert values[0, 7, 1] * scale[0] == pytest.approx(2.0)
    assert mask.sum() == 3 and mask[0, 10, 0]
    assert coverage[0] == pytest.approx(27 / 30)


def test_impute_normalise_median_then_zero():
    x = np.full((2, 10, 2), np.nan)
    x[0, :, 0] = [1, 5, 9, np.nan, 3, 3, 3, 3, 3, 3]  # day 3 lacks both week neighbours? day 10 absent
    x[0, 0, 1] = 8.0
    values, mask, scale, coverage = windows.impute_normalise(x)
    # day 3: day -4 absent, day 10 outside -> median of interval 0 over observed days = 3
    assert values[0, 3, 0] * scale[0] == pytest.approx(3.0)
    # interval 1 only observed on day 0 (8.0): day 7 gets it from a week before, the rest the median 8
    assert values[0, 7, 1] * scale[0] == pytest.approx(8.0)
    # a window without any reading: zeros, scale 1, coverage 0
    assert np.all(values[1] == 0) and scale[1] == 1.0 and coverage[1] == 0.0


def test_training_keys_point_in_time_and_labels(spark):
    customers = spark.createDataFrame(
        [("C1", "M1", "smart", "NORTE", "residential", 3.0, None, None, None, D0, "active"),
         ("C2", None, "conventional", "SUR", "residential", 3.0, None, None, None, D0, "active")],
        schemas.CUSTOMERS_SCHEMA,
    )
    inspections = spark.createDataFrame(
        [("I1", "C1", dt.date(2026, 7, 10), "irregular", None, None, None),
         ("I2", "C1", dt.date(2026, 8, 10), "no_access", None, None, None),
         ("I3", "C2", dt.date(2026, 7, 10), "regular", None, None, None)],
        schemas.INSPECTIONS_SCHEMA,
    )
    got = windows.training_keys(inspections, customers).collect()
    assert len(got) == 1
    assert got[0].end_date == dt.date(2026, 7, 9) and got[0].label == 1 and got[0].meter_id == "M1"


def test_training_keys_several_end_dates_stop_at_an_earlier_regular_inspection(spark):
    customers = spark.createDataFrame(
        [("C1", "M1", "smart", "NORTE", "residential", 3.0, None, None, None, D0, "active")],
        schemas.CUSTOMERS_SCHEMA,
    )
    inspections = spark.createDataFrame(
        [("I1", "C1", dt.date(2026, 6, 20), "regular", None, None, None),
         ("I2", "C1", dt.date(2026, 7, 10), "irregular", None, None, None)],
        schemas.INSPECTIONS_SCHEMA,
    )
    got = sorted((r.inspection_id, r.end_date, r.label)
                 for r in windows.training_keys(inspections, customers, [0, 14, 28]).collect())
    # I1 regular: every offset (no theft on 06-20 and none stopped before); I2 irregular: the window ending
    # 06-11 ends before the regular visit of 06-20, which saw no theft, so it is dropped
    assert got == [("I1", dt.date(2026, 5, 22), 0), ("I1", dt.date(2026, 6, 5), 0), ("I1", dt.date(2026, 6, 19), 0),
                   ("I2", dt.date(2026, 6, 25), 1), ("I2", dt.date(2026, 7, 9), 1)]
    with pytest.raises(ValueError, match="offsets"):
        windows.training_keys(inspections, customers, [-1])


def _windows(spark, rows, keys, days=14, width=24, events=None, passthrough=(), partitions=None):
    daily = windows.daily_readings(_readings(spark, rows), width)
    alarms = None
    if events is not None:
        alarms = windows.daily_alarms(local_frame(spark, events, schemas.EVENTS_SCHEMA), schemas.EVENT_CODES)
    codes = schemas.EVENT_CODES if events is not None else []
    return windows.assemble_windows(keys, daily, alarms, days, width, codes, passthrough, partitions)


def _window(spark, rows, end, days=14, width=24, events=None):
    keys = spark.createDataFrame([("M1", end)], "meter_id string, end_date date")
    got = _windows(spark, rows, keys, days, width, events).collect()
    assert len(got) == 1
    return got[0]


def test_reading_on_inspection_day_stays_out_of_its_window(spark):
    inspected = D0 + dt.timedelta(days=20)
    rows = [("M1", _ts(D0 + dt.timedelta(days=d), h, 60), 1.0) for d in range(21) for h in range(24)]
    rows[-1] = ("M1", _ts(inspected, 23, 60), 1000.0)  # day 20 = inspection day
    w = _window(spark, rows, inspected - dt.timedelta(days=1))
    assert len(w.kwh) == 14 * 24
    assert w.scale == pytest.approx(1.0)
    assert max(w.kwh) == pytest.approx(1.0)
    assert w.coverage == pytest.approx(1.0) and w.missing == []


def test_window_layout_mask_and_alarm_channels(spark):
    end = D0 + dt.timedelta(days=13)
    rows = [("M1", _ts(D0 + dt.timedelta(days=d), h, 60), float(d + 1)) for d in range(14) for h in range(24)
            if not (d == 2 and h == 5)]
    events = [("M1", _ts(D0 + dt.timedelta(days=4), 3, 60), "COVER_OPEN"),
              ("M1", _ts(D0 + dt.timedelta(days=4), 7, 60), "COVER_OPEN"),
              ("M1", _ts(D0 + dt.timedelta(days=13), 1, 60), "CLOCK_SET"),
              ("M1", _ts(D0 + dt.timedelta(days=14), 1, 60), "CLOCK_SET")]  # after the end: left out
    w = _window(spark, rows, end, events=events)
    kwh = np.array(w.kwh).reshape(14, 24) * w.scale
    assert kwh[0, 0] == pytest.approx(1.0) and kwh[13, 23] == pytest.approx(14.0)  # day 0 oldest
    mask = windows.dense_mask(w.missing, 14 * 24).reshape(14, 24)
    assert mask.sum() == 1 and mask[2, 5]
    assert kwh[2, 5] == pytest.approx(10.0)  # imputed from the same hour a week later (day 9)
    alarms = np.array(w.alarms).reshape(14, len(schemas.EVENT_CODES))
    assert alarms[4, schemas.EVENT_CODES.index("COVER_OPEN")] == 2
    assert alarms[13, schemas.EVENT_CODES.index("CLOCK_SET")] == 1
    assert alarms.sum() == 3


def _observed(rows, meter, end, days=14):
    """The (days, 24) hourly readings of ``meter`` in the window ending ``end`` (NaN = missing)."""
    x = np.full((days, 24), np.nan)
    for m, ts, v in rows:
        d = (ts.date() - (end - dt.timedelta(days=days - 1))).days
        if m == meter and 0 <= d < days and v is not None:
            x[d, ts.hour] = v
    return x.ravel()


def _check_window(w, rows, meter, end):
    x = _observed(rows, meter, end)
    seen = ~np.isnan(x)
    assert np.allclose(np.array(w.kwh)[seen] * w.scale, x[seen], rtol=1e-5)
    assert w.scale == pytest.approx(x[seen].mean() if seen.any() else 1.0, rel=1e-5)
    assert w.missing == np.flatnonzero(~seen).tolist()


@pytest.fixture
def small_arrow_batches(spark):
    with arrow_batch_rows(spark, 7):
        yield


def test_many_windows_across_batches_and_partitions(spark, small_arrow_batches):
    """Groups cut by Arrow batch boundaries, several partitions, shared windows and a meter without readings."""
    rows = [(f"M{m}", _ts(D0 + dt.timedelta(days=d), h, 60), float((m * 13 + d * 7 + h) % 9))
            for m in range(6) for d in range(20) for h in range(24) if (m + d + h) % 7]
    ends = [D0 + dt.timedelta(days=13), D0 + dt.timedelta(days=19)]
    key_rows = [(f"M{m}", e, f"C{m}-{i}") for m in range(7) for i, e in enumerate(ends)]
    key_rows.append(("M2", ends[0], "C2-again"))  # a second key on the same window
    keys = spark.createDataFrame(key_rows, "meter_id string, end_date date, customer_id string")
    got = {r.customer_id: r for r in _windows(spark, rows, keys, passthrough=["customer_id"], partitions=3).collect()}
    assert sorted(got) == sorted(k[2] for k in key_rows)
    for meter, end, customer in key_rows:
        assert (got[customer].meter_id, got[customer].end_date) == (meter, end)
        _check_window(got[customer], rows, meter, end)
    assert np.allclose(got["C2-again"].kwh, got["C2-0"].kwh)
    assert got["C6-0"].coverage == 0.0 and len(got["C6-0"].missing) == 14 * 24


def test_meter_days_split_by_the_pivot_add_up(spark, small_arrow_batches):
    """Readings in no particular order, 7 per Arrow batch: a meter-day lands in several readings_daily rows."""
    rng = np.random.default_rng(3)
    rows = [(f"M{m}", _ts(D0 + dt.timedelta(days=d), h, 60), float(rng.integers(1, 9)))
            for m in range(2) for d in range(14) for h in range(24) if rng.random() > 0.05]
    rows = [rows[i] for i in rng.permutation(len(rows))]
    daily = windows.daily_readings(_readings(spark, rows), 24)
    assert daily.count() > 2 * 14  # split rows
    end = D0 + dt.timedelta(days=13)
    keys = spark.createDataFrame([("M0", end), ("M1", end)], "meter_id string, end_date date")
    got = windows.assemble_windows(keys, daily, None, 14, 24, []).collect()
    assert len(got) == 2
    for w in got:
        _check_window(w, rows, w.meter_id, end)


def test_window_without_readings_is_kept_with_zero_coverage(spark):
    rows = [("M2", _ts(D0, 0, 60), 1.0)]
    w = _window(spark, rows, D0)
    assert w.coverage == 0.0 and len(w.kwh) == 14 * 24 and w.missing == list(range(14 * 24))


def test_run_writes_90x96_windows_and_reruns_idempotently(spark, tiny_lake):
    cfg = tiny_lake(3, 95, "windows.min_coverage=0.5", "windows.train_end_offsets=[0, 14]")
    first = windows.run(spark, cfg)
    second = windows.run(spark, cfg)
    table = spark.read.format("delta").load(cfg.paths.table(schemas.WINDOWS))
    assert table.count() == first["train_windows"] + first["score_windows"] + first["train_low_coverage"] \
        + first["score_low_coverage"]
    assert second["version"] == first["version"] + 1
    row = table.where("purpose = 'score'").first()
    assert (row.days, row.intervals, row.channels) == (90, 96, 1 + len(schemas.EVENT_CODES))
    assert len(row.kwh) == 90 * 96 and row.missing == sorted(row.missing) and len(row.alarms) == 90 * len(schemas.EVENT_CODES)
    assert first["score_windows"] == 3 and first["train_windows"] == 4
    stats = first["statistics"]
    assert stats["score"]["windows"] == 3 and stats["train"]["windows"] == 4 + first["train_low_coverage"]
    assert 0.5 <= stats["score"]["coverage_mean"] <= 1.0 and stats["score"]["scale_p50"] > 0
    train = table.where("purpose = 'train'").orderBy("inspection_id", F.desc("end_date")).collect()
    assert [r.label for r in train] == [1, 1, 0, 0]
    # windows end the day before their inspection (I0 on 09-30, I1 on 09-25) and 14 days earlier
    assert [r.end_date for r in train] == [dt.date(2026, 9, 29), dt.date(2026, 9, 15),
                                           dt.date(2026, 9, 24), dt.date(2026, 9, 10)]


def test_window_statistics_per_purpose(spark):
    """Counts, coverage, missing share, scale and alarm windows of written windows, per purpose."""
    schema = ("purpose string, days int, intervals int, missing array<int>, alarms array<float>, scale float, "
              "coverage float, inspection_id string")
    rows = [("score", 2, 4, [], [0.0, 0.0], 1.0, 1.0, None),
            ("score", 2, 4, [0, 1, 2, 3], [0.0, 1.0], 3.0, 0.5, None),
            ("score", 2, 4, [5, 6], [0.0, 0.0], 2.0, 0.75, None),
            ("train", 2, 4, [0, 1, 2, 3, 4, 5], [2.0, 1.0], 0.5, 0.25, "I1"),
            ("train", 2, 4, [], [0.0, 0.0], 1.0, 1.0, "I2"),
            ("train", 2, 4, [], [0.0, 0.0], 1.0, 1.0, None)]
    got = {r.purpose: r for r in windows.window_statistics(spark.createDataFrame(rows, schema), 0.6).collect()}
    score, train = got["score"], got["train"]
    assert (score.windows, score.usable, score.with_alarms) == (3, 2, 1)
    assert score.coverage_mean == pytest.approx(0.75) and score.coverage_p05 == pytest.approx(0.5)
    assert score.coverage_p50 == pytest.approx(0.75) and score.scale_p50 == pytest.approx(2.0)
    assert score.missing_share == pytest.approx(6 / 24) and score.scale_p99 == pytest.approx(3.0)
    assert (train.windows, train.usable, train.with_alarms, train.missing_share) == (3, 2, 1, pytest.approx(6 / 24))
    assert (train.usable_without_inspection, score.usable_without_inspection) == (1, 2)


def test_pivot_from_files_matches_pivot_through_spark(spark, tmp_path):
    """The pyarrow file reader gives the same meter-days as Spark rows, local midnight and nulls included."""
    rows = [(f"M{m}", _ts(D0 + dt.timedelta(days=d), i), float(m + d + i) if (m + d + i) % 13 else None)
            for m in range(3) for d in range(3) for i in range(96)]
    rows += [("M0", dt.datetime(2026, 6, 4, 23, 59), 5.0), ("M9", dt.datetime(2026, 6, 5, 0, 0), 7.0)]
    path = str(tmp_path / "readings")
    _readings(spark, rows).repartition(2).write.format("delta").save(path)
    files = windows.direct_files(spark, path, 0)
    assert files and all(f.endswith(".parquet") for f in files)
    by_files = windows.daily_readings_from_files(spark, files, 48, 100).collect()
    by_rows = windows.daily_readings(spark.read.format("delta").load(path), 48).collect()

    def days(got):
        out = {}
        for r in got:
            out.setdefault((r.meter_id, r.day), []).append(r)
        return {k: _one_day(v, 48) for k, v in out.items()}

    a, b = days(by_files), days(by_rows)
    assert a == b
    assert a[("M0", D0 + dt.timedelta(days=3))][47] == 5.0 and a[("M9", D0 + dt.timedelta(days=4))][0] == 7.0


def test_direct_files_refuses_partitioned_tables(spark, tmp_path):
    path = str(tmp_path / "parted")
    _readings(spark, [("M1", _ts(D0, 0), 1.0)]).write.format("delta").partitionBy("meter_id").save(path)
    assert windows.direct_files(spark, path, 0) is None


def test_run_replaces_a_windows_table_of_an_older_layout(spark, tiny_lake):
    cfg = tiny_lake(3, 95, "windows.min_coverage=0.5")
    path = cfg.paths.table(schemas.WINDOWS)
    old = spark.createDataFrame([("score", D0, "M0", [True, False])], "purpose string, end_date date, meter_id string, "
                                "mask array<boolean>")
    old.write.format("delta").partitionBy("purpose").save(path)
    got = windows.run(spark, cfg)
    table = spark.read.format("delta").load(path)
    assert table.columns == schemas.WINDOWS_SCHEMA.names
    assert table.count() == got["train_windows"] + got["score_windows"] and got["version"] == 1
    # the old rows stay readable in the table's history
    assert spark.read.format("delta").option("versionAsOf", 0).load(path).columns[-1] == "mask"


def test_unreadable_readings_file_is_named_and_readings_daily_kept(spark, tiny_lake):
    from ntl_spark.errors import DataError

    cfg = tiny_lake(3, 95)
    _, built, _ = windows.refresh_readings_daily(spark, cfg)
    rpath = cfg.paths.table(schemas.READINGS)
    broken = sorted(glob.glob(f"{rpath}/*.parquet"))[0]
    with open(broken, "r+b") as fh:
        fh.truncate(100)
    # a new readings version makes the job rebuild readings_daily
    _readings(spark, [("M9", _ts(D0, 0), 1.0)]).write.format("delta").mode("append").save(rpath)
    with pytest.raises(DataError, match=f"unreadable readings file .*{os.path.basename(broken)}"):
        windows.refresh_readings_daily(spark, cfg)
    daily = cfg.paths.table(schemas.READINGS_DAILY)
    assert spark.sql(f"DESCRIBE HISTORY delta.`{daily}`").first()["version"] == built


def test_readings_daily_refreshes_only_the_days_an_ingest_replaced(spark, tmp_path):
    """Ingest the whole source, then a corrected day and a new day: readings_daily re-pivots only those two
    days (the other day partitions keep their files) and equals a whole rebuild."""
    from delta.tables import DeltaTable

    from ntl_spark import ingest
    from ntl_spark.config import apply_overrides
    from tests.deep.deep_helpers import deep_config

    cfg = deep_config(tmp_path, "ingest.format=parquet", "ingest.tables=[customers,readings]")
    days = [D0 + dt.timedelta(days=k) for k in range(6)]
    customers = [(f"C{i}", f"M{i}", "smart", "NORTE", "residential", 3.0, None, None, None, D0, "active")
                 for i in range(2)]

    def source(rows):
        for name, data in ((schemas.CUSTOMERS, customers), (schemas.READINGS, rows)):
            local_frame(spark, data, schemas.SOURCE_SCHEMAS[name]).write.mode("overwrite").parquet(
                f"{cfg.raw_dir}/{name}")

    first = [(f"M{i}", _ts(day, s), float(i + s)) for i in range(2) for day in days[:5] for s in range(96)]
    source(first)
    ingest.run(spark, cfg)
    windows.refresh_readings_daily(spark, cfg)
    dpath = cfg.paths.table(schemas.READINGS_DAILY)
    assert DeltaTable.forPath(spark, dpath).detail().first()["partitionColumns"] == ["day"]

    def files(day):
        return set(spark.read.format("delta").load(dpath).where(f"day = '{day}'").inputFiles())

    kept = {day: files(day) for day in days[:5]}
    corrected = [(f"M{i}", _ts(days[2], s), 100.0 + s) for i in range(2) for s in range(96)]
    source(corrected)
    ingest.run(spark, apply_overrides(cfg, [f"ingest.period_start={days[2]}", f"ingest.period_end={days[2]}"]))
    new_day = [(f"M{i}", _ts(days[5], s), 7.0) for i in range(2) for s in range(96) if s != 3]
    source(new_day)
    ingest.run(spark, apply_overrides(cfg, [f"ingest.period_start={days[5]}", f"ingest.period_end={days[5]}"]))

    daily, _, rversion = windows.refresh_readings_daily(spark, cfg)
    last = DeltaTable.forPath(spark, dpath).history(1).first()
    assert last["operation"] == "WRITE" and "day" in last["operationParameters"]["predicate"]
    assert all(files(day) == kept[day] for day in (days[0], days[1], days[3], days[4]))
    assert files(days[2]) != kept[days[2]]

    def as_dict(df):
        out = {}
        for r in df.collect():
            out[(r.meter_id, r.day)] = _one_day([r], 96)
        return out

    got = as_dict(daily)
    readings = spark.read.format("delta").load(cfg.paths.table(schemas.READINGS))
    assert got == as_dict(windows.daily_readings(readings, 96))
    assert got[("M1", days[2])][5] == 105.0 and got[("M0", days[5])][3] is None
    assert sorted({day for _, day in got}) == days
    # nothing new: nothing is rebuilt
    version = DeltaTable.forPath(spark, dpath).history(1).first()["version"]
    windows.refresh_readings_daily(spark, cfg)
    assert DeltaTable.forPath(spark, dpath).history(1).first()["version"] == version
    assert rversion == DeltaTable.forPath(spark, cfg.paths.table(schemas.READINGS)).history(1).first()["version"]


def test_unlabelled_keys_draw_never_inspected_active_smart_meters(spark):
    rows = [(f"C{i}", f"M{i}", "smart", "NORTE", "residential", 3.0, None, None, None, D0, "active") for i in range(200)]
    rows += [("X1", "MX1", "smart", "SUR", "residential", 3.0, None, None, None, D0, "inactive"),
             ("X2", None, "conventional", "SUR", "residential", 3.0, None, None, None, D0, "active")]
    customers = spark.createDataFrame(rows, schemas.CUSTOMERS_SCHEMA)
    inspections = spark.createDataFrame(
        [("I1", "C1", dt.date(2026, 7, 10), "no_access", None, None, None),
         ("I2", "C2", dt.date(2026, 7, 10), "regular", None, None, None)], schemas.INSPECTIONS_SCHEMA)
    ends = [dt.date(2026, 8, 31), dt.date(2026, 7, 17)]
    every = windows.unlabelled_keys(inspections, customers, ends, 1.0).collect()
    # every active smart meter without any inspection (whatever its outcome), one window per end date
    assert {r.customer_id for r in every} == {f"C{i}" for i in range(200)} - {"C1", "C2"}
    assert len(every) == 2 * 198 and {r.end_date for r in every} == set(ends)
    assert all(r.label == 0 and r.inspection_id is None and r.purpose == "train" for r in every)
    half = {r.customer_id for r in windows.unlabelled_keys(inspections, customers, ends, 0.5).collect()}
    assert 60 < len(half) < 140  # a hash of the id: about half, the same ones every run
    assert half == {r.customer_id for r in windows.unlabelled_keys(inspections, customers, ends, 0.5).collect()}


def test_run_adds_windows_of_never_inspected_meters_before_the_scoring_end(spark, tiny_lake):
    cfg = tiny_lake(5, 95, "windows.unlabelled_share=1.0", "windows.unlabelled_offsets=[5]")
    built = windows.run(spark, cfg)
    table = spark.read.format("delta").load(cfg.paths.table(schemas.WINDOWS)).where("purpose = 'train'")
    unl = table.where("inspection_id IS NULL").collect()
    # C0..C2 are inspected (C2 without access: still not a never-inspected customer); C3 and C4 are not
    assert sorted(r.customer_id for r in unl) == ["C3", "C4"]
    assert {(r.label, r.end_date) for r in unl} == {(0, built["scoring_end"] - dt.timedelta(days=5))}
    assert built["train_windows"] == 3 * 2 + 2 and len(unl[0].kwh) == 90 * 96  # I0, I1 at 3 end offsets each
    assert built["train_unlabelled"] == 2
