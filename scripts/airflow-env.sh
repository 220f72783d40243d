#!/usr/bin/env bash
# Airflow for the DAGs in airflow/dags, in its own environment (never .venv:
# Airflow's pins and the jobs' pins do not mix; the DAG tasks run the jobs
# through ./spark-submit.sh, which uses .venv).
#
#   scripts/airflow-env.sh                 # create or update var/airflow/venv (quick when up to date)
#   scripts/airflow-env.sh airflow ARGS    # run an airflow command against this checkout's DAGs
#   scripts/airflow-env.sh env             # print the exports that command uses, for a shell
#
# apache-airflow is installed with Airflow's constraints file for Python 3.11,
# airflow/constraints-3.11.txt: the file constraints-3.11.txt of
# github.com/apache/airflow at commit 001605a1fdd3e3e1b06a5cdf6f811a58fac111c6,
# generated 2025-05-29 on the v3-0-test branch (the 3.0 constraints line),
# committed unchanged (its sha256 is checked below). Airflow 3.0.1 is the 3.x release that
# resolves with it (3.0.2's task SDK needs structlog>=25.4, the file pins
# 25.3). To move to a newer Airflow, replace the file with the one published
# for that release (constraints-<version>/constraints-3.11.txt) and change
# AIRFLOW_VERSION and CONSTRAINTS_SHA256; the environment is rebuilt when
# either changes.
#
# AIRFLOW_HOME is var/airflow/home (SQLite metadata database, logs); the DAGs
# folder is airflow/dags. Both can be overridden from the environment.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
AIRFLOW_VERSION=3.0.1
CONSTRAINTS=airflow/constraints-3.11.txt
CONSTRAINTS_SHA256=49a556255a970be3cb171a66fd2b177dd7a45bcef3727871a031b95fb9de3e71
VENV="${NTL_AIRFLOW_VENV:-$ROOT/var/airflow/venv}"
STAMP="$VENV/.installed-$AIRFLOW_VERSION-${CONSTRAINTS_SHA256:0:12}"  # a new version or constraints file: reinstall

PY="${AIRFLOW_PYTHON:-}"
if [ -z "$PY" ]; then
  for cand in python3.11 python3; do
    if command -v "$cand" >/dev/null 2>&1; then PY="$cand"; break; fi
  done
fi

install() {
  local have
  have="$(sha256sum "$CONSTRAINTS" | cut -d' ' -f1)"
  if [ "$have" != "$CONSTRAINTS_SHA256" ]; then
    echo "[airflow-env] $CONSTRAINTS has sha256 $have, expected $CONSTRAINTS_SHA256 (the file as committed); refusing to install" >&2
    exit 1
  fi
  "$PY" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || {
    echo "[airflow-env] $PY is not Python 3.11, which $CONSTRAINTS is for (set AIRFLOW_PYTHON)" >&2; exit 1; }
  mkdir -p "$ROOT/var/airflow"
  local log="$ROOT/var/airflow/install.log"
  echo "[airflow-env] installing apache-airflow==$AIRFLOW_VERSION into $VENV with $CONSTRAINTS (about 2 minutes; log in $log)"
  rm -rf "$VENV"
  {
    "$PY" -m venv "$VENV" &&
    "$VENV/bin/pip" install --upgrade "pip<27" &&
    "$VENV/bin/pip" install "apache-airflow==$AIRFLOW_VERSION" --constraint "$CONSTRAINTS"
  } >"$log" 2>&1 || { tail -40 "$log" >&2; echo "[airflow-env] install failed" >&2; exit 1; }
  touch "$STAMP"
}

if [ ! -f "$STAMP" ]; then install; fi

export AIRFLOW_HOME="${AIRFLOW_HOME:-$ROOT/var/airflow/home}"
export AIRFLOW__CORE__DAGS_FOLDER="${AIRFLOW__CORE__DAGS_FOLDER:-$ROOT/airflow/dags}"
export AIRFLOW__CORE__LOAD_EXAMPLES="${AIRFLOW__CORE__LOAD_EXAMPLES:-False}"
export NTL_SPARK_REPO="${NTL_SPARK_REPO:-$ROOT}"

case "${1:-}" in
  "") echo "[airflow-env] ready: $VENV/bin/airflow (AIRFLOW_HOME=$AIRFLOW_HOME)" ;;
  env)
    echo "export PATH=\"$VENV/bin:\$PATH\""
    for v in AIRFLOW_HOME AIRFLOW__CORE__DAGS_FOLDER AIRFLOW__CORE__LOAD_EXAMPLES NTL_SPARK_REPO; do
      echo "export $v=\"${!v}\""
    done ;;
  airflow)
    shift
    mkdir -p "$AIRFLOW_HOME"
    # the metadata database on first use (SQLite under AIRFLOW_HOME by default)
    if [ ! -f "$AIRFLOW_HOME/.migrated-$AIRFLOW_VERSION" ]; then
      "$VENV/bin/airflow" db migrate >"$AIRFLOW_HOME/migrate.log" 2>&1 ||
        { tail -20 "$AIRFLOW_HOME/migrate.log" >&2; exit 1; }
      touch "$AIRFLOW_HOME/.migrated-$AIRFLOW_VERSION"
    fi
    exec "$VENV/bin/airflow" "$@" ;;
  *) echo "usage: scripts/airflow-env.sh [env | airflow ARGS...]" >&2; exit 2 ;;
esac
