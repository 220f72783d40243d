"""Shared fixtures: one local[2] Spark session per test process; the source servers.

scripts/test.sh runs the suite on two pytest-xdist workers (``--dist loadgroup``), each with its own
Spark session and temporary folders. A module's tests stay on one worker, where its module fixtures are
built once; the modules that use the checkout's HBase share one worker, since one of them restarts the
Thrift server under the others.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from ntl_spark.config import Config, load_config

os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")

REPO = Path(__file__).resolve().parents[1]
SERVICES = REPO / "scripts" / "services.sh"
# the modules that read or write the checkout's HBase: test_source_faults restarts its Thrift server
HBASE_MODULES = {"test_sources.py", "test_source_faults.py", "test_hbase_dayrange.py", "test_hbase_kerberos.py"}


def xdist_group(nodeid: str) -> str:
    """The worker group of a test: the HBase modules together, the console's modules (one session
    lakehouse and test database) together, every other module on its own."""
    path = nodeid.split("::", 1)[0]
    if path.rsplit("/", 1)[-1] in HBASE_MODULES:
        return "hbase"
    return "tests/console" if path.startswith("tests/console/") else path


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """``--dist loadgroup`` by :func:`xdist_group`: whole groups go to a worker as it frees up.

    (pytest-xdist's own loadgroup reads ``xdist_group`` marks into the test ids, which pytest 9 no longer
    lets it rewrite, so it would hand out single tests.)
    """
    if config.getvalue("dist") != "loadgroup":
        return None
    # groups go out in collection order (tests/cluster and the integration modules, the longest, early; the
    # many short unit modules fill the gaps at the end), not by their number of tests, which would leave the
    # one-test cluster cycle for last
    config.option.loadscopereorder = False
    from xdist.scheduler import LoadScopeScheduling

    class GroupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return xdist_group(nodeid)

    return GroupScheduling(config, log)


@pytest.fixture(scope="session")
def test_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ntl")


@pytest.fixture(scope="session")
def spark_cfg(test_root: Path) -> Config:
    return load_config("test", [f"paths.root={test_root}"])


@pytest.fixture(scope="session")
def spark(spark_cfg: Config) -> Iterator[SparkSession]:
    from ntl_spark.session import build_session

    session = build_session(spark_cfg, app_name="ntl-tests")
    yield session
    session.stop()


def make_config(root: Path, *overrides: str) -> Config:
    """The test configuration rooted at ``root`` with extra overrides."""
    return load_config("test", [f"paths.root={root}", *overrides])


def services_env(folder: Path | str | None = None) -> dict[str, str]:
    """What ``scripts/services.sh`` recorded for this checkout (``services.env``: ports, JDBC URL, HBase conf).

    Each checkout has its own ports, so tests and jobs take them from here
    rather than from ``conf/``. Empty before the servers were first started.
    ``folder``: another services folder (default ``$NTL_SERVICES_DIR`` or ``var``).
    """
    folder = Path(folder if folder is not None else os.environ.get("NTL_SERVICES_DIR", "var"))
    path = (folder if folder.is_absolute() else REPO / folder) / "services.env"
    if not path.exists():
        return {}
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line and not line.startswith("#"))
    return {k.strip(): v.strip() for k, v in pairs}


def service_overrides(env: dict[str, str]) -> list[str]:
    """``--set`` overrides pointing ``hbase`` and ``jdbc`` at the servers of ``services_env()``."""
    return [
        f"hbase.host={env['NTL_SERVICES_HOST']}",
        f"hbase.port={env['NTL_HBASE_THRIFT_PORT']}",
        f"jdbc.url={env['NTL_JDBC_URL']}",
    ]


def start_services(what: str) -> dict[str, str]:
    """``scripts/services.sh start <what>`` (idempotent), HBase's admin tool pointed at this checkout's
    jars and hbase-site.xml (hbase.create_table runs it); the services' environment (``services_env``).

    A failure to start raises with the script's output.
    """
    done = subprocess.run([str(SERVICES), "start", what], capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"scripts/services.sh start {what} failed ({done.returncode}):\n{done.stdout}\n"
                           f"{done.stderr}")
    env = services_env()
    os.environ.setdefault("NTL_HBASE_CONF", env["NTL_HBASE_CONF"])
    os.environ.setdefault("NTL_HBASE_LIB", env["NTL_HBASE_LIB"])
    return env


@pytest.fixture(scope="session")
def services(test_root: Path) -> Config:
    """Start HBase and PostgreSQL (idempotent); the test configuration pointing at them.

    A failure to start errors the tests with the script's output.
    """
    env = start_services("all")
    os.environ.setdefault("NTL_JDBC_PASSWORD", "ntl")
    return make_config(test_root / "services", *service_overrides(env))
