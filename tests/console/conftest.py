"""Django test set-up for the console: the real PostgreSQL from scripts/services.sh and a tiny lakehouse.

The console's test database (``test_ntl_console``) is created on the
services' PostgreSQL for the session and dropped after it; the lakehouse and
MLflow registry are written once per session with ``tests/console/lake.py``;
results written to the ``inspections`` source go to that test database too.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "var" / "test-artifacts" / "console"

sys.path.insert(0, str(REPO / "console"))
os.environ["DJANGO_SETTINGS_MODULE"] = "ntl_console.settings"
os.environ.setdefault("NTL_JDBC_PASSWORD", "ntl")
os.environ.setdefault("NTL_CONSOLE_VAR", str(REPO / "var" / "console"))
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # playwright's sync API runs an event loop
# one test database per run: two runs on the same server never drop each other's
os.environ.setdefault("NTL_CONSOLE_TEST_DB_NAME", f"test_ntl_console_{os.getpid()}")

import django  # noqa: E402

django.setup()


@pytest.fixture(scope="session")
def lake(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    from tests.console import lake as builder

    root = tmp_path_factory.mktemp("console-lake")
    return {"root": root, **builder.build(root)}


@pytest.fixture(scope="session", autouse=True)
def console_db(lake: dict[str, object]) -> Iterator[None]:
    """The test database for the session, and the console pointed at the test lakehouse."""
    from django.conf import settings
    from django.test.utils import setup_databases, setup_test_environment, teardown_databases, teardown_test_environment
    from web import pipeline

    from ntl_spark.config import load_config

    up = subprocess.run([str(REPO / "scripts" / "services.sh"), "start", "postgres"], capture_output=True, text=True,
                        timeout=300)
    if up.returncode != 0:
        raise RuntimeError(f"scripts/services.sh start postgres failed:\n{up.stdout}\n{up.stderr}")
    # the port services.sh chose for this checkout (settings were read before the server was started)
    services = Path(os.environ.get("NTL_SERVICES_DIR", REPO / "var")) / "services.env"
    env = dict(line.split("=", 1) for line in services.read_text().splitlines()
               if "=" in line and not line.startswith("#"))
    db = settings.DATABASES["default"]
    db["HOST"], db["PORT"] = env.get("NTL_SERVICES_HOST", db["HOST"]), env.get("NTL_PG_PORT", db["PORT"])
    db["CONN_MAX_AGE"] = 0
    setup_test_environment()
    old = setup_databases(verbosity=0, interactive=False)
    cfg = load_config("test", [f"paths.root={lake['root']}",
                               f"jdbc.url=jdbc:postgresql://{db['HOST']}:{db['PORT']}/{db['NAME']}"])
    pipeline.set_config(cfg)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    yield
    pipeline.set_config(None)
    from django.db import connection, connections

    with connection.cursor() as cur:  # the live server's threads may still hold connections to the test database
        cur.execute("select pg_terminate_backend(pid) from pg_stat_activity where datname = current_database() "
                    "and pid <> pg_backend_pid()")
    connections.close_all()
    teardown_databases(old, verbosity=0)
    teardown_test_environment()
