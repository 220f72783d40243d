"""Hive/Impala tables: partitioned Parquet files registered as external tables.

Impala cannot read Delta tables, so results meant for Hive/Impala readers
(scores, campaigns) are also written as Parquet under a table location,
partitioned, and registered in the metastore (Spark's embedded Derby locally,
the cluster's on YARN). Readers run ``REFRESH <table>`` after a publication.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from ntl_spark.errors import ConfigError


def hive_ddl(database: str, table: str, df: DataFrame, partition_by: Sequence[str], location: str) -> str:
    """CREATE EXTERNAL TABLE statement matching ``df``'s schema."""
    cols = ",\n  ".join(f"`{f.name}` {f.dataType.simpleString()}" for f in df.schema.fields if f.name not in partition_by)
    parts = ", ".join(f"`{p}` {df.schema[p].dataType.simpleString()}" for p in partition_by)
    return (
        f"CREATE EXTERNAL TABLE IF NOT EXISTS `{database}`.`{table}` (\n  {cols}\n)\n"
        f"PARTITIONED BY ({parts})\nSTORED AS PARQUET\nLOCATION '{location}'"
    )


def plain_location(location: str) -> str:
    """A location without the ``file:`` scheme and trailing slash, for comparing local paths."""
    for prefix in ("file://", "file:"):
        if location.startswith(prefix):
            location = location[len(prefix):]
            break
    return location.rstrip("/")


def table_location(spark: SparkSession, database: str, table: str) -> str | None:
    """Where the metastore says ``database.table`` lives (None when it is not registered)."""
    if not spark.catalog.tableExists(table, database):
        return None
    rows = spark.sql(f"DESCRIBE FORMATTED `{database}`.`{table}`").where(F.col("col_name") == "Location").collect()
    return str(rows[0]["data_type"]).strip() if rows else None


def check_location(spark: SparkSession, database: str, table: str, location: str, keys: str) -> None:
    """Refuse a publication to a table registered at another location.

    ``CREATE ... IF NOT EXISTS`` would keep the old location, so readers would
    see other files than the ones written.

    Args:
        keys: the configuration keys that set the location and the table, for the message.

    Raises:
        ConfigError: ``database.table`` is registered elsewhere.
    """
    registered = table_location(spark, database, table)
    if registered is not None and plain_location(registered) != plain_location(location):
        raise ConfigError(
            f"Hive table {database}.{table} is registered at {registered}, this run publishes to {location}: "
            f"set {keys} to the registered location or to another table"
        )


def publish_partitions(df: DataFrame, database: str, table: str, location: str, partition_by: Sequence[str]) -> None:
    """Replace the partitions of ``df``'s rows under ``location`` and register the table and its partitions.

    Only the partitions present in ``df`` are overwritten (Spark's dynamic
    partition overwrite); others stay. The caller checks the location first
    (:func:`check_location`).
    """
    parts = list(partition_by)
    ordered = df.select(*[c for c in df.columns if c not in parts], *parts)
    spark = df.sparkSession
    (ordered.repartition(*parts).write.mode("overwrite").option("partitionOverwriteMode", "dynamic")
     .partitionBy(*parts).parquet(location))
    spark.sql(f"CREATE DATABASE IF NOT EXISTS `{database}`")
    spark.sql(hive_ddl(database, table, ordered, parts, location))
    spark.sql(f"MSCK REPAIR TABLE `{database}`.`{table}`")


def join_location(warehouse: str, database: str, table: str) -> str:
    """The default location of ``database.table`` under the warehouse folder: ``<warehouse>/<database>.db/<table>``."""
    return f"{warehouse.rstrip('/')}/{database}.db/{table}"
