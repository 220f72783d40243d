"""spark-submit entry point: promote. See ntl_spark/registry.py."""

from __future__ import annotations

import sys

from ntl_spark import registry
from ntl_spark.cli import run_job

DESCRIPTION = ("Move the champion alias (model.champion) to a registered version by hand: "
               "--set promote.version=N --set promote.reason=\"...\" (a rollback: the previous champion's version). "
               "The move is kept as tags on the version and a row in the model_decisions Delta table.")


def main(argv: list[str] | None = None) -> int:
    return run_job("promote", DESCRIPTION, registry.promote, argv)


if __name__ == "__main__":
    sys.exit(main())
