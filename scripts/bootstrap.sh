#!/usr/bin/env bash
# Create the project environment on first use: a venv with the pinned
# packages (requirements.lock) and the package itself, plus the JVM jars; as
# root, the Debian packages the tests drive (chromium, the MIT Kerberos KDC).
# Safe to re-run: it only does what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  for cand in python3.11 python3.10 python3.12 python3; do
    if command -v "$cand" >/dev/null 2>&1; then PY="$cand"; break; fi
  done
fi
if [ ! -x .venv/bin/python ]; then
  echo "[bootstrap] creating .venv with $PY"
  "$PY" -m venv .venv
fi
if [ ! -f .venv/.installed ] || [ requirements.lock -nt .venv/.installed ] || [ pyproject.toml -nt .venv/.installed ]; then
  echo "[bootstrap] installing pinned packages (first run takes a few minutes; log in var/bootstrap.log)"
  mkdir -p var
  {
    .venv/bin/pip install --upgrade "pip<27" &&
    .venv/bin/pip install -r requirements.lock &&
    .venv/bin/pip install --no-deps -e . &&
    .venv/bin/python -m ipykernel install --sys-prefix --name python3 >/dev/null
  } >var/bootstrap.log 2>&1 || { tail -40 var/bootstrap.log >&2; echo "[bootstrap] install failed" >&2; exit 1; }
  touch .venv/.installed
fi
command -v java >/dev/null || { echo "[bootstrap] java (17) is required" >&2; exit 1; }
command -v mvn >/dev/null || { echo "[bootstrap] mvn is required to resolve the jars" >&2; exit 1; }
scripts/fetch-jars.sh var/jars >/dev/null
# The console's browser tests drive Debian's chromium (Playwright cannot download its own browser here).
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "[bootstrap] installing chromium for the console's browser tests (log in var/bootstrap-chromium.log)"
    { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium; } \
      >var/bootstrap-chromium.log 2>&1 || { tail -20 var/bootstrap-chromium.log >&2; echo "[bootstrap] chromium install failed" >&2; exit 1; }
  else
    echo "[bootstrap] chromium not found: install it (apt-get install chromium) for the console's browser tests" >&2
  fi
fi
# The Kerberos test (tests/integration/test_hbase_kerberos.py) runs MIT Kerberos's KDC from Debian packages.
if ! command -v krb5kdc >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "[bootstrap] installing the MIT Kerberos KDC for the Kerberos test (log in var/bootstrap-krb5.log)"
    { DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends krb5-kdc krb5-admin-server krb5-user \
        || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
               krb5-kdc krb5-admin-server krb5-user; }; } \
      >var/bootstrap-krb5.log 2>&1 || { tail -20 var/bootstrap-krb5.log >&2; echo "[bootstrap] krb5-kdc install failed" >&2; exit 1; }
  else
    echo "[bootstrap] krb5kdc not found: install krb5-kdc, krb5-admin-server and krb5-user for the Kerberos test" >&2
  fi
fi
echo "[bootstrap] ready"
