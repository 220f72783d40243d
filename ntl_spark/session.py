"""SparkSession factory: one place that turns ``Config.spark`` into a session.

Delta and the JDBC drivers come from jars resolved by ``scripts/fetch-jars.sh``
into ``spark.jars_dir`` (never from the internet at run time), so a cluster
without internet access starts sessions the same way.
"""

from __future__ import annotations

import glob
import logging
import os
import sys
from pathlib import Path

from pyspark.sql import SparkSession

from ntl_spark.config import Config
from ntl_spark.errors import MissingInputError

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
if not REPO_ROOT.is_dir():
    # imported from the package zip (--py-files, ahead of the checkout on a client-mode driver's
    # path): spark-submit.sh runs from the checkout
    REPO_ROOT = Path.cwd()
# Spark's JVM logging for the jobs (WARN and up, known noise off): handed to every driver and executor.
LOG4J = REPO_ROOT / "conf" / "log4j2.properties"


def jar_paths(jars_dir: str) -> list[str]:
    """The jars to hand to Spark, or a clear error when they were never fetched.

    Raises:
        FileNotFoundError: no Delta jar in ``jars_dir``.
    """
    folder = Path(jars_dir)
    if not folder.is_absolute():
        folder = REPO_ROOT / folder
    jars = sorted(glob.glob(str(folder / "*.jar")))
    if not any(Path(j).name.startswith("delta-spark_") for j in jars):
        raise MissingInputError(
            f"no Delta jar in {folder}: run scripts/fetch-jars.sh (spark.jars_dir={jars_dir!r})"
        )
    return jars


def driver_java_options(cfg: Config, log4j: str | None, derby: bool) -> str:
    """The driver JVM's options: Oracle JDBC's time zone handling, the log4j2 configuration (``log4j``: a
    ``file:`` URI or a name in the working directory; None = Spark's default) and, when ``derby`` and the
    embedded metastore is used (:func:`local_metastore`), Derby's home beside ``paths.metastore``."""
    opts = ["-Doracle.jdbc.timezoneAsRegion=false"]
    if log4j:
        opts.append(f"-Dlog4j2.configurationFile={log4j}")
    if derby and local_metastore(cfg):
        opts.append(f"-Dderby.system.home={cfg.paths.resolve('metastore')}_derby")
    return " ".join(opts)


def local_metastore(cfg: Config) -> bool:
    """Whether the embedded Derby metastore is used: local mode, or any master with a local ``paths.metastore``.

    A standalone cluster's driver runs on the submitting machine (client mode), so a
    local metastore folder works there too; on YARN ``paths.metastore`` resolves under
    an ``hdfs://`` root and the cluster's Hive metastore is used instead.
    """
    metastore = cfg.paths.resolve("metastore")
    return cfg.spark.master.startswith("local") or "://" not in metastore or metastore.startswith("file://")


def executor_env_conf(cfg: Config, cluster_driver: bool = False) -> dict[str, str]:
    """``spark.env`` as Spark properties: ``spark.executorEnv.*`` for the executors and their
    Python workers (local mode too: PySpark hands them to the workers it starts), and with
    ``cluster_driver`` ``spark.yarn.appMasterEnv.*`` for a driver that YARN starts in a container.
    """
    out = {f"spark.executorEnv.{k}": str(v) for k, v in cfg.spark.env.items()}
    if cluster_driver:
        out.update({f"spark.yarn.appMasterEnv.{k}": str(v) for k, v in cfg.spark.env.items()})
    return out


def apply_driver_env(cfg: Config) -> None:
    """Set ``spark.env`` in this (driver) process's environment.

    The configured value wins over one inherited from the shell (``--set spark.env.NAME=value``
    changes it). Called before the JVM and native libraries start: OpenMP reads
    ``OMP_WAIT_POLICY`` once, when xgboost's library loads (the stages import xgboost lazily).
    """
    for key, value in cfg.spark.env.items():
        os.environ[key] = str(value)


