"""spark-submit entry point: publish. See ntl_spark/publish.py."""

from __future__ import annotations

import sys

from ntl_spark import publish
from ntl_spark.cli import run_job

DESCRIPTION = "Publish a day of scores as a partitioned Parquet external table in the Hive metastore for Hive/Impala readers."


def main(argv: list[str] | None = None) -> int:
    return run_job("publish", DESCRIPTION, publish.run, argv)


if __name__ == "__main__":
    sys.exit(main())
