"""File sources: broken or inconsistent files are named before Spark reads them."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ntl_spark import schemas
from ntl_spark.config import load_config
from ntl_spark.errors import ConfigError, DataError
from ntl_spark.io.files import check_delimiter, check_parquet_files, read_files


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
