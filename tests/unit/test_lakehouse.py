"""The lakehouse layer on real Delta tables: one writer, one pinned read, typed lineage."""

from __future__ import annotations

import pytest
from pyspark.sql import functions as F
from pyspark.sql import types as T

from ntl_spark import lakehouse, schemas
from ntl_spark.errors import DataError, MissingInputError

SCHEMA = T.StructType([
    T.StructField("k", T.StringType(), False),
    T.StructField("month", T.DateType(), False),
    T.StructField("v", T.DoubleType(), True),
])


def _rows(spark, rows):
    import datetime as dt

    return spark.createDataFrame([(k, dt.date.fromisoformat(m), v) for k, m, v in rows], SCHEMA)


def _content(spark, path, version=None):
    df = lakehouse.read_pinned(spark, path, "t", "test", version).df
    return sorted((r.k, r.month.isoformat(), r.v) for r in df.collect())


def test_write_creates_replaces_exactly_the_predicate_and_appends(spark, tmp_path):
    path = str(tmp_path / "t")
    v0 = lakehouse.write(_rows(spark, [("a", "2026-01-01", 1.0), ("b", "2026-02-01", 2.0)]), path, "t",
                         where="month = '2026-01-01'", partition_by=("month",), schema=SCHEMA)
    assert v0 == 0  # first write creates the table whole, the predicate does not apply yet
    assert _content(spark, path) == [("a", "2026-01-01", 1.0), ("b", "2026-02-01", 2.0)]

    v1 = lakehouse.write(_rows(spark, [("c", "2026-01-01", 3.0)]), path, "t", where="month = '2026-01-01'")
    assert v1 == 1
    assert _content(spark, path) == [("b", "2026-02-01", 2.0), ("c", "2026-01-01", 3.0)]

    # rows outside the predicate make the commit fail: nothing changes
    with pytest.raises(Exception, match="(?i)replaceWhere|does not conform|constraint"):
        lakehouse.write(_rows(spark, [("d", "2026-03-01", 4.0)]), path, "t", where="month = '2026-01-01'")
    assert lakehouse.version(spark, path) == 1

    v2 = lakehouse.write(_rows(spark, [("e", "2026-03-01", 5.0)]), path, "t", mode="append")
    assert v2 == 2
    assert len(_content(spark, path)) == 3

    # a whole-table replace of a partitioned table replaces every partition, even
    # under spark.sql.sources.partitionOverwriteMode=dynamic
    spark.conf.set("spark.sql.sources.partitionOverwriteMode", "dynamic")
    v3 = lakehouse.write(_rows(spark, [("f", "2026-01-01", 6.0)]), path, "t")
    assert _content(spark, path) == [("f", "2026-01-01", 6.0)]
    # the pinned read of an older version still sees that version
    assert len(_content(spark, path, v2)) == 3
    assert v3 == 3


def test_write_returns_the_version_it_committed_not_the_latest(spark, tmp_path):
    path = str(tmp_path / "t")
    versions = [lakehouse.write(_rows(spark, [(str(i), "2026-01-01", float(i))]), path, "t", mode="append")
                for i in range(3)]
    assert versions == [0, 1, 2]
    history = spark.sql(f"DESCRIBE HISTORY delta.`{path}`").select("version", "userMetadata").collect()
    assert all(r.userMetadata and "#ntl-write-" in r.userMetadata for r in history)


def test_schema_and_layout_are_checked_before_writing(spark, tmp_path):
    path = str(tmp_path / "t")
    lakehouse.write(_rows(spark, [("a", "2026-01-01", 1.0)]), path, "t", schema=SCHEMA)
    with pytest.raises(DataError, match=r"missing \['v'\]"):
        lakehouse.write(_rows(spark, [("a", "2026-01-01", 1.0)]).drop("v"), path, "t", schema=SCHEMA)
    with pytest.raises(DataError, match="another layout.*v: double -> string"):
        lakehouse.write(_rows(spark, [("a", "2026-01-01", 1.0)]).withColumn("v", F.lit("x")), path, "t")
    assert lakehouse.version(spark, path) == 0
    # a layout change on purpose: the table is rewritten, the old layout stays in the history
    v = lakehouse.write(_rows(spark, [("a", "2026-01-01", 1.0)]).withColumn("v", F.lit("x")), path, "t",
                        replace_layout=True)
    assert v == 1
    assert lakehouse.read_pinned(spark, path, "t", "test", 0).df.schema["v"].dataType == T.DoubleType()


