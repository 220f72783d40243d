"""spark-submit entry point: ingest. See ntl_spark/ingest.py."""

from __future__ import annotations

import sys

from ntl_spark import ingest
from ntl_spark.cli import run_job

DESCRIPTION = "Read the contract's source tables (files, JDBC or HBase per ingest.source) into bronze Delta tables; quarantine rows that break the contract."


def main(argv: list[str] | None = None) -> int:
    return run_job("ingest", DESCRIPTION, ingest.run, argv)


if __name__ == "__main__":
    sys.exit(main())
