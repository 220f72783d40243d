"""Kerberos: the ingest job reads a Kerberos-secured HBase through the hbase-spark connector.

Real parts only: an MIT KDC (Debian ``krb5-kdc``) and a standalone HBase whose
RPC requires SASL/GSSAPI, both started by ``scripts/services.sh`` with
``NTL_HBASE_KERBEROS=1`` in a services folder of their own (``var/kerberos``,
ports beside the suite's plain HBase). Readings are loaded through the secure
cluster's Thrift1 gateway (it logs in with HBase's keytab and serves plain
Thrift, as an unsecured loading gateway would). The ingest job then runs alone
through ``./spark-submit.sh``, as on a gateway host of a secured cluster:
``spark.kerberos.principal``/``keytab`` in ``spark.conf``, the connector jars
(``scripts/fetch-jars.sh hbase-spark``) and the client ``hbase-site.xml`` /
``core-site.xml`` on the driver's classpath, ``java.security.krb5.conf`` in
``SPARK_SUBMIT_OPTS``.

Checked: the job's Delta table holds exactly the readings in HBase; the KDC
issued the job's principal a ticket for HBase's service principal (its own
log, not the job's word); the same job without a Kerberos login fails with an
error that says what it lacks, and writes nothing.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow.dataset as ds
import pytest
from deltalake import DeltaTable

from ntl_spark import generate
from ntl_spark.io import hbase
from tests.conftest import REPO, SERVICES, make_config, services_env

pytestmark = [pytest.mark.services, pytest.mark.integration]

SECURE_DIR = REPO / "var" / "kerberos"
CONNECTOR_JARS = REPO / "var" / "jars-hbase-spark"
PERIOD = ("2026-09-28", "2026-09-30")  # the generated readings' days
SESSION_ZONE = "America/Montevideo"  # spark.sql.session.timeZone of every job (ntl_spark.session)


@pytest.fixture(scope="module")
def secure() -> Iterator[dict[str, str]]:
    """KDC + Kerberos-secured HBase (and its plain Thrift gateway); their services.env. Stopped at the end."""
    if shutil.which("krb5kdc") is None:
        pytest.skip("krb5kdc not installed (Debian krb5-kdc, krb5-admin-server, krb5-user; "
                    "scripts/bootstrap.sh installs them when run as root)")
    if not list(CONNECTOR_JARS.glob("hbase-spark-*.jar")):
        subprocess.run([str(REPO / "scripts" / "fetch-jars.sh"), "hbase-spark"], cwd=REPO, check=True,
                       capture_output=True, timeout=900)
    env = {**os.environ, "NTL_SERVICES_DIR": str(SECURE_DIR), "NTL_HBASE_KERBEROS": "1",
           # the jars the suite's HBase resolved (scripts/services.sh start hbase)
           "NTL_HBASE_LIB": services_env()["NTL_HBASE_LIB"]}
    env.pop("NTL_HBASE_CONF", None)  # the suite's plain HBase, not this one
    done = subprocess.run([str(SERVICES), "start", "hbase"], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"secure HBase did not start:\n{done.stdout}\n{done.stderr}"
    try:
        yield services_env(SECURE_DIR)
    finally:
        subprocess.run([str(SERVICES), "stop", "hbase"], env=env, capture_output=True, timeout=300)


@pytest.fixture(scope="module")
def loaded(secure: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> tuple[str, pd.DataFrame]:
    """Three days of generated readings (~20 meters) in a table of the secure HBase; (table, the rows)."""
    root = tmp_path_factory.mktemp("kerberos_raw")
    cfg = make_config(root, "generate.customers=60", "generate.months=14", "generate.reading_days=3",
                      "generate.end_month=2026-09-01")
    generate.run(cfg)
    readings = ds.dataset(root / "raw" / "readings", format="parquet").to_table().to_pandas()
    hb = dataclasses.replace(cfg.hbase, host=secure["NTL_SERVICES_HOST"],
                             port=int(secure["NTL_HBASE_THRIFT_PORT"]), table=f"t_krb_{uuid.uuid4().hex[:8]}")
    hbase.create_table(hb, regions=1, replace=True)  # through the gateway (Thrift1 cannot pass split keys)
    hbase.write_readings(hb, readings)
    return hb.table, readings


def _ingest(secure: dict[str, str], table: str, root: Path, *extra: str,
            client_conf: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``./spark-submit.sh ingest`` of the readings through the connector; ``extra``: more --set pairs."""
    conf = client_conf or Path(secure["NTL_HBASE_CLIENT_CONF"])
    args = [str(REPO / "spark-submit.sh"), "ingest", "--env", "test"]
    for kv in (f"paths.root={root}", "ingest.source=hbase", "ingest.tables=[readings]",
               f"ingest.period_start={PERIOD[0]}", f"ingest.period_end={PERIOD[1]}",
               "hbase.reader=connector", f"hbase.table={table}",
               f"hbase.zookeeper_quorum={secure['NTL_SERVICES_HOST']}:{secure['NTL_HBASE_ZK_PORT']}",
               # a gateway host's /etc/hbase/conf and /etc/hadoop/conf, and the connector's jars
               f"spark.conf.spark.driver.extraClassPath={conf}:{CONNECTOR_JARS}/*", *extra):
        args += ["--set", kv]
    env = {k: v for k, v in os.environ.items() if k not in ("NTL_SERVICES_DIR", "NTL_HBASE_KERBEROS")}
    env["SPARK_SUBMIT_OPTS"] = f"-Djava.security.krb5.conf={secure['NTL_KRB5_CONF']}"
    return subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)


