#!/usr/bin/env bash
# The test command: environment, real services, lint, the whole test suite.
#   scripts/test.sh [--keep-services] [pytest args]   e.g. scripts/test.sh -m "not services"
#
# The suite runs on two pytest-xdist workers (NTL_TEST_WORKERS, default 2; 1 for a single process).
#
# HBase and PostgreSQL (scripts/services.sh) are started unless the pytest
# arguments contain "not services"; the cluster of the cluster test (HDFS, a
# Spark standalone master and two workers, the MLflow server) and the packed
# environment (scripts/pack.sh) unless they contain "not cluster". The servers this run started are stopped
# when it exits, passed or failed; servers that were already running are left
# running. --keep-services (or NTL_KEEP_SERVICES=1) leaves the started ones
# running too, for a faster next run. Ports are per checkout (var/services.env),
# so a second checkout on the same machine runs its own servers beside these.
set -euo pipefail
cd "$(dirname "$0")/.."
keep="${NTL_KEEP_SERVICES:-0}"
args=()
for a in "$@"; do
  if [ "$a" = "--keep-services" ]; then keep=1; else args+=("$a"); fi
done
scripts/bootstrap.sh
# Airflow in its own environment (var/airflow/venv) for tests/integration/test_airflow.py; quick when installed
case " ${args[*]} " in *"not integration"*) ;; *) scripts/airflow-env.sh ;; esac
needs_services=1
needs_cluster=1
for a in "${args[@]}"; do
  case "$a" in *"not services"*) needs_services=0 ;; esac
  case "$a" in *"not cluster"*) needs_cluster=0 ;; esac
done

started=()
stop_started() {
  local rc=$? s
  if [ "$keep" != 1 ]; then
    for s in "${started[@]}"; do scripts/services.sh stop "$s" || true; done
  elif [ "${#started[@]}" -gt 0 ]; then
    echo "test.sh: leaving ${started[*]} running (scripts/services.sh stop all)"
  fi
  exit "$rc"
}
if [ "$needs_services" = 1 ] || [ "$needs_cluster" = 1 ]; then
  wanted=()
  [ "$needs_services" = 1 ] && wanted+=(postgres hbase)
  [ "$needs_cluster" = 1 ] && wanted+=(postgres hdfs spark mlflow)
  for s in $(printf '%s\n' "${wanted[@]}" | awk '!seen[$0]++'); do
    scripts/services.sh status "$s" >/dev/null 2>&1 || started=("$s" "${started[@]}")  # stopped in reverse
  done
  trap stop_started EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  [ "$needs_services" = 1 ] && scripts/services.sh start all
  if [ "$needs_cluster" = 1 ]; then
    scripts/services.sh start cluster
    scripts/pack.sh  # the environment archive the cluster test's executors run from
  fi
fi
.venv/bin/ruff check ntl_spark jobs tests benchmarks console airflow
.venv/bin/mypy
export PYSPARK_PYTHON="$PWD/.venv/bin/python" SPARK_LOCAL_IP=127.0.0.1
# Two pytest-xdist workers by default (tests/conftest.py keeps each module on one worker and the HBase
# modules together); NTL_TEST_WORKERS=1 runs the suite in one process, an explicit -n wins.
workers="${NTL_TEST_WORKERS:-2}"
case " ${args[*]} " in *" -n "*|*" -n"[0-9]*|*" --numprocesses"*|*" -p no:xdist "*) workers=1 ;; esac
if [ "$workers" -gt 1 ]; then args=(-n "$workers" --dist loadgroup "${args[@]}"); fi
.venv/bin/python -m pytest "${args[@]}"
