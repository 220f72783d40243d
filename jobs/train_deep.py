"""spark-submit entry point: train_deep. See ntl_spark/deep.py."""

from __future__ import annotations

import sys

from ntl_spark import deep
from ntl_spark.cli import run_job

DESCRIPTION = "Train DeepDAICE (Keras LSTM/GRU/Conv1D fed by Petastorm from the windows table), log metrics and curves to MLflow and register the model with an alias."


def main(argv: list[str] | None = None) -> int:
    return run_job("train_deep", DESCRIPTION, deep.run, argv)


if __name__ == "__main__":
    sys.exit(main())
