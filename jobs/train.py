"""spark-submit entry point: train. See ntl_spark/train.py."""

from __future__ import annotations

import sys

from ntl_spark import train
from ntl_spark.cli import run_job

DESCRIPTION = "Train DAICE (xgboost.spark) on the training set, log metrics and curves to MLflow and register the model with an alias."


def main(argv: list[str] | None = None) -> int:
    return run_job("train", DESCRIPTION, train.run, argv)


if __name__ == "__main__":
    sys.exit(main())
