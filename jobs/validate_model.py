"""spark-submit entry point: validate_model. See ntl_spark/validate/model.py."""

from __future__ import annotations

import sys

from ntl_spark.cli import run_job
from ntl_spark.validate import model

DESCRIPTION = "Model gate: compare the challenger with the champion on the held-out customers (PR-AUC, ROC-AUC, precision at the campaign size, per region, ranking agreement) and, refitting both recipes before a cut-off, on later inspections (validation.blessing.split decides which split counts); bless it (alias champion) or refuse it per validation.blessing, and log the evidence."


def main(argv: list[str] | None = None) -> int:
    return run_job("validate_model", DESCRIPTION, model.run, argv)


if __name__ == "__main__":
    sys.exit(main())
