"""spark-submit entry point: load_sources. See ntl_spark/io/sources.py.

Needs the servers of scripts/services.sh (or real ones named in conf/) and the
database password in $NTL_JDBC_PASSWORD (jdbc.password_env).
"""

from __future__ import annotations

import sys

from ntl_spark.cli import run_job
from ntl_spark.io import sources

DESCRIPTION = (
    "Load the generated files (<raw>/<table>/part-*.parquet) into the source servers: readings and events into "
    "HBase (pre-split table, contract layout), customers, bills and inspections into the relational database."
)


def main(argv: list[str] | None = None) -> int:
    return run_job("load_sources", DESCRIPTION, sources.run, argv, needs_spark=False)


if __name__ == "__main__":
    sys.exit(main())
