"""CSV exports as another utility hands them over: one defect per dataset, through the ingest job.

Each test writes a small, otherwise valid set of the five contract tables as
CSV under its own root, changes one thing, runs ``jobs/ingest.py`` in this
process and checks the exit code, the message and what reached the tables.
"""

from __future__ import annotations

import importlib
import logging
import time
from pathlib import Path

import pytest
from deltalake import DeltaTable

from ntl_spark import ingest, schemas
from tests.conftest import make_config

pytestmark = pytest.mark.integration

GOOD = {
    "customers": [
        "customer_id,meter_id,meter_type,region,tariff,contracted_kw,activity,latitude,longitude,connected_on,status",
        "C1,,conventional,MONTEVIDEO,residential,3.3,home,-34.9,-56.2,2020-01-01,active",
        "C2,M2,smart,NORTE,general,10.0,shop,-31.4,-57.9,2021-05-01,active",
        "C3,M3,smart,ESTE,residential,4.4,Panadería,,,2019-03-01,active",
    ],
    "bills": ["customer_id,period,kwh,days,read_type"]
    + [f"C1,2026-0{m}-01,{100 + m}.5,30,actual" for m in (1, 2, 4, 5, 6)]  # March missing: a gap
    + [f"{c},2026-0{m}-01,{200 + m}.0,31,estimated" for c in ("C2", "C3") for m in range(1, 7)],
    "readings": ["meter_id,ts,kwh"]
    + [f"M2,2026-09-01 {h:02d}:{q:02d}:00,0.25" for h in range(2) for q in (0, 15, 30, 45)]
    + ["M3,2026-09-01 00:00:00,0.5", "M3,2026-09-03 00:00:00,0.5"],  # 2026-09-02 missing: a gap
    "events": ["meter_id,ts,code", "M2,2026-09-01 10:00:00,COVER_OPEN"],
    "inspections": [
        "inspection_id,customer_id,inspected_on,outcome,irregularity,recovered_kwh,campaign_id",
        "I1,C1,2026-05-02,regular,,,",
        "I2,C2,2026-06-10,irregular,bypass,120.5,K1",
    ],
}


def write_dataset(root: Path, **changes: list[str] | bytes) -> Path:
    """The good dataset under ``root/raw`` with some tables replaced (lines, or raw bytes)."""
    raw = root / "raw"
    for table in schemas.SOURCE_TABLES:
        folder = raw / table
        folder.mkdir(parents=True, exist_ok=True)
        content = changes.get(table, GOOD[table])
        data = content if isinstance(content, bytes) else ("\n".join(content) + "\n").encode()
        (folder / "part-00000.csv").write_bytes(data)
    return raw


def run_ingest(root: Path, *overrides: str) -> int:
    """``jobs/ingest.py`` in this process (the test session is reused, not stopped)."""
    job = importlib.import_module("jobs.ingest")
    args = ["--env", "test", "--set", f"paths.root={root}", "--set", "ingest.format=csv"]
    return job.main(args + [a for o in overrides for a in ("--set", o)])


def table(root: Path, name: str):
    return DeltaTable(make_config(root).paths.table(name)).to_pandas()


def quarantined(root: Path, name: str) -> dict[str, int]:
    q = table(root, schemas.QUARANTINE)
    return q.loc[q.table == name, "reason"].value_counts().to_dict()


def test_iso_8601_timestamps_with_t_and_offsets_are_read_as_local_time(spark, tmp_path, capsys):
    readings = ["meter_id,ts,kwh", "M2,2026-09-30T11:30:00,0.1", "M2,2026-09-01T00:15:00-03:00,0.2",
                "M3,2026-09-01T03:15:00Z,0.3", "M3,2026-09-01T00:30:00.000-03:00,0.4"]
    write_dataset(tmp_path, readings=readings)
    assert run_ingest(tmp_path, "ingest.tables=[customers,readings]") == 0, capsys.readouterr().err
    got = spark.read.format("delta").load(make_config(tmp_path).paths.table("readings"))
    local = {(r[0], r[1]) for r in got.selectExpr("meter_id", "date_format(ts, 'yyyy-MM-dd HH:mm:ss')").collect()}
    assert local == {("M2", "2026-09-30 11:30:00"), ("M2", "2026-09-01 00:15:00"),
                     ("M3", "2026-09-01 00:15:00"), ("M3", "2026-09-01 00:30:00")}


