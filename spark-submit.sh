#!/usr/bin/env bash
# Run an ntl-spark job with spark-submit, locally (default) or on YARN (by config).
#
#   ./spark-submit.sh <job> [--env ENV] [--set key=value ...]
#   ./spark-submit.sh <job> --help
#   ./spark-submit.sh            # lists the jobs
#
# The first call creates the environment (.venv with the pinned packages and
# the JVM jars under var/jars); later calls reuse it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$ROOT"

list_jobs() {
  echo "usage: ./spark-submit.sh <job> [--env ENV] [--set key=value ...]"
  echo "jobs:"
  for f in jobs/*.py; do
    name="$(basename "$f" .py)"
    desc="$(sed -n 's/^DESCRIPTION = "\(.*\)"$/\1/p' "$f" | head -1)"
    printf "  %-14s %s\n" "$name" "${desc:0:110}"
  done
}

job="${1:-}"
if [ -z "$job" ] || [ "$job" = "-h" ] || [ "$job" = "--help" ]; then list_jobs; exit 0; fi
shift
if [ ! -f "jobs/$job.py" ]; then echo "unknown job '$job'" >&2; list_jobs >&2; exit 2; fi

scripts/bootstrap.sh | grep -v '^\[bootstrap\] ready$' || true
PY="$ROOT/.venv/bin/python"
export PYSPARK_PYTHON="${PYSPARK_PYTHON:-$PY}" PYSPARK_DRIVER_PYTHON="${PYSPARK_DRIVER_PYTHON:-$PY}"
export SPARK_LOCAL_IP="${SPARK_LOCAL_IP:-127.0.0.1}" PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
# Off local mode the driver imports the package from --py-files (a zip, no conf/ beside it): the
# YAML layers come from this checkout. A cluster-mode driver reads the shipped copies in its container.
export NTL_CONF_DIR="${NTL_CONF_DIR:-$ROOT/conf}"

for a in "$@"; do
  if [ "$a" = "--help" ] || [ "$a" = "-h" ]; then exec "$PY" "jobs/$job.py" "$@"; fi
done

# Jobs that never start Spark run as plain Python.
if grep -q "needs_spark=False" "jobs/$job.py"; then exec "$PY" "jobs/$job.py" "$@"; fi

SUBMIT=()
while IFS= read -r line; do SUBMIT+=("$line"); done < <("$PY" -m ntl_spark.submit "$job" "$@" && echo "rc=0" || echo "rc=$?")
rc="${SUBMIT[-1]#rc=}"; unset 'SUBMIT[-1]'
[ "$rc" = 0 ] || exit "$rc"
exec "$ROOT/.venv/bin/spark-submit" "${SUBMIT[@]}" "jobs/$job.py" "$@"
