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

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from ntl_spark import lakehouse, schemas
from ntl_spark.config import Config
from ntl_spark.errors import DataError
from ntl_spark.io import hive
from ntl_spark.sparkutil import scalar

log = logging.getLogger(__name__)


def run(spark: SparkSession, cfg: Config) -> dict[str, object]:
    """Publish the latest (or ``score.scored_on``) day of scores; return counts and the table name."""
    pc = cfg.publish
    location = cfg.publish_path
    hive.check_location(spark, pc.database, pc.table, location, "publish.path, or publish.database/publish.table,")
    scores = lakehouse.read_pinned(spark, cfg.paths.table(schemas.SCORES), schemas.SCORES, "score").df
    day = dt.date.fromisoformat(cfg.score.scored_on) if cfg.score.scored_on else scalar(scores.agg(F.max("scored_on")), "scores")
    if day is None:
        raise DataError("scores table is empty: nothing to publish")
    hive.publish_partitions(scores.where(F.col("scored_on") == F.lit(day)), pc.database, pc.table, location,
                            pc.partition_by)
    n = spark.table(f"{pc.database}.{pc.table}").where(F.col("scored_on") == F.lit(day)).count()
    print(f"publish: {n:,} rows of {day} in Hive table {pc.database}.{pc.table} (Parquet at {location}); "
          f"Impala: REFRESH {pc.database}.{pc.table}")
    return {"rows": n, "table": f"{pc.database}.{pc.table}", "location": location, "scored_on": day}
