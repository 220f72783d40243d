#!/usr/bin/env bash
# Start the NTL web console on the embedded default: PostgreSQL from
# scripts/services.sh (database ntl_console), the lakehouse and MLflow registry
# the demo wrote under var/, gunicorn on 127.0.0.1:8000.
#   scripts/console.sh                  # migrate, then serve (foreground; Ctrl-C stops it)
#   scripts/console.sh createadmin --email you@utility.uy   # the first administrator
#   scripts/console.sh manage <command> # any manage.py command
# Environment: NTL_CONSOLE_BIND (default 127.0.0.1:8000), NTL_CONSOLE_WORKERS (default 2),
# NTL_ENV / NTL_CONSOLE_SET (the pipeline config layer and --set style overrides, e.g.
# NTL_CONSOLE_SET="paths.root=/data/ntl"), and the NTL_CONSOLE_* settings in console/ntl_console/settings.py.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$(pwd)"
[ -x .venv/bin/python ] || scripts/bootstrap.sh
export NTL_JDBC_PASSWORD="${NTL_JDBC_PASSWORD:-ntl}"  # the local stand-in's password (scripts/services.sh)
scripts/services.sh start postgres >/dev/null
manage() { "$REPO/.venv/bin/python" console/manage.py "$@"; }  # from the repo root: paths.root is relative to it
case "${1:-serve}" in
  createadmin) shift; manage createadmin "$@" ;;
  manage) shift; manage "$@" ;;
  serve)
    # the pipeline configuration the console reads (conf/ + NTL_ENV + NTL_CONSOLE_SET): a bad key stops here, named
    .venv/bin/python -c 'import os, shlex, sys
from ntl_spark.config import load_config
from ntl_spark.errors import ConfigError
try:
    load_config(os.environ.get("NTL_ENV") or None, shlex.split(os.environ.get("NTL_CONSOLE_SET", "")))
except ConfigError as e:
    sys.exit(f"console: {e}")'
    manage migrate --noinput >/dev/null
    bind="${NTL_CONSOLE_BIND:-127.0.0.1:8000}"
    echo "console: http://$bind (log in with an administrator: scripts/console.sh createadmin --email ...)"
    # --pythonpath console: the Django project; the working directory stays the repo root (paths.root is relative to it)
    exec .venv/bin/gunicorn --pythonpath console --bind "$bind" --workers "${NTL_CONSOLE_WORKERS:-2}" \
      --timeout 120 --access-logfile - ntl_console.wsgi:application
    ;;
  *) echo "usage: $0 [serve | createadmin --email E | manage CMD...]" >&2; exit 2 ;;
esac
