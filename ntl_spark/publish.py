"""Publish: scores (Delta) -> partitioned Parquet external table for Hive/Impala.

In: the ``scores`` Delta table (rows of one scoring day, all models).
Out: Parquet files under ``publish.path`` partitioned by ``publish.partition_by``
(only the partitions of that day are replaced) and an external table
``<database>.<table>`` in the Hive metastore (Spark's embedded Derby metastore
locally, the cluster's on YARN). Impala readers run ``REFRESH <table>`` after
each publication (Impala cannot read Delta tables).
"""

from __future__ import annotations

import datetime as dt
import logging

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from ntl_spark import lakehouse, schemas
from ntl_spark.config import Config
from ntl_spark.errors import ConfigError, DataError
from ntl_spark.sparkutil import scalar

log = logging.getLogger(__name__)


def hive_ddl(database: str, table: str, df: DataFrame, partition_by: list[str], location: str) -> str:
    """CREATE EXTERNAL TABLE statement matching ``df``'s schema."""
    cols = ",\n  ".join(f"`{f.name}` {f.dataType.simpleString()}" for f in df.schema.fields if f.name not in partition_by)
    parts = ", ".join(f"`{p}` {df.schema[p].dataType.simpleString()}" for p in partition_by)
    return (
        f"CREATE EXTERNAL TABLE IF NOT EXISTS `{database}`.`{table}` (\n  {cols}\n)\n"
        f"PARTITIONED BY ({parts})\nSTORED AS PARQUET\nLOCATION '{location}'"
    )


def _plain(location: str) -> str:
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


def run(spark: SparkSession, cfg: Config) -> dict[str, object]:
    """Publish the latest (or ``score.scored_on``) day of scores; return counts and the table name."""
    pc = cfg.publish
    location = cfg.publish_path
    registered = table_location(spark, pc.database, pc.table)
    if registered is not None and _plain(registered) != _plain(location):
        # CREATE ... IF NOT EXISTS would keep the old location: readers would see other files than these
        raise ConfigError(
            f"Hive table {pc.database}.{pc.table} is registered at {registered}, this run publishes to {location}: "
            f"set publish.path to the registered location, or publish.database/publish.table to another table"
        )
    scores = lakehouse.read_pinned(spark, cfg.paths.table(schemas.SCORES), schemas.SCORES, "score").df
    day = dt.date.fromisoformat(cfg.score.scored_on) if cfg.score.scored_on else scalar(scores.agg(F.max("scored_on")), "scores")
    if day is None:
        raise DataError("scores table is empty: nothing to publish")
    rows = scores.where(F.col("scored_on") == F.lit(day))
    ordered = rows.select(*[c for c in rows.columns if c not in pc.partition_by], *pc.partition_by)
    ordered.repartition(*pc.partition_by).write.mode("overwrite").partitionBy(*pc.partition_by).parquet(location)

    spark.sql(f"CREATE DATABASE IF NOT EXISTS `{pc.database}`")
    spark.sql(hive_ddl(pc.database, pc.table, ordered, pc.partition_by, location))
    spark.sql(f"MSCK REPAIR TABLE `{pc.database}`.`{pc.table}`")
    n = spark.table(f"{pc.database}.{pc.table}").where(F.col("scored_on") == F.lit(day)).count()
    print(f"publish: {n:,} rows of {day} in Hive table {pc.database}.{pc.table} (Parquet at {location}); "
          f"Impala: REFRESH {pc.database}.{pc.table}")
    return {"rows": n, "table": f"{pc.database}.{pc.table}", "location": location, "scored_on": day}
