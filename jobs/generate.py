"""Generate the data contract's tables as synthetic files (no Spark needed).

In: ``conf/`` layers and ``--set generate.<key>=<value>`` overrides. Out: the
files under ``generate.output`` (default ``<paths.root>/<paths.raw>``), see
``docs/generator.md``.

    python jobs/generate.py --env local --set generate.customers=20000
"""

from __future__ import annotations

import sys

from ntl_spark import generate
from ntl_spark.cli import run_job


def main(argv: list[str] | None = None) -> int:
    return run_job(
        "generate",
        "Write the data contract's tables as synthetic files (customers, bills, 15-minute readings, "
        "alarms, inspections) with a known fraud ground truth.",
        generate.run,
        argv,
        needs_spark=False,
    )


if __name__ == "__main__":
    sys.exit(main())
