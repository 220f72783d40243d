"""spark-submit entry point: features. See ntl_spark/features.py."""

from __future__ import annotations

import sys

from ntl_spark import features
from ntl_spark.cli import run_job

DESCRIPTION = "Build monthly features (C1..CN + customer data) for the reference month and the point-in-time training set, as Delta tables."


def main(argv: list[str] | None = None) -> int:
    return run_job("features", DESCRIPTION, features.run, argv)


if __name__ == "__main__":
    sys.exit(main())
