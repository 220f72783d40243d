"""File sources: broken or inconsistent files are named before Spark reads them."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ntl_spark import schemas
from ntl_spark.config import load_config
from ntl_spark.errors import ConfigError, DataError
from ntl_spark.io.files import check_csv_files, check_csv_lines, check_delimiter, check_parquet_files, read_files


def _bills(path, kwh_as_text=False):
    kwh = pa.array(["1.0"]) if kwh_as_text else pa.array([1.0])
    table = pa.table({"customer_id": ["C1"], "period": pa.array([None], pa.date32()), "kwh": kwh,
                      "days": pa.array([30], pa.int32()), "read_type": ["actual"]})
    pq.write_table(table, path)


def test_a_truncated_parquet_file_is_named(tmp_path):
    good, bad = tmp_path / "part-0.parquet", tmp_path / "part-1.parquet"
    _bills(good)
    _bills(bad)
    bad.write_bytes(bad.read_bytes()[:40])
    check_parquet_files([good], "bills")
    with pytest.raises(DataError, match="part-1.parquet is not a readable Parquet file"):
        check_parquet_files([good, bad], "bills")


def test_parquet_files_with_other_columns_are_named(tmp_path):
    a, b = tmp_path / "part-0.parquet", tmp_path / "part-1.parquet"
    _bills(a)
    _bills(b, kwh_as_text=True)
    with pytest.raises(DataError, match="part-1.parquet has other columns .*kwh: double vs string"):
        check_parquet_files([a, b], "bills")


@pytest.mark.parametrize("column, what", [
    (pa.array([dt.datetime(2026, 9, 1, 0, 15)], pa.timestamp("ns")), "a timestamp in nanoseconds"),  # pandas' default
    (pa.array([dt.time(0, 15)], pa.time64("us")), "a time of day"),
])
def test_a_parquet_type_spark_cannot_read_is_named_before_spark_fails_on_it(spark, tmp_path, column, what):
    folder = tmp_path / "readings"
    folder.mkdir()
    pq.write_table(pa.table({"meter_id": ["M1"], "ts": column, "kwh": [0.5]}), folder / "part-0.parquet",
                   version="2.6")
    with pytest.raises(DataError, match=rf"readings: .*part-0.parquet column 'ts' is {what}, which Spark cannot read"):
        read_files(spark, str(tmp_path), "readings", "parquet", schemas.READINGS_SCHEMA)
    pq.write_table(pa.table({"meter_id": ["M1"], "ts": pa.array([dt.datetime(2026, 9, 1)], pa.timestamp("us")),
                             "kwh": [0.5]}), folder / "part-0.parquet")
    assert read_files(spark, str(tmp_path), "readings", "parquet", schemas.READINGS_SCHEMA).count() == 1


def test_a_parquet_column_without_any_value_is_null_in_the_contract_type(spark, tmp_path):
    # pandas writes an all-None column as Arrow's null type, which Spark reads as int
    folder = tmp_path / "inspections"
    folder.mkdir()
    table = pa.table({"inspection_id": ["I1"], "customer_id": ["C1"], "inspected_on": [dt.date(2026, 1, 5)],
                      "outcome": ["regular"], "irregularity": pa.nulls(1), "recovered_kwh": pa.nulls(1),
                      "campaign_id": pa.nulls(1)})
    pq.write_table(table, folder / "part-0.parquet")
    assert check_parquet_files([folder / "part-0.parquet"], "inspections") == [
        "irregularity", "recovered_kwh", "campaign_id"]
    df = read_files(spark, str(tmp_path), "inspections", "parquet", schemas.INSPECTIONS_SCHEMA)
    assert [(f.name, f.dataType) for f in df.schema] == [(f.name, f.dataType) for f in schemas.INSPECTIONS_SCHEMA]
    assert df.first().asDict() == {"inspection_id": "I1", "customer_id": "C1", "inspected_on": dt.date(2026, 1, 5),
                                   "outcome": "regular", "irregularity": None, "recovered_kwh": None,
                                   "campaign_id": None}


def test_an_empty_source_folder_and_a_semicolon_export(spark, tmp_path):
    (tmp_path / "bills").mkdir()
    with pytest.raises(DataError, match="holds no data files"):
        read_files(spark, str(tmp_path), "bills", "parquet", schemas.BILLS_SCHEMA)
    (tmp_path / "bills" / "part-0.csv").write_text("customer_id;period;kwh;days;read_type\nC1;2026-01-01;1.5;30;actual\n")
    with pytest.raises(DataError, match="delimited by ';': set ingest.csv_delimiter=';'"):
        read_files(spark, str(tmp_path), "bills", "csv", schemas.BILLS_SCHEMA)
    df = read_files(spark, str(tmp_path), "bills", "csv", schemas.BILLS_SCHEMA, delimiter=";")
    assert df.columns == ["customer_id", "period", "kwh", "days", "read_type"]
    assert df.first()["kwh"] == "1.5"


def test_delimiter_hint_only_for_a_single_column_header():
    check_delimiter(["customer_id", "kwh"], "bills", ",")
    check_delimiter(["customer_id"], "bills", ",")
    with pytest.raises(DataError, match="'\\\\\\\\t'"):
        check_delimiter(["customer_id\tkwh"], "bills", ",")


def test_delimiter_must_be_one_character():
    with pytest.raises(ConfigError, match="ingest.csv_delimiter"):
        load_config("test", ["ingest.csv_delimiter=;;"])


def _csv(folder, name, text):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def test_a_line_with_more_fields_than_the_header_stops_naming_file_and_line(tmp_path):
    # Spark would keep "0" and drop "149": a decimal comma read as a separator
    path = _csv(tmp_path, "part-0.csv", "meter_id,ts,kwh\nM1,2026-09-01 00:00:00,0.5\nM1,2026-09-01 00:15:00,0,149\n")
    with pytest.raises(DataError, match=r"part-0.csv line 3: 4 fields where the header has 3 .*decimal comma"):
        check_csv_files([path], "readings", "utf-8", ",")


def test_a_line_break_inside_a_quoted_value_stops_naming_the_line(tmp_path):
    path = _csv(tmp_path, "part-0.csv", 'customer_id,activity\nC1,shop\nC2,"house\nhold"\nC3,shop\n')
    with pytest.raises(DataError, match=r"part-0.csv line 3: a quoted value holds a line break \(the record runs to line 4\)"):
        check_csv_files([path], "customers", "utf-8", ",")


def test_a_file_cut_short_stops_but_a_short_line_or_a_missing_last_break_does_not(tmp_path):
    header = "customer_id,period,kwh,days,read_type\n"
    whole = header + '"C1",2026-01-01,1.5,30,"actual"\n"C2",2026-01-01,2.5,31,"actual"'
    ok = _csv(tmp_path, "ok.csv", whole)  # no line break after the last line: many exports do that
    assert check_csv_lines(ok, "bills", "utf-8", ",") == ["customer_id", "period", "kwh", "days", "read_type"]
    short = _csv(tmp_path, "short.csv", header + '"C1",2026-01-01,1.5\n"C2",2026-01-01,2.5,31,"actual"\n')
    check_csv_lines(short, "bills", "utf-8", ",")  # quarantined row by row later (days, read_type null)
    for cut in (whole[:-3], whole[:-17]):  # inside the last quoted value; in the middle of the last line
        path = _csv(tmp_path, "cut.csv", cut)
        with pytest.raises(DataError, match=r"cut.csv ends in the middle of line 3 .*no line break at the end"):
            check_csv_lines(path, "bills", "utf-8", ",")


def test_csv_files_of_a_table_need_one_header(tmp_path):
    a = _csv(tmp_path, "part-0.csv", "\ufeffcustomer_id,region,tariff\nC1,NORTE,general\n")
    b = _csv(tmp_path, "part-1.csv", "customer_id,region,tariff\nC2,SUR,medium\n")
    empty = _csv(tmp_path, "part-2.csv", b"")
    check_csv_files([a, b, empty], "customers", "utf-8", ",")  # a byte order mark and an empty part are fine
    swapped = _csv(tmp_path, "part-3.csv", "customer_id,tariff,region\nC3,general,SUR\n")
    with pytest.raises(DataError, match=r"part-3.csv has the header \['customer_id', 'tariff', 'region'\], .*part-0.csv"):
        check_csv_files([a, b, swapped], "customers", "utf-8", ",")
    with pytest.raises(DataError, match=r"part-2.csv: empty \(0 bytes, not even a header line\)"):
        check_csv_files([empty], "customers", "utf-8", ",")