def build_session(cfg: Config, app_name: str | None = None) -> SparkSession:
    """Create (or reuse) the SparkSession for a job.

    Args:
        cfg: loaded configuration.
        app_name: overrides ``cfg.spark.app_name``.

    Returns:
        A session with Delta, Arrow and the embedded (or cluster) Hive metastore.
    """
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    # Python workers must run the interpreter that holds the pinned packages.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYARROW_IGNORE_TIMEZONE", "1")
    apply_driver_env(cfg)
    sc = cfg.spark
    # empty jars_dir: the jars come with spark-submit (--jars, a cluster's classpath), not from a local folder;
    # a cluster-mode driver runs in a container, where they came with --jars too (ntl_spark.submit)
    jars = jar_paths(sc.jars_dir) if sc.jars_dir and sc.deploy_mode != "cluster" else []
    metastore = cfg.paths.resolve("metastore")
    warehouse = cfg.paths.resolve("warehouse")
    builder = (
        SparkSession.builder.master(sc.master)
        .appName(app_name or sc.app_name)
        .config("spark.sql.extensions", "io.delta.sql.DeltaSparkSessionExtension")
        .config("spark.sql.catalog.spark_catalog", "org.apache.spark.sql.delta.catalog.DeltaCatalog")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.execution.arrow.pyspark.fallback.enabled", "false")
        .config("spark.sql.shuffle.partitions", str(sc.shuffle_partitions))
        .config("spark.driver.memory", sc.driver_memory)
        .config("spark.sql.session.timeZone", "America/Montevideo")
        # Text that does not match a datetime pattern is null (and quarantined), instead of the
        # SparkUpgradeException Spark 3 raises when its pre-3.0 parser would have read it.
        .config("spark.sql.legacy.timeParserPolicy", "CORRECTED")
        .config("spark.sql.warehouse.dir", warehouse)
        .config("spark.databricks.delta.schema.autoMerge.enabled", "false")
        .config("spark.sql.sources.partitionOverwriteMode", "dynamic")
    )
    if local_metastore(cfg):
        # the embedded Hive metastore (Derby) in the driver, at paths.metastore; a cluster whose
        # paths.metastore is a URI (paths.root on HDFS) uses its own metastore (hive-site.xml)
        builder = (
            builder.config("spark.sql.catalogImplementation", "hive")
            .config("spark.hadoop.javax.jdo.option.ConnectionURL", f"jdbc:derby:;databaseName={metastore};create=true")
        )
    # Options of a driver JVM this process starts itself (jobs that build their session after other work,
    # e.g. demo and simulate, run without spark-submit.sh's options): the same as ntl_spark.submit gives.
    # Under spark-submit the JVM runs already with them.
    log4j = f"file:{LOG4J}" if LOG4J.is_file() else None
    builder = builder.config("spark.driver.extraJavaOptions", driver_java_options(cfg, log4j, derby=True))
    if sc.master.startswith("local"):
        builder = builder.config("spark.ui.showConsoleProgress", "false")
    if jars:
        builder = builder.config("spark.jars", ",".join(jars))
    # spark.conf comes last: an explicit spark.executorEnv.* there wins over spark.env
    for key, value in {**executor_env_conf(cfg), **sc.conf}.items():
        builder = builder.config(key, value)
    spark = builder.enableHiveSupport().getOrCreate()
    spark.sparkContext.setLogLevel(sc.log_level)
    daemon_barrier_timer(spark)
    return spark


def daemon_barrier_timer(spark: SparkSession) -> bool:
    """Make Spark's barrier-task timer a daemon thread, so that the driver JVM can exit.

    xgboost.spark trains in a barrier stage. In Spark 3.5, ``BarrierTaskContext``
    holds a non-daemon ``java.util.Timer`` ("Barrier task timer for barrier()
    calls.") that nothing stops; in local mode it lives in the driver JVM,
    which then never exits after ``spark-submit`` (SPARK-49479; Spark 4 makes
    it a daemon). The timer is replaced by a daemon one of the same name, so
    barrier stages keep working. Executors of a cluster are stopped by their
    manager either way.

    Returns:
        Whether the timer was replaced (False on a Spark whose layout differs: nothing to do).
    """
    try:
        jvm = spark.sparkContext._jvm
        if jvm is None:
            return False
        cls = jvm.java.lang.Class.forName("org.apache.spark.BarrierTaskContext$")
        module = cls.getField("MODULE$").get(None)
        replaced = False
        for field in cls.getDeclaredFields():
            if field.getType().getName() == "java.util.Timer":
                field.setAccessible(True)
                old = field.get(module)
                field.set(module, jvm.java.util.Timer("Barrier task timer for barrier() calls.", True))
                old.cancel()
                replaced = True
        return replaced
    except Exception as e:  # noqa: BLE001 - another Spark layout: keep Spark's own timer
        log.debug("barrier timer left as it is: %s", e)
        return False
