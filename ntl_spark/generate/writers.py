"""Writers of the generated tables: Parquet or CSV part files, or one HDF5 file per table.

In: pyarrow Tables with a contract table's columns, one per chunk. Out, under
the output folder:

* parquet: ``<table>/part-00000.parquet``, ``part-00001.parquet`` ... (dates as
  date32, timestamps as naive local ``timestamp[us]``);
* csv: ``<table>/part-00000.csv`` ... with a header row, dates ``YYYY-MM-DD``,
  timestamps ``YYYY-MM-DD HH:MM:SS``, nulls as empty fields;
* hdf5: ``<table>.h5`` with one 1-D dataset per column; each dataset's
  ``encoding`` attribute says how to read it (see ``ntl_spark.io.hdf5``).

A table's previous folder or file is removed first, so the same seed always
gives the same files.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
from pyspark.sql.types import (
    DataType,
    DateType,
    DoubleType,
    IntegerType,
    LongType,
    StringType,
    StructType,
    TimestampType,
)

FORMATS = ("parquet", "csv", "hdf5")
ROW_GROUP_ROWS = 1 << 20
H5_CHUNK_ROWS = 1 << 16
INT32_NULL = np.iinfo(np.int32).min
INT64_NULL = np.iinfo(np.int64).min

# HDF5 encodings, written in each dataset's ``encoding`` attribute.
ENC_STRING = "utf8"  # fixed-length UTF-8 bytes, null = empty string
ENC_DATE = "days_since_epoch"  # int32, null = INT32_NULL
ENC_TIMESTAMP = "us_since_epoch_local"  # int64 microseconds of local wall-clock time, null = INT64_NULL
ENC_DOUBLE = "float64"  # null = NaN
ENC_INT32 = "int32"  # null = INT32_NULL
ENC_INT64 = "int64"  # null = INT64_NULL

# Width in bytes of the fixed-length string datasets (longest value the generator writes).
STRING_WIDTH = 24


def arrow_type(dtype: DataType) -> pa.DataType:
    """The pyarrow type a Spark type is written as.

    Raises:
        TypeError: a type the generator does not write.
    """
    mapping = {
        StringType: pa.string(),
        DoubleType: pa.float64(),
        IntegerType: pa.int32(),
        LongType: pa.int64(),
        DateType: pa.date32(),
        TimestampType: pa.timestamp("us"),
    }
    for spark_type, arrow in mapping.items():
        if isinstance(dtype, spark_type):
            return arrow
    raise TypeError(f"no file type for Spark type {dtype.simpleString()}")


def arrow_schema(schema: StructType) -> pa.Schema:
    return pa.schema([pa.field(f.name, arrow_type(f.dataType), nullable=f.nullable) for f in schema.fields])


class TableWriter:
    """Writes one contract table chunk by chunk in the configured format.

    Args:
        out: output folder.
        table: table name.
        schema: its Spark schema (columns, order and types of what is written).
        fmt: ``parquet``, ``csv`` or ``hdf5``.

    Raises:
        ValueError: unknown format.
    """

    def __init__(self, out: Path, table: str, schema: StructType, fmt: str) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"generate.format: unknown format {fmt!r}; known: {list(FORMATS)}")
        self.out = Path(out)
        self.table = table
        self.schema = schema
        self.arrow = arrow_schema(schema)
        self.fmt = fmt
        self.rows = 0
        self.parts = 0
        self._h5: h5py.File | None = None
        self.path = self.out / (f"{table}.h5" if fmt == "hdf5" else table)
        if self.path.is_dir():
            shutil.rmtree(self.path)
        elif self.path.exists():
            self.path.unlink()
        if fmt != "hdf5":
            self.path.mkdir(parents=True)
        else:
            self.out.mkdir(parents=True, exist_ok=True)

    def write(self, data: pa.Table) -> None:
        """Append one chunk (columns in any order; extra columns are an error).

        Raises:
            ValueError: a schema column is missing from ``data``.
        """
        missing = [name for name in self.arrow.names if name not in data.column_names]
        if missing:
            raise ValueError(f"{self.table}: chunk lacks column(s) {missing}")
        data = data.select(self.arrow.names).cast(self.arrow)
        if self.fmt == "parquet":
            pq.write_table(data, self.path / f"part-{self.parts:05d}.parquet", row_group_size=ROW_GROUP_ROWS,
                           compression="snappy")
        elif self.fmt == "csv":
            _write_csv(data, self.path / f"part-{self.parts:05d}.csv")
        else:
            self._write_h5(data)
        self.parts += 1
        self.rows += data.num_rows

    def close(self) -> None:
        """Finish the table (an empty part when nothing was written, so readers find the schema)."""
        if self.parts == 0:
            self.write(self.arrow.empty_table())
        if self._h5 is not None:
            self._h5.attrs["rows"] = self.rows
            self._h5.close()
            self._h5 = None

    # ------------------------------------------------------------------ hdf5
    def _write_h5(self, data: pa.Table) -> None:
        if self._h5 is None:
            self._h5 = h5py.File(self.path, "w")
            self._h5.attrs["table"] = self.table
            for field, spark_field in zip(self.arrow, self.schema.fields, strict=True):
                dtype, encoding = _h5_dtype(field.type)
                ds = self._h5.create_dataset(field.name, shape=(0,), maxshape=(None,), dtype=dtype,
                                             chunks=(H5_CHUNK_ROWS,))
                ds.attrs["encoding"] = encoding
                ds.attrs["spark_type"] = spark_field.dataType.simpleString()
                ds.attrs["nullable"] = spark_field.nullable
        h5 = self._h5
        for field in self.arrow:
            values = _h5_values(data.column(field.name), field.type, self.table, field.name)
            ds = h5[field.name]
            start = ds.shape[0]
            ds.resize((start + len(values),))
            if len(values):
                ds[start:] = values


def _write_csv(data: pa.Table, path: Path) -> None:
    columns = [col.cast(pa.timestamp("s"), safe=False) if pa.types.is_timestamp(col.type) else col
               for col in data.columns]
    pcsv.write_csv(pa.table(columns, names=data.column_names), path)


def _h5_dtype(tp: pa.DataType) -> tuple[np.dtype, str]:
    if pa.types.is_string(tp):
        return np.dtype(f"S{STRING_WIDTH}"), ENC_STRING
    if pa.types.is_date32(tp):
        return np.dtype(np.int32), ENC_DATE
    if pa.types.is_timestamp(tp):
        return np.dtype(np.int64), ENC_TIMESTAMP
    if pa.types.is_float64(tp):
        return np.dtype(np.float64), ENC_DOUBLE
    if pa.types.is_int32(tp):
        return np.dtype(np.int32), ENC_INT32
    if pa.types.is_int64(tp):
        return np.dtype(np.int64), ENC_INT64
    raise TypeError(f"no HDF5 encoding for arrow type {tp}")


def _h5_values(col: pa.ChunkedArray, tp: pa.DataType, table: str, name: str) -> np.ndarray:
    col = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
    if pa.types.is_string(tp):
        encoded = pc.dictionary_encode(pc.fill_null(col, ""))
        words = np.char.encode(np.asarray(encoded.dictionary.to_pylist(), dtype=str), "utf-8")
        if words.dtype.itemsize > STRING_WIDTH:
            raise ValueError(f"{table}.{name}: value longer than {STRING_WIDTH} bytes cannot go to HDF5")
        return words.astype(f"S{STRING_WIDTH}")[encoded.indices.to_numpy(zero_copy_only=False)]
    if pa.types.is_date32(tp):
        return pc.fill_null(col.cast(pa.int32()), INT32_NULL).to_numpy()
    if pa.types.is_timestamp(tp):
        return pc.fill_null(col.cast(pa.int64()), INT64_NULL).to_numpy()
    if pa.types.is_float64(tp):
        return col.to_numpy(zero_copy_only=False).astype(np.float64)
    null = INT32_NULL if pa.types.is_int32(tp) else INT64_NULL
    return pc.fill_null(col, null).to_numpy()
