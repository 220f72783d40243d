"""Turn the configuration into spark-submit options (used by ``spark-submit.sh``).

Prints one argument per line. The configuration is loaded and validated
here, so a bad key or value fails before any JVM starts.

    python -m ntl_spark.submit <job> [--env ENV] [--set key=value ...]
"""

from __future__ import annotations

import hashlib
import io
import os
import sys
import zipfile
from pathlib import Path

from ntl_spark.cli import parse_args
from ntl_spark.config import Config, ConfigError, load_config
from ntl_spark.session import LOG4J, REPO_ROOT, driver_java_options, executor_env_conf, jar_paths


def _zip_bytes() -> bytes:
    """The ``ntl_spark`` package as zip bytes; the same sources give the same bytes (fixed timestamps)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in sorted((REPO_ROOT / "ntl_spark").rglob("*.py")):
            info = zipfile.ZipInfo(f.relative_to(REPO_ROOT).as_posix(), date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, f.read_bytes())
    return buf.getvalue()


def _write_atomically(dest: Path, data: bytes) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, dest)


def package_zip(dest: Path) -> Path:
    """Zip the ``ntl_spark`` package for executors on a cluster (``--py-files``) into ``dest``."""
    _write_atomically(dest, _zip_bytes())
    return dest


def versioned_package_zip(folder: Path) -> Path:
    """The package zip named by its content (``ntl_spark-<hash>.zip`` in ``folder``), written once.

    A running driver imports from its ``--py-files`` zip lazily, reopening the
    file by name: rewriting one shared zip under a job that is still running
    (another job submitted from the same checkout) breaks its imports
    ("bad local file header"). A zip per content is never rewritten.
    """
    data = _zip_bytes()
    dest = folder / f"ntl_spark-{hashlib.sha256(data).hexdigest()[:16]}.zip"
    if not dest.exists():
        _write_atomically(dest, data)
    return dest


def shipped_files(cfg: Config) -> list[Path]:
    """Files that travel with the job (``--files``), localized in the working directory of each container.

    Always the log4j2 configuration (executors read it from their working
    directory). In cluster deploy mode the driver runs in a container too, away
    from this checkout: the YAML layers go with it (``base.yaml`` and the
    environment's layer), and ``ntl_spark.config`` reads them from the working
    directory there.
    """
    conf = REPO_ROOT / "conf"
    files = [LOG4J]
    if cfg.spark.deploy_mode == "cluster":
        files += [conf / "base.yaml", conf / f"{cfg.env}.yaml"]
    return files


def submit_args(cfg: Config, job: str, python: str | None = None) -> list[str]:
    """spark-submit options for ``job`` under ``cfg``.

    Args:
        cfg: loaded configuration.
        job: the job's name (``jobs/<job>.py``).
        python: the interpreter of a client-mode driver (default: this one, the checkout's ``.venv``).
    """
    sc = cfg.spark
    files = shipped_files(cfg)
    log4j = files[0]
    cluster = sc.deploy_mode == "cluster"
    # a cluster-mode driver's container has the file in its working directory, like an executor
    driver_opts = driver_java_options(cfg, log4j.name if cluster else f"file:{log4j}", derby=not cluster)
    args = [
        "--master", sc.master,
        "--deploy-mode", sc.deploy_mode,
        "--name", f"ntl-{job}",
        "--driver-memory", sc.driver_memory,
        "--conf", f"spark.driver.extraJavaOptions={driver_opts}",
        # executors find the file in their working directory (shipped with --files)
        "--conf", "spark.executor.extraJavaOptions=-Doracle.jdbc.timezoneAsRegion=false "
        "-Dlog4j2.configurationFile=log4j2.properties",
        "--files", ",".join(str(f) for f in files),
    ]
    if sc.jars_dir:  # empty: the cluster provides the jars (e.g. --jars in an Oozie action's spark-opts)
        # spark-submit uploads them (cluster mode: into the driver's container too); the driver
        # then takes them from spark.jars, not from jars_dir (ntl_spark.session.build_session)
        args += ["--jars", ",".join(jar_paths(sc.jars_dir))]
    if not sc.master.startswith("local"):
        args += ["--py-files", str(versioned_package_zip(REPO_ROOT / "var" / "dist" / "py-files"))]
    # spark.env for the executors (and a cluster-mode driver's container); a client-mode driver
    # sets it in its own process (ntl_spark.session.build_session). spark.conf wins over it.
    conf = {**executor_env_conf(cfg, cluster_driver=cluster), **sc.conf}
    # spark.pyspark.python (an interpreter inside spark.archives, ./env/bin/python) also takes
    # precedence over PYSPARK_DRIVER_PYTHON: a client-mode driver runs here, from this checkout's
    # interpreter, where no ./env exists. In cluster mode the driver runs from the archive too.
    if not cluster and "spark.pyspark.python" in conf and "spark.pyspark.driver.python" not in conf:
        conf["spark.pyspark.driver.python"] = python or sys.executable
    for key, value in conf.items():
        args += ["--conf", f"{key}={value}"]
    return args


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python -m ntl_spark.submit <job> [--env ENV] [--set key=value ...]", file=sys.stderr)
        return 2
    job, rest = argv[0], argv[1:]
    args = parse_args(job, "", rest)
    try:
        cfg = load_config(args.env, args.overrides)
        out = submit_args(cfg, job)
    except (ConfigError, FileNotFoundError) as e:
        print(f"[{job}] configuration error: {e}", file=sys.stderr)
        return 2
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
