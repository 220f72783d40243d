"""Distributed reader for column-per-dataset HDF5 files.

In: an HDF5 file holding one 1-D dataset per column, all of the same length,
each with an ``encoding`` attribute (as written by ``ntl_spark.generate``):

* ``utf8``: fixed- or variable-length UTF-8 bytes; empty = null;
* ``days_since_epoch``: int32 days since 1970-01-01 (dates); INT32_MIN = null;
* ``us_since_epoch_local``: int64 microseconds since 1970-01-01 of the local
  wall-clock time (timestamps, read in the session time zone); INT64_MIN = null;
* ``float64``: NaN = null; ``int32`` / ``int64``: the type's minimum = null.

Out: a DataFrame with exactly the given schema. The driver opens the file only
to check the columns and read the row count; each task opens it with h5py and
reads one slice of rows, so the file must be on a path every executor sees
(a local path in local mode, or a shared mount).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import (
    DataType,
    DateType,
    DoubleType,
    FloatType,
    IntegerType,
    LongType,
    StringType,
    StructType,
    TimestampType,
)

from ntl_spark.errors import DataError

INT32_NULL = np.iinfo(np.int32).min
INT64_NULL = np.iinfo(np.int64).min


# numpy kinds of the dataset each Spark type is decoded from (see the module docstring); checked on the
# driver, because a task that meets another kind fails deep in Spark, or (text digits as kWh, an integer
# customer id) decodes into values that look valid.
_KINDS: tuple[tuple[type | tuple[type, ...], str], ...] = (
    (StringType, "SO"),
    (DateType, "i"),
    (TimestampType, "i"),
    ((DoubleType, FloatType), "fiu"),
    ((IntegerType, LongType), "iu"),
)
_LAYOUT = {
    "SO": "UTF-8 bytes",
    "i": "integers (int32 days or int64 microseconds since 1970-01-01)",
    "fiu": "numbers (float64, NaN = null)",
    "iu": "integers (the type's minimum = null)",
}


def hdf5_rows(path: str, schema: StructType) -> int:
    """Rows in the file, after checking that every schema column has a dataset.

    Raises:
        DataError: a column has no dataset, a dataset is not 1-D or holds
            values of another kind than its column's, or datasets differ in length.
        FileNotFoundError: no file at ``path``.
    """
    import h5py

    try:
        handle = h5py.File(path, "r")
    except FileNotFoundError:
        raise
    except OSError as e:
        raise DataError(f"cannot open HDF5 file {path}: {e}") from e
    with handle as f:
        lengths = {}
        for name in schema.fieldNames():
            if name not in f:
                raise DataError(f"{path}: no dataset for column {name!r} (has {sorted(f.keys())})")
            ds = f[name]
            if ds.ndim != 1:
                raise DataError(f"{path}: dataset {name!r} is not 1-D (shape {ds.shape})")
            spark_type = schema[name].dataType
            kinds = next((k for t, k in _KINDS if isinstance(spark_type, t)), None)
            if kinds is not None and ds.dtype.kind not in kinds:
                raise DataError(
                    f"{path}: dataset {name!r} holds {ds.dtype} values; column {name} ({spark_type.simpleString()}) "
                    f"is read from {_LAYOUT[kinds]}"
                )
            lengths[name] = ds.shape[0]
    if len(set(lengths.values())) > 1:
        raise DataError(f"{path}: datasets have different lengths {lengths}")
    return next(iter(lengths.values()), 0)


def decode_column(values: np.ndarray, dtype: DataType, encoding: str, name: str) -> pd.Series:
    """Turn one dataset slice into a pandas Series Spark converts to ``dtype``.

    Raises:
        TypeError: the column's Spark type is not readable from HDF5.
    """
    if isinstance(dtype, StringType):
        if values.dtype.kind == "O":
            values = np.array([v if isinstance(v, bytes) else str(v).encode() for v in values], dtype=bytes)
        text = np.char.decode(values.astype(bytes), "utf-8").astype(object)
        text[text == ""] = None
        return pd.Series(text, dtype=object)
    if isinstance(dtype, DateType):
        days = values.astype(np.int64)
        out = pd.Series(days.astype("datetime64[D]").astype("datetime64[ns]"))
        out[days == INT32_NULL] = pd.NaT
        return out.dt.date.where(out.notna(), None)
    if isinstance(dtype, TimestampType):
        us = values.astype(np.int64)
        out = pd.Series(us.astype("datetime64[us]").astype("datetime64[ns]"))
        out[us == INT64_NULL] = pd.NaT
        return out
    if isinstance(dtype, (DoubleType, FloatType)):
        return pd.Series(values.astype(np.float64 if isinstance(dtype, DoubleType) else np.float32))
    if isinstance(dtype, (IntegerType, LongType)):
        null = INT32_NULL if encoding == "int32" or values.dtype == np.int32 else INT64_NULL
        kind = "Int32" if isinstance(dtype, IntegerType) else "Int64"
        return pd.Series(pd.array(values, dtype=kind)).mask(values == null)
    raise DataError(f"column {name!r}: Spark type {dtype.simpleString()} cannot be read from HDF5")


def read_hdf5(spark: SparkSession, path: str, schema: StructType, rows_per_task: int = 1_000_000) -> DataFrame:
    """Read an HDF5 table in parallel, one slice of ``rows_per_task`` rows per task.

    Args:
        spark: the session.
        path: local (or shared-mount) path of the ``.h5`` file, visible to executors.
        schema: columns to read (dataset names) and their Spark types.
        rows_per_task: rows each task reads.

    Returns:
        A DataFrame with exactly ``schema``.

    Raises:
        ValueError: a schema column has no dataset, or ``rows_per_task`` < 1.
        FileNotFoundError: the file cannot be opened.
    """
    if rows_per_task < 1:
        raise ValueError(f"rows_per_task must be >= 1 (got {rows_per_task})")
    path = path.removeprefix("file://")
    rows = hdf5_rows(path, schema)
    slices = max(1, math.ceil(rows / rows_per_task))
    fields = [(f.name, f.dataType) for f in schema.fields]

    def read(batches: Iterable[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        import h5py

        with h5py.File(path, "r") as f:
            for batch in batches:
                for slice_id in batch["id"].tolist():
                    lo = slice_id * rows_per_task
                    hi = min(rows, lo + rows_per_task)
                    columns = {}
                    for name, dtype in fields:
                        ds = f[name]
                        encoding = ds.attrs.get("encoding", "")
                        if isinstance(encoding, bytes):
                            encoding = encoding.decode()
                        columns[name] = decode_column(ds[lo:hi], dtype, str(encoding), name)
                    yield pd.DataFrame(columns)

    return spark.range(0, slices, 1, numPartitions=slices).mapInPandas(read, schema=schema)
