#!/usr/bin/env bash
# The test command: environment, real services, lint, the whole test suite.
#   scripts/test.sh [pytest args]      e.g. scripts/test.sh -m "not services"
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
needs_services=1
for a in "$@"; do case "$a" in *"not services"*) needs_services=0 ;; esac; done
if [ "$needs_services" = 1 ]; then scripts/services.sh start all; fi
.venv/bin/ruff check ntl_spark jobs tests benchmarks
.venv/bin/mypy
export PYSPARK_PYTHON="$PWD/.venv/bin/python" SPARK_LOCAL_IP=127.0.0.1
.venv/bin/python -m pytest "$@"