def test_good_dataset_reports_gaps_and_row_defects_go_to_quarantine(spark, tmp_path, capsys):
    bills = GOOD["bills"] + ["Z9,2026-01-01,10.0,30,actual", "C2,2026-07-01,5"]  # unknown customer; truncated line
    inspections = GOOD["inspections"] + ["I3,C3,2018-01-01,regular,,,", "I4,C1,2026-05-03,irregular,bypass,-1,"]
    write_dataset(tmp_path, bills=bills, inspections=inspections)
    reports = ingest.run(spark, make_config(tmp_path, "ingest.format=csv"))
    out = capsys.readouterr().out
    assert reports["bills"].reasons == {"customer_id not in customers": 1, "days is null; read_type is null": 1}
    assert reports["bills"].rows_written == len(GOOD["bills"]) - 1
    assert reports["bills"].gaps == {"customers_with_gaps": 1, "missing_months": 1}
    assert reports["readings"].gaps == {"meters_with_gaps": 1, "missing_meter_days": 1}
    assert reports["inspections"].reasons == {"inspected_on before the customer's connected_on": 1,
                                              "recovered_kwh negative": 1}
    assert quarantined(tmp_path, "bills") == reports["bills"].reasons
    assert "customers_with_gaps 1, missing_months 1" in out
    assert reports["customers"].rows_quarantined == 0


def test_empty_bills_stop_the_job_and_keep_the_table(spark, tmp_path, capsys):
    tables = "ingest.tables=[customers,bills]"
    write_dataset(tmp_path)
    assert run_ingest(tmp_path, tables) == 0
    before = len(table(tmp_path, "bills"))
    write_dataset(tmp_path, bills=GOOD["bills"][:1])
    assert run_ingest(tmp_path, tables) == 3
    err = capsys.readouterr().err
    assert "bills: the source has no rows" in err and "bills/part-00000.csv" in err
    assert len(table(tmp_path, "bills")) == before == len(GOOD["bills"]) - 1
    assert run_ingest(tmp_path, tables, "ingest.allow_empty=[events,bills]") == 0


def test_latin1_customers_stop_naming_the_byte_unless_the_encoding_is_set(spark, tmp_path, capsys):
    latin1 = ("\n".join(GOOD["customers"]) + "\n").encode("latin-1")
    write_dataset(tmp_path, customers=latin1)
    assert run_ingest(tmp_path, "ingest.tables=[customers]") == 3
    err = capsys.readouterr().err
    assert f"customers/part-00000.csv: not valid utf-8 at byte offset {latin1.index(0xED)} (line 4" in err
    assert run_ingest(tmp_path, "ingest.tables=[customers]", "ingest.encoding=latin-1") == 0
    customers = table(tmp_path, "customers")
    assert customers.set_index("customer_id").activity["C3"] == "Panadería"


def test_extra_column_is_dropped_with_a_warning_or_stops_the_job(spark, tmp_path, capsys, caplog):
    inspections = [GOOD["inspections"][0] + ",inspector"] + [line + ",Ana" for line in GOOD["inspections"][1:]]
    write_dataset(tmp_path, inspections=inspections)
    tables = "ingest.tables=[customers,inspections]"
    with caplog.at_level(logging.WARNING, logger="ntl_spark.ingest"):
        assert run_ingest(tmp_path, tables) == 0
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("['inspector']" in m and "dropped" in m for m in warned), warned
    assert "['inspector']" not in capsys.readouterr().out  # logged once, not printed beside the log
    assert "inspector" not in table(tmp_path, "inspections").columns
    assert run_ingest(tmp_path, tables, "ingest.extra_columns=fail") == 3
    assert "['inspector']" in capsys.readouterr().err


