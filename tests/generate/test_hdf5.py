"""HDF5 output read back in parallel with ``ntl_spark.io.hdf5.read_hdf5``."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from pyspark.sql import SparkSession

from ntl_spark import generate, schemas
from ntl_spark.config import load_config
from ntl_spark.errors import DataError
from ntl_spark.io.hdf5 import read_hdf5

# Python workers must import numpy/h5py: run them with this interpreter.
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)

ARGS = ["generate.customers=300", "generate.reading_days=2", "generate.smart_meter_share=0.3"]


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("h5")
    generate.run(load_config("test", [f"paths.root={root / 'h5'}", *ARGS, "generate.format=hdf5"]))
    generate.run(load_config("test", [f"paths.root={root / 'pq'}", *ARGS, "generate.format=parquet"]))
    return root / "h5" / "raw", root / "pq" / "raw"


def test_hdf5_layout(outputs: tuple[Path, Path]) -> None:
    h5, _ = outputs
    with h5py.File(h5 / "readings.h5", "r") as f:
        assert set(f.keys()) == {"meter_id", "ts", "kwh"}
        assert f["ts"].attrs["encoding"] == "us_since_epoch_local"
        assert f["ts"].dtype == "int64" and f["meter_id"].ndim == 1


@pytest.mark.parametrize("table", list(schemas.SOURCE_TABLES))
def test_round_trip_equals_parquet(spark: SparkSession, outputs: tuple[Path, Path], table: str) -> None:
    h5, pq_dir = outputs
    schema = schemas.SOURCE_SCHEMAS[table]
    df = read_hdf5(spark, str(h5 / f"{table}.h5"), schema, rows_per_task=10_000)
    assert df.schema == schema
    got = df.toPandas()
    want = pq.read_table(pq_dir / table).to_pandas()
    assert len(got) == len(want) > 0
    for name in schema.fieldNames():
        if pd.api.types.is_datetime64_any_dtype(want[name]):
            want[name] = want[name].astype("datetime64[ns]")
    key = list(schemas.PRIMARY_KEYS[table])
    got = got.sort_values(key).reset_index(drop=True)
    want = want.sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want, check_dtype=False)


def test_missing_dataset_is_named(spark: SparkSession, outputs: tuple[Path, Path], tmp_path: Path) -> None:
    path = tmp_path / "bad.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("meter_id", data=[b"M1"])
        f.create_dataset("ts", data=[0])
    with pytest.raises(ValueError, match="kwh"):
        read_hdf5(spark, str(path), schemas.READINGS_SCHEMA)


@pytest.mark.parametrize("name, data, kind", [
    ("ts", np.array([1.789e9]), "float64"),  # seconds as floats, not int64 microseconds
    ("meter_id", np.array([7], dtype=np.int64), "int64"),  # an id written as a number
    ("kwh", np.array([b"0.5"]), "|S3"),  # digits as text
])
def test_a_dataset_of_another_kind_is_named_before_spark_reads_it(spark: SparkSession, tmp_path: Path, name: str,
                                                                   data: np.ndarray, kind: str) -> None:
    good = {"meter_id": np.array([b"M1"]), "ts": np.array([0], dtype=np.int64), "kwh": np.array([0.5])}
    path = tmp_path / "readings.h5"
    with h5py.File(path, "w") as f:
        for column, values in {**good, name: data}.items():
            f.create_dataset(column, data=values)
    with pytest.raises(DataError, match=rf"readings.h5: dataset '{name}' holds {re.escape(kind)} values; column {name}"):
        read_hdf5(spark, str(path), schemas.READINGS_SCHEMA)