def _kdc_issued(secure: dict[str, str]) -> int:
    """Service tickets the KDC issued to the jobs' principal for HBase (lines of its own log)."""
    log = Path(secure["NTL_KRB5_CONF"]).parent / "kdc.log"
    pattern = re.compile(rf"ISSUE: .* {re.escape(secure['NTL_KRB5_PRINCIPAL'])} for hbase/")
    return sum(1 for line in log.read_text(errors="replace").splitlines() if pattern.search(line))


def test_ingest_reads_the_secure_hbase_with_the_jobs_kerberos_login(secure, loaded, tmp_path):  # noqa: ANN001
    table, readings = loaded
    tickets_before = _kdc_issued(secure)
    done = _ingest(secure, table, tmp_path,
                   f"spark.conf.spark.kerberos.principal={secure['NTL_KRB5_PRINCIPAL']}",
                   f"spark.conf.spark.kerberos.keytab={secure['NTL_KRB5_KEYTAB']}")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert _kdc_issued(secure) > tickets_before, "the KDC issued no HBase service ticket to the job's principal"

    got = DeltaTable(str(tmp_path / "lakehouse" / "readings")).to_pandas()[["meter_id", "ts", "kwh"]]
    # Delta stores instants; the source's ts is wall-clock time of the jobs' session time zone
    got["ts"] = pd.to_datetime(got["ts"], utc=True).dt.tz_convert(SESSION_ZONE).dt.tz_localize(None)
    # the connector returns an explicit null value like a missing cell: both are "missing" in the contract
    want = readings.dropna(subset=["kwh"])[["meter_id", "ts", "kwh"]]
    key = ["meter_id", "ts"]
    got = got.sort_values(key).reset_index(drop=True)
    want = want.sort_values(key).reset_index(drop=True)
    assert len(got) == len(want) > 4000
    assert (got["meter_id"] == want["meter_id"]).all()
    assert (got["ts"] == want["ts"]).all()
    assert (got["kwh"] - want["kwh"]).abs().max() < 1e-9


def test_without_a_kerberos_login_the_job_fails_saying_what_it_lacks(secure, loaded, tmp_path):  # noqa: ANN001
    table, _ = loaded
    server_site = (Path(secure["NTL_HBASE_CONF"]) / "hbase-site.xml").read_text()
    assert "<name>hbase.security.authentication</name><value>kerberos</value>" in server_site
    # the gateway's client settings, with few retries: the refusal comes in seconds, not minutes
    conf = tmp_path / "client-conf"
    shutil.copytree(secure["NTL_HBASE_CLIENT_CONF"], conf)
    site = conf / "hbase-site.xml"
    site.write_text(site.read_text().replace(
        "</configuration>",
        "  <property><name>hbase.client.retries.number</name><value>2</value></property>\n</configuration>"))
    done = _ingest(secure, table, tmp_path / "root", client_conf=conf)
    out = done.stdout + done.stderr
    assert done.returncode != 0
    assert "no Kerberos credentials" in out and "spark.kerberos.principal" in out, out[-4000:]
    assert not (tmp_path / "root" / "lakehouse" / "readings").exists()