def test_timestamps_that_never_parse_stop_the_job_naming_the_setting(spark, tmp_path, capsys):
    readings = ["meter_id,ts,kwh", "M2,01/09/2026 00:15,0.1", "M2,01/09/2026 00:30,0.2"]
    write_dataset(tmp_path, readings=readings)
    tables = "ingest.tables=[customers,readings]"
    assert run_ingest(tmp_path, tables) == 3
    err = capsys.readouterr().err
    assert "readings: no value of column 'ts' parses" in err and "ingest.csv_timestamp_format" in err
    assert run_ingest(tmp_path, tables, "ingest.csv_timestamp_format=dd/MM/yyyy HH:mm") == 0
    assert len(table(tmp_path, "readings")) == 2


def test_a_period_starting_late_in_the_evening_is_replaced_by_local_days(spark, tmp_path, capsys, monkeypatch):
    # The driver machine runs on UTC, the utility on America/Montevideo (UTC-3): 22:30 there is the next
    # day here, and a day window taken from the machine's clock left the first evening's rows outside it.
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    try:
        events = ["meter_id,ts,code", "M2,2026-09-01 22:30:00,COVER_OPEN", "M3,2026-09-02 10:00:00,POWER_FAIL"]
        write_dataset(tmp_path, events=events)
        assert run_ingest(tmp_path, "ingest.tables=[customers,events]") == 0, capsys.readouterr().err
        log = table(tmp_path, schemas.INGEST_LOG)
        got = log.loc[log.table == "events"].iloc[-1]
        assert (str(got.replaced_start), str(got.replaced_end)) == ("2026-09-01", "2026-09-02")
        assert len(table(tmp_path, "events")) == 2
    finally:
        monkeypatch.undo()
        time.tzset()


def test_an_unquoted_decimal_comma_stops_the_job_and_keeps_the_table(spark, tmp_path, capsys):
    tables = "ingest.tables=[customers,readings]"
    write_dataset(tmp_path)
    assert run_ingest(tmp_path, tables) == 0
    before = table(tmp_path, "readings").sort_values(["meter_id", "ts"]).reset_index(drop=True)
    readings = GOOD["readings"][:3] + ["M2,2026-09-01 00:30:00,0,25"] + GOOD["readings"][4:]
    write_dataset(tmp_path, readings=readings)
    assert run_ingest(tmp_path, tables) == 3
    err = capsys.readouterr().err
    assert "readings/part-00000.csv line 4: 4 fields where the header has 3" in err and "Traceback" not in err
    after = table(tmp_path, "readings").sort_values(["meter_id", "ts"]).reset_index(drop=True)
    assert after.equals(before)


def test_a_source_that_would_drop_most_of_the_replaced_rows_stops_unless_allowed(spark, tmp_path, capsys):
    tables = "ingest.tables=[customers,bills]"
    write_dataset(tmp_path)
    assert run_ingest(tmp_path, tables) == 0
    before = table(tmp_path, "bills")
    # the export was cut after C1's bills (at a line boundary: nothing else tells): January..June of C2 and C3 go
    write_dataset(tmp_path, bills=GOOD["bills"][:6])
    assert run_ingest(tmp_path, tables) == 3
    err = capsys.readouterr().err
    assert "bills: this run would replace 17 rows of v0 (period >= DATE '2026-01-01'" in err
    assert "with 5 (71% fewer)" in err and "ingest.max_drop_share (now 0.5)" in err and "Traceback" not in err
    assert len(table(tmp_path, "bills")) == len(before)
    # every table is checked before any is written: the customers of the failed run were not written either
    assert DeltaTable(make_config(tmp_path).paths.table("customers")).version() == 0
    assert run_ingest(tmp_path, tables, "ingest.max_drop_share=1") == 0
    assert len(table(tmp_path, "bills")) == 5