def test_read_pinned_names_the_missing_table_and_its_producer(spark, tmp_path):
    with pytest.raises(MissingInputError, match="no scores Delta table .* run the score job first"):
        lakehouse.read_pinned(spark, str(tmp_path / "nothing"), "scores", "score")
    assert lakehouse.read_optional(spark, str(tmp_path / "nothing")) is None
    assert lakehouse.version(spark, str(tmp_path / "nothing")) is None


def test_notes_travel_with_the_commit(spark, tmp_path):
    path = str(tmp_path / "t")
    assert lakehouse.last_note(spark, path) is None
    lakehouse.write(_rows(spark, [("a", "2026-01-01", 1.0)]), path, "t", note="readings=4;intervals=96")
    assert lakehouse.last_note(spark, path) == "readings=4;intervals=96"
    lakehouse.write(_rows(spark, [("a", "2026-01-01", 1.0)]), path, "t")
    assert lakehouse.last_note(spark, path) is None


def test_versions_and_commits_from_the_log_match_the_public_history(spark, tmp_path, monkeypatch):
    path = str(tmp_path / "t")
    for i in range(3):
        lakehouse.write(_rows(spark, [(str(i), "2026-01-01", float(i))]), path, "t", mode="append", note=f"n{i}")
    lakehouse.write(_rows(spark, [("x", "2026-01-01", 9.0)]), path, "t", where="month = '2026-01-01'")
    history = spark.sql(f"DESCRIBE HISTORY delta.`{path}`").select("version", "operation", "userMetadata").collect()
    public = sorted((int(r.version), r.operation, r.userMetadata or "") for r in history)

    def seen():
        return (lakehouse.version(spark, path),
                [(c.version, c.operation, c.note) for c in lakehouse.commits(spark, path, 0, 3)],
                [c.version for c in lakehouse.commits(spark, path, 1, 2)], lakehouse.last_note(spark, path))

    from_log = seen()
    assert from_log[0] == 3 and from_log[1] == public and from_log[2] == [1, 2] and from_log[3] is None
    assert [c.operation for c in lakehouse.commits(spark, path, 0, 3)] == ["WRITE"] * 4
    monkeypatch.setattr(lakehouse, "_internal_log", [False])  # Delta's log API not reachable: the public history
    assert seen() == from_log
    monkeypatch.undo()

    def broken(*args):
        raise RuntimeError("no such method")

    monkeypatch.setattr(lakehouse, "_log_version", broken)  # an internal call that fails: the public history
    monkeypatch.setattr(lakehouse, "_internal_log", [True])
    assert seen() == from_log and lakehouse._internal_log == [False]
    monkeypatch.undo()
    # a commit whose log entry was cleaned up is absent, not an error (plan_days then recomputes whole)
    (tmp_path / "t" / "_delta_log" / "00000000000000000001.json").unlink()
    assert [c.version for c in lakehouse.commits(spark, path, 1, 3)] == [2, 3]


@pytest.mark.parametrize("is_ts", [True, False])
def test_replacing_a_day_reads_no_file_of_other_days(spark, tmp_path, is_ts):
    """The replaceWhere of one day skips the files of other days by their statistics: with another day's
    file made unreadable, replacing a day still works (a string cast in the predicate read every file)."""
    import datetime as dt

    path = str(tmp_path / "t")
    day_a, day_b = dt.date(2026, 3, 1), dt.date(2026, 3, 2)

    def rows(day, v):
        at = dt.datetime.combine(day, dt.time(6)) if is_ts else day
        return spark.createDataFrame([("m1", at, v), ("m2", at, v)], f"k string, at {'timestamp' if is_ts else 'date'}, v double")

    lakehouse.write(rows(day_a, 1.0).coalesce(1), path, "t")
    lakehouse.write(rows(day_b, 2.0).coalesce(1), path, "t", mode="append")
    day_a_files = [p for p in (tmp_path / "t").glob("*.parquet")
                   if not spark.read.parquet(str(p)).where(F.col("v") == 1.0).isEmpty()]
    assert len(day_a_files) == 1
    day_a_files[0].write_bytes(b"not parquet")
    v = lakehouse.write(rows(day_b, 3.0).coalesce(1), path, "t", where=lakehouse.day_window("at", day_b, day_b, is_ts))
    assert v == 2
    kept = spark.read.format("delta").load(path).where(lakehouse.day_window("at", day_b, day_b, is_ts))
    assert sorted(r.v for r in kept.collect()) == [3.0, 3.0]


def test_lineage_is_a_typed_map_merged_at_the_highest_version(spark):
    assert lakehouse.merge_lineage({"bills": 3, "customers": None}, {"bills": 2, "scores": 7}, None) == {
        "bills": 3, "scores": 7}
    df = spark.range(2).select(lakehouse.lineage_column({"bills": 3, "customers": 1}).alias(schemas.LINEAGE_COLUMN))
    assert df.schema[schemas.LINEAGE_COLUMN].dataType == schemas.LINEAGE_TYPE
    assert lakehouse.lineage_of(df) == {"bills": 3, "customers": 1}
    two = df.unionByName(spark.range(1).select(lakehouse.lineage_column({"bills": 5}).alias(schemas.LINEAGE_COLUMN)))
    assert lakehouse.lineage_of(two) == {"bills": 5, "customers": 1}
    empty = spark.range(1).select(lakehouse.lineage_column({}).alias(schemas.LINEAGE_COLUMN))
    assert empty.schema[schemas.LINEAGE_COLUMN].dataType == schemas.LINEAGE_TYPE
    assert lakehouse.lineage_of(empty) == {}


def test_plan_days_merges_logged_windows_and_says_why_it_falls_back_to_everything():
    import datetime as dt

    d = dt.date
    logged = {3: (d(2026, 6, 5), d(2026, 6, 5)), 4: (d(2026, 6, 6), d(2026, 6, 6)), 6: (d(2026, 6, 1), d(2026, 6, 2))}
    ops = {3: "WRITE", 4: "WRITE", 5: "OPTIMIZE", 6: "WRITE"}
    plan = lakehouse.plan_days(2, 6, ops, logged)
    assert plan.windows == ((d(2026, 6, 1), d(2026, 6, 2)), (d(2026, 6, 5), d(2026, 6, 6)))
    assert (plan.days, plan.whole, plan.describe()) == (4, False, "4 day(s): 2026-06-01..2026-06-02, 2026-06-05..2026-06-06")
    assert lakehouse.plan_days(6, 6, {}, {}).windows == ()
    assert lakehouse.plan_days(2, 5, {3: "WRITE", 4: "WRITE", 5: "OPTIMIZE"}, logged).days == 2
    assert lakehouse.plan_days(4, 5, {5: "OPTIMIZE"}, {}).describe() == "no day changed"

    def reason(*args, **kw):
        plan = lakehouse.plan_days(*args, **kw)
        assert plan.whole and plan.windows is None
        return plan.reason

    assert reason(None, 6, ops, logged) == "no previous state"
    assert "recreated" in reason(7, 6, {}, {})
    assert "lacks version(s) 2" in reason(1, 6, ops, logged)  # version 2 is not in the history any more
    assert reason(2, 6, {**ops, 5: "DELETE"}, logged) == "version 5 (DELETE) is not in ingest_log"
    assert reason(2, 6, ops, {**logged, 4: None}) == "version 4 (WRITE) replaced no period of days"
    assert reason(2, 6, ops, logged, max_days=3) == "4 days changed, more than the 3 recomputed day by day"
    assert lakehouse.plan_days(2, 6, ops, logged, max_days=4).days == 4
