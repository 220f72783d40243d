"""Layered, typed configuration.

``conf/base.yaml`` is shared by every environment; ``conf/<env>.yaml`` sits on
top of it; ``--set section.key=value`` overrides sit on top of both. The merged
mapping is loaded into frozen dataclasses and validated before Spark starts:
an unknown key or a value of the wrong type or range fails with a
``ConfigError`` naming the key.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from ntl_spark.errors import ConfigError

CONF_DIR = Path(__file__).resolve().parent.parent / "conf"


# --------------------------------------------------------------------- sections
@dataclasses.dataclass(frozen=True)
class SparkConf:
    master: str = "local[2]"
    app_name: str = "ntl-spark"
    deploy_mode: str = "client"
    shuffle_partitions: int = 8
    driver_memory: str = "4g"
    jars_dir: str = "var/jars"  # relative to the repository root
    log_level: str = "WARN"
    conf: dict[str, str] = dataclasses.field(default_factory=dict)

    def validate(self) -> None:
        _check(self.shuffle_partitions > 0, "spark.shuffle_partitions", self.shuffle_partitions, "must be > 0")
        _check(self.deploy_mode in ("client", "cluster"), "spark.deploy_mode", self.deploy_mode,
               "must be client or cluster")


@dataclasses.dataclass(frozen=True)
class PathsConf:
    """Where things live. Relative entries are taken under ``root``.

    ``root`` itself may be a local folder (relative to the working directory)
    or a URI (``hdfs:///data/ntl``) on a cluster.
    """

    root: str = "var"
    raw: str = "raw"
    lakehouse: str = "lakehouse"
    warehouse: str = "warehouse"
    metastore: str = "metastore_db"
    reports: str = "reports"
    checkpoints: str = "checkpoints"

    def resolve(self, name: str) -> str:
        """Absolute location of the path entry ``name`` (``raw``, ``lakehouse`` ...)."""
        return join_path(self.root_uri, getattr(self, name))

    @property
    def root_uri(self) -> str:
        if "://" in self.root:
            return self.root
        return str(Path(self.root).resolve())

    def table(self, name: str) -> str:
        """Location of the Delta table ``name`` under the lakehouse."""
        return join_path(self.resolve("lakehouse"), name)


def join_path(base: str, rel: str) -> str:
    """Join ``rel`` under ``base`` unless ``rel`` is absolute or a URI."""
    if "://" in rel or rel.startswith("/"):
        return rel
    return f"{base.rstrip('/')}/{rel}"


@dataclasses.dataclass(frozen=True)
class MlflowConf:
    """MLflow tracking and registry; empty URIs mean SQLite under ``paths.root``."""

    tracking_uri: str = ""
    registry_uri: str = ""
    artifact_root: str = "mlartifacts"
    experiment: str = "ntl-daice"


@dataclasses.dataclass(frozen=True)
class FraudConf:
    """Share of customers that start to steal and the mix of attack models."""

    rate: float = 0.08
    # Relative weights of the attack models (normalised by the generator).
    attacks: dict[str, float] = dataclasses.field(
        default_factory=lambda: {
            "h1": 1.0, "h2": 1.0, "h3": 1.0, "h4": 0.5, "h5": 0.5, "h6": 0.3,
            "fdi1": 1.0, "fdi2": 0.7, "fdi3": 0.7, "fdi4": 0.7, "fdi5": 0.7, "fdi6": 0.5,
        }
    )

    def validate(self) -> None:
        _check(0.0 <= self.rate < 1.0, "generate.fraud.rate", self.rate, "must be in [0, 1)")
        known = {f"h{i}" for i in range(1, 7)} | {f"fdi{i}" for i in range(1, 7)}
        for key, weight in self.attacks.items():
            _check(key in known, f"generate.fraud.attacks.{key}", key, f"unknown attack; known: {sorted(known)}")
            _check(weight >= 0, f"generate.fraud.attacks.{key}", weight, "weight must be >= 0")
        _check(sum(self.attacks.values()) > 0, "generate.fraud.attacks", self.attacks, "all weights are zero")


@dataclasses.dataclass(frozen=True)
class GenerateConf:
    seed: int = 42
    customers: int = 5000
    months: int = 40
    end_month: str = "2026-09-01"
    smart_meter_share: float = 0.3
    max_smart_meters: int = 100_000
    reading_days: int = 100
    format: str = "parquet"
    output: str = ""  # empty = paths.raw
    inspections_per_year: float = 0.12
    irregular_target: float = 0.09
    no_access_rate: float = 0.06
    label_noise: float = 0.03
    fraud: FraudConf = dataclasses.field(default_factory=FraudConf)

    def validate(self) -> None:
        _check(self.customers >= 10, "generate.customers", self.customers, "must be >= 10")
        _check(self.months >= 2, "generate.months", self.months, "must be >= 2")
        _check(self.format in ("csv", "parquet", "hdf5"), "generate.format", self.format,
               "must be csv, parquet or hdf5")
        _check(0.0 <= self.smart_meter_share <= 1.0, "generate.smart_meter_share", self.smart_meter_share,
               "must be in [0, 1]")
        _check(self.reading_days >= 0, "generate.reading_days", self.reading_days, "must be >= 0")
        _parse_month("generate.end_month", self.end_month)
        for key in ("no_access_rate", "label_noise", "irregular_target", "inspections_per_year"):
            value = getattr(self, key)
            _check(0.0 <= value <= 1.0, f"generate.{key}", value, "must be in [0, 1]")
        self.fraud.validate()


@dataclasses.dataclass(frozen=True)
class IngestConf:
    source: str = "files"
    format: str = "parquet"
    input: str = ""  # empty = paths.raw
    tables: list[str] = dataclasses.field(
        default_factory=lambda: ["customers", "bills", "readings", "events", "inspections"]
    )
    # Optional period window (inclusive, YYYY-MM-DD); empty = the whole source.
    period_start: str = ""
    period_end: str = ""
    # Source column name -> contract name, per table.
    rename: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict)
    csv_timestamp_format: str = "yyyy-MM-dd HH:mm:ss"
    max_kwh_per_bill: float = 1_000_000.0
    max_kwh_per_interval: float = 1_000.0

    def validate(self) -> None:
        from ntl_spark import schemas

        _check(self.source in ("files", "jdbc", "hbase"), "ingest.source", self.source,
               "must be files, jdbc or hbase")
        _check(self.format in ("csv", "parquet", "hdf5"), "ingest.format", self.format,
               "must be csv, parquet or hdf5")
        for table in self.tables:
            _check(table in schemas.SOURCE_TABLES, "ingest.tables", table,
                   f"unknown table; known: {list(schemas.SOURCE_TABLES)}")
        for key in ("period_start", "period_end"):
            if getattr(self, key):
                _parse_date(f"ingest.{key}", getattr(self, key))


@dataclasses.dataclass(frozen=True)
class HbaseConf:
    """Smart-meter readings and alarms in HBase (Thrift1, happybase)."""

    host: str = "127.0.0.1"
    port: int = 9090
    table: str = "readings"
    key_pattern: str = "{meter_id}|{yyyymmdd}"
    readings_family: str = "q"
    events_family: str = "e"
    intervals_per_day: int = 96
    value_encoding: str = "string"  # string (decimal text) or double (8-byte big-endian IEEE-754)
    timeout_ms: int = 60000
    batch_size: int = 500
    tasks_per_region: int = 1
    retries: int = 3
    retry_backoff_s: float = 1.0
    # happybase (Thrift1, no Kerberos) or connector (the hbase-spark connector,
    # format org.apache.hadoop.hbase.spark: the path for a kerberized cluster).
    reader: str = "happybase"
    connector_format: str = "org.apache.hadoop.hbase.spark"
    zookeeper_quorum: str = ""  # connector only; empty = hbase-site.xml on the classpath
    presplit_regions: int = 8  # regions a new table is pre-split into (by meter id range)

    def validate(self) -> None:
        _check(self.value_encoding in ("string", "double"), "hbase.value_encoding", self.value_encoding,
               "must be string or double")
        _check(self.reader in ("happybase", "connector"), "hbase.reader", self.reader,
               "must be happybase or connector")
        _check("{meter_id}" in self.key_pattern and "{yyyymmdd}" in self.key_pattern, "hbase.key_pattern",
               self.key_pattern, "must contain {meter_id} and {yyyymmdd}")
        _check(self.retries >= 0, "hbase.retries", self.retries, "must be >= 0")
        _check(self.presplit_regions >= 1, "hbase.presplit_regions", self.presplit_regions, "must be >= 1")
        _check(self.intervals_per_day in (24, 48, 96, 144, 288), "hbase.intervals_per_day",
               self.intervals_per_day, "must divide a day into whole minutes (24, 48, 96, 144, 288)")
        _check(self.tasks_per_region >= 1, "hbase.tasks_per_region", self.tasks_per_region, "must be >= 1")


@dataclasses.dataclass(frozen=True)
class JdbcConf:
    """Bills, customers and inspections from a relational database (Oracle in production)."""

    url: str = "jdbc:postgresql://127.0.0.1:5432/ntl"
    driver: str = "org.postgresql.Driver"
    user: str = "ntl"
    password_env: str = "NTL_JDBC_PASSWORD"
    password_file: str = ""
    fetchsize: int = 10000
    num_partitions: int = 4
    session_init: str = ""
    # Contract table -> source table name, "(select ...) t" or table function call.
    tables: dict[str, str] = dataclasses.field(
        default_factory=lambda: {"customers": "customers", "bills": "bills", "inspections": "inspections"}
    )
    # Contract table -> column used to split the read into partitions.
    partition_columns: dict[str, str] = dataclasses.field(default_factory=dict)
    custom_schema: dict[str, str] = dataclasses.field(default_factory=dict)
    # SQL expression giving a partition number in [0, n) for a non-numeric
    # partition column; empty = by dialect (Oracle ora_hash, PostgreSQL hashtext).
    hash_template: str = ""

    def validate(self) -> None:
        _check(self.fetchsize > 0, "jdbc.fetchsize", self.fetchsize, "must be > 0")
        if self.hash_template:
            _check("{column}" in self.hash_template and "{n}" in self.hash_template, "jdbc.hash_template",
                   self.hash_template, "must contain {column} and {n}")
        _check(self.num_partitions >= 1, "jdbc.num_partitions", self.num_partitions, "must be >= 1")


@dataclasses.dataclass(frozen=True)
class WindowsConf:
    """DeepDAICE input windows: days x intervals_per_day per meter and end date."""

    days: int = 90
    intervals_per_day: int = 96
    # Last day of the scoring windows; empty = the day before score.scored_on
    # when that is set, else the last day present in the readings table.
    scoring_end: str = ""
    min_coverage: float = 0.5
    # Build training windows (one per labelled inspection) in the same run.
    training: bool = True
    # Windows per Arrow batch while windows are assembled (a batch holds their day rows).
    batch_rows: int = 256
    # Readings per Arrow batch while readings are pivoted into readings_daily.
    pivot_batch_rows: int = 1_000_000
    # How the pivot reads the readings table: "auto" = its Parquet files with
    # pyarrow in the tasks when the table allows it (windows.direct_files),
    # "spark" = always as Spark rows.
    pivot_reader: str = "auto"

    def validate(self) -> None:
        _check(1 <= self.days <= 366, "windows.days", self.days, "must be in [1, 366]")
        _check(self.intervals_per_day in (24, 48, 96, 144, 288), "windows.intervals_per_day",
               self.intervals_per_day, "must be 24, 48, 96, 144 or 288")
        _check(0.0 <= self.min_coverage <= 1.0, "windows.min_coverage", self.min_coverage, "must be in [0, 1]")
        _check(self.batch_rows >= 1, "windows.batch_rows", self.batch_rows, "must be >= 1")
        _check(self.pivot_batch_rows >= 1, "windows.pivot_batch_rows", self.pivot_batch_rows, "must be >= 1")
        _check(self.pivot_reader in ("auto", "spark"), "windows.pivot_reader", self.pivot_reader,
               "must be auto or spark")
        if self.scoring_end:
            _parse_date("windows.scoring_end", self.scoring_end)


@dataclasses.dataclass(frozen=True)
class DeepConf:
    """DeepDAICE model (Keras) trained from the windows table through Petastorm."""

    enabled: bool = False  # run the DeepDAICE branch in the demo
    model_name: str = "DeepDAICE"
    architecture: str = "lstm"  # lstm, gru or conv1d
    units: int = 64
    epochs: int = 20
    batch_size: int = 64
    learning_rate: float = 0.001
    patience: int = 3
    validation_fraction: float = 0.2
    seed: int = 11
    alias: str = "candidate"
    register: bool = True
    model_ref: str = "candidate"  # scoring: alias or version of deep.model_name
    threshold: float = 0.5
    campaign_size: int = 200
    # Petastorm feed: reader threads, converter row group size, tf.data prefetch (0 = autotune).
    reader_workers: int = 2
    row_group_mb: int = 32
    prefetch: int = 0
    score_batch: int = 256  # windows per inference call in scoring

    def validate(self) -> None:
        _check(self.architecture in ("lstm", "gru", "conv1d"), "deep.architecture", self.architecture,
               "must be lstm, gru or conv1d")
        _check(self.epochs >= 1, "deep.epochs", self.epochs, "must be >= 1")
        _check(self.batch_size >= 1, "deep.batch_size", self.batch_size, "must be >= 1")
        _check(self.units >= 1, "deep.units", self.units, "must be >= 1")
        _check(0.0 < self.validation_fraction < 1.0, "deep.validation_fraction", self.validation_fraction,
               "must be in (0, 1)")
        _check(0.0 < self.threshold < 1.0, "deep.threshold", self.threshold, "must be in (0, 1)")
        _check(self.reader_workers >= 1, "deep.reader_workers", self.reader_workers, "must be >= 1")
        _check(self.row_group_mb >= 1, "deep.row_group_mb", self.row_group_mb, "must be >= 1")
        _check(self.score_batch >= 1, "deep.score_batch", self.score_batch, "must be >= 1")


@dataclasses.dataclass(frozen=True)
class FeaturesConf:
    months: int = 36
    reference_month: str = ""  # empty = the last billed month in the bills table
    min_history_months: int = 6
    label_lookback_months: int = 24

    def validate(self) -> None:
        _check(1 <= self.months <= 120, "features.months", self.months, "must be in [1, 120]")
        _check(self.min_history_months >= 1, "features.min_history_months", self.min_history_months, "must be >= 1")
        if self.reference_month:
            _parse_month("features.reference_month", self.reference_month)


@dataclasses.dataclass(frozen=True)
class TrainConf:
    model_name: str = "DAICE"
    test_fraction: float = 0.25
    seed: int = 7
    num_workers: int = 1
    # xgboost threads per training worker; 0 = local[N]: N // num_workers,
    # cluster: spark.task.cpus (xgboost.spark's own rule).
    threads_per_worker: int = 0
    # Rows per Arrow batch handed to each training worker (Spark's default is 10,000).
    arrow_batch_rows: int = 100_000
    campaign_size: int = 200
    threshold: float = 0.5
    register: bool = True
    alias: str = "candidate"
    params: dict[str, Any] = dataclasses.field(
        default_factory=lambda: {
            "n_estimators": 200, "max_depth": 6, "learning_rate": 0.1,
            "subsample": 0.8, "colsample_bytree": 0.8, "min_child_weight": 1.0,
        }
    )

    def validate(self) -> None:
        _check(0.0 < self.test_fraction < 1.0, "train.test_fraction", self.test_fraction, "must be in (0, 1)")
        _check(self.num_workers >= 1, "train.num_workers", self.num_workers, "must be >= 1")
        _check(self.threads_per_worker >= 0, "train.threads_per_worker", self.threads_per_worker, "must be >= 0")
        _check(self.arrow_batch_rows >= 1, "train.arrow_batch_rows", self.arrow_batch_rows, "must be >= 1")
        _check(self.campaign_size >= 1, "train.campaign_size", self.campaign_size, "must be >= 1")
        _check(0.0 < self.threshold < 1.0, "train.threshold", self.threshold, "must be in (0, 1)")


@dataclasses.dataclass(frozen=True)
class ScoreConf:
    model_name: str = "DAICE"
    model_ref: str = "candidate"  # an alias (champion, candidate ...) or a version number
    top_features: int = 3
    scored_on: str = ""  # empty = today
    arrow_batch_rows: int = 100_000  # rows per Arrow batch given to the model (Spark's default is 10,000)

    def validate(self) -> None:
        _check(0 <= self.top_features <= 20, "score.top_features", self.top_features, "must be in [0, 20]")
        _check(self.arrow_batch_rows >= 1, "score.arrow_batch_rows", self.arrow_batch_rows, "must be >= 1")
        if self.scored_on:
            _parse_date("score.scored_on", self.scored_on)


@dataclasses.dataclass(frozen=True)
class PublishConf:
    database: str = "ntl"
    table: str = "scores"
    path: str = ""  # empty = <paths.warehouse>/<database>.db/<table>
    partition_by: list[str] = dataclasses.field(default_factory=lambda: ["scored_on", "model_name"])


@dataclasses.dataclass(frozen=True)
class RuleConf:
    """One consistency rule on a lakehouse table (see docs/validation.md).

    Exactly one of ``check`` (a SQL condition every row must meet, or with
    ``group_by`` an aggregate condition every group must meet) and ``unique``
    (columns that must identify a row) is set.
    """

    name: str = ""
    table: str = ""
    level: str = "warn"  # warn or block
    check: str = ""
    unique: list[str] = dataclasses.field(default_factory=list)
    group_by: list[str] = dataclasses.field(default_factory=list)
    where: str = ""  # optional SQL filter: the rule sees only these rows
    max_share: float = 0.0  # offending share tolerated before the rule trips

    def validate(self, key: str) -> None:
        _check(bool(self.name), f"{key}.name", self.name, "every rule needs a name")
        _check(bool(self.table), f"{key}.table", self.table, "every rule needs a table")
        _check(self.level in ("warn", "block"), f"{key}.level", self.level, "must be warn or block")
        _check(bool(self.check) != bool(self.unique), f"{key}", self.name, "set exactly one of check or unique")
        _check(not (self.unique and self.group_by), f"{key}.group_by", self.group_by, "not used with unique")
        _check(0.0 <= self.max_share < 1.0, f"{key}.max_share", self.max_share, "must be in [0, 1)")


@dataclasses.dataclass(frozen=True)
class DriftConf:
    """Population stability index (PSI) thresholds between training and scoring data."""

    bins: int = 10
    psi_warn: float = 0.1
    psi_block: float = 0.25
    score_psi_warn: float = 0.1
    score_psi_block: float = 0.5
    label_rate_warn: float = 0.05  # absolute difference of the irregular share, train vs validation
    # What a PSI at or above the block threshold does on the scoring month: block (stop) or warn.
    action: str = "warn"
    features: list[str] = dataclasses.field(default_factory=list)  # empty = the model's feature columns
    exclude: list[str] = dataclasses.field(default_factory=list)

    def validate(self) -> None:
        _check(2 <= self.bins <= 100, "validation.drift.bins", self.bins, "must be in [2, 100]")
        _check(self.action in ("warn", "block"), "validation.drift.action", self.action, "must be warn or block")
        _check(0 < self.psi_warn <= self.psi_block, "validation.drift.psi_warn", self.psi_warn,
               "must be > 0 and <= validation.drift.psi_block")
        _check(0 < self.score_psi_warn <= self.score_psi_block, "validation.drift.score_psi_warn",
               self.score_psi_warn, "must be > 0 and <= validation.drift.score_psi_block")


@dataclasses.dataclass(frozen=True)
class BlessingConf:
    """When a challenger may replace the champion (alias ``champion_alias``)."""

    challenger: str = "candidate"  # alias or version of score.model_name
    champion_alias: str = "champion"
    max_pr_auc_drop: float = 0.02  # challenger may be at most this much worse than the champion
    max_precision_at_k_drop: float = 0.05
    min_pr_auc: float = 0.2  # floor for any challenger (the only test when there is no champion)
    block_on_score_drift: bool = False  # refuse when the score PSI (held-out vs scoring) is above block
    heatmap_bins: int = 20

    def validate(self) -> None:
        for key in ("max_pr_auc_drop", "max_precision_at_k_drop", "min_pr_auc"):
            value = getattr(self, key)
            _check(0.0 <= value <= 1.0, f"validation.blessing.{key}", value, "must be in [0, 1]")
        _check(2 <= self.heatmap_bins <= 200, "validation.blessing.heatmap_bins", self.heatmap_bins,
               "must be in [2, 200]")


@dataclasses.dataclass(frozen=True)
class SegmentsConf:
    """Evaluate-sets job: a registered model on segments of the labelled data."""

    model_ref: str = "candidate"
    columns: list[str] = dataclasses.field(default_factory=lambda: ["region", "tariff", "meter_type"])
    data: str = "test"  # test (held-out split of the training set) or all
    where: str = ""  # optional SQL filter, e.g. "region IN ('NORTE', 'SUR')"

    def validate(self) -> None:
        _check(self.data in ("test", "all"), "validation.segments.data", self.data, "must be test or all")
        _check(bool(self.columns), "validation.segments.columns", self.columns, "name at least one column")


@dataclasses.dataclass(frozen=True)
class ValidateConf:
    """Data and model validation gates (docs/validation.md)."""

    enabled: bool = True  # demo: run the gates before scoring
    experiment: str = ""  # empty = <mlflow.experiment>-validation
    report_dir: str = "validation"  # under paths.reports
    tables: list[str] = dataclasses.field(
        default_factory=lambda: ["customers", "bills", "readings", "events", "inspections",
                                 "monthly_features", "training_set"]
    )
    histogram_bins: int = 10
    sample_rows: int = 2_000_000  # statistics of a bigger table use a sample of about this many rows
    rules: list[RuleConf] = dataclasses.field(default_factory=list)
    drift: DriftConf = dataclasses.field(default_factory=DriftConf)
    blessing: BlessingConf = dataclasses.field(default_factory=BlessingConf)
    segments: SegmentsConf = dataclasses.field(default_factory=SegmentsConf)
    compare_runs: list[str] = dataclasses.field(default_factory=list)  # run ids; empty = the last compare_last
    compare_last: int = 5

    def validate(self) -> None:
        _check(2 <= self.histogram_bins <= 100, "validation.histogram_bins", self.histogram_bins, "must be in [2, 100]")
        _check(self.sample_rows >= 1000, "validation.sample_rows", self.sample_rows, "must be >= 1000")
        _check(self.compare_last >= 1, "validation.compare_last", self.compare_last, "must be >= 1")
        names = [r.name for r in self.rules]
        for i, rule in enumerate(self.rules):
            rule.validate(f"validation.rules[{i}]")
            _check(names.count(rule.name) == 1, f"validation.rules[{i}].name", rule.name, "rule names must be unique")
        self.drift.validate()
        self.blessing.validate()
        self.segments.validate()


@dataclasses.dataclass(frozen=True)
class Config:
    env: str = "local"
    spark: SparkConf = dataclasses.field(default_factory=SparkConf)
    paths: PathsConf = dataclasses.field(default_factory=PathsConf)
    mlflow: MlflowConf = dataclasses.field(default_factory=MlflowConf)
    generate: GenerateConf = dataclasses.field(default_factory=GenerateConf)
    ingest: IngestConf = dataclasses.field(default_factory=IngestConf)
    hbase: HbaseConf = dataclasses.field(default_factory=HbaseConf)
    jdbc: JdbcConf = dataclasses.field(default_factory=JdbcConf)
    windows: WindowsConf = dataclasses.field(default_factory=WindowsConf)
    deep: DeepConf = dataclasses.field(default_factory=DeepConf)
    features: FeaturesConf = dataclasses.field(default_factory=FeaturesConf)
    train: TrainConf = dataclasses.field(default_factory=TrainConf)
    score: ScoreConf = dataclasses.field(default_factory=ScoreConf)
    publish: PublishConf = dataclasses.field(default_factory=PublishConf)
    validation: ValidateConf = dataclasses.field(default_factory=ValidateConf)

    @property
    def tracking_uri(self) -> str:
        """MLflow tracking URI (SQLite file under ``paths.root`` unless set)."""
        if self.mlflow.tracking_uri:
            return self.mlflow.tracking_uri
        return f"sqlite:///{self.paths.root_uri}/mlflow.db"

    @property
    def registry_uri(self) -> str:
        return self.mlflow.registry_uri or self.tracking_uri

    @property
    def artifact_location(self) -> str:
        return join_path(self.paths.root_uri, self.mlflow.artifact_root)

    @property
    def raw_dir(self) -> str:
        """Where generated / landed source files are read and written."""
        return self.ingest.input or self.generate.output or self.paths.resolve("raw")

    @property
    def publish_path(self) -> str:
        return self.publish.path or join_path(
            self.paths.resolve("warehouse"), f"{self.publish.database}.db/{self.publish.table}"
        )

    def validate(self) -> None:
        for field in dataclasses.fields(self):
            section = getattr(self, field.name)
            check = getattr(section, "validate", None)
            if callable(check):
                check()


# ----------------------------------------------------------------- loading
def _check(ok: bool, key: str, value: object, why: str) -> None:
    if not ok:
        raise ConfigError(f"config key '{key}': {why} (got {value!r})")


def _parse_date(key: str, value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError as e:
        raise ConfigError(f"config key '{key}': not a date YYYY-MM-DD (got {value!r})") from e


def _parse_month(key: str, value: str) -> dt.date:
    day = _parse_date(key, value)
    _check(day.day == 1, key, value, "must be the first day of a month")
    return day


def parse_override(text: str) -> tuple[list[str], Any]:
    """Parse ``a.b.c=value`` into (["a", "b", "c"], value); the value is read as YAML."""
    if "=" not in text:
        raise ConfigError(f"override '{text}' is not key=value")
    key, raw = text.split("=", 1)
    parts = [p for p in key.strip().split(".") if p]
    if not parts:
        raise ConfigError(f"override '{text}' has an empty key")
    try:
        value = yaml.safe_load(raw) if raw != "" else ""
    except yaml.YAMLError as e:
        raise ConfigError(f"override '{text}': value is not valid YAML") from e
    return parts, value


def _deep_merge(base: dict[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _deep_merge(dict(out[key]), value)
        else:
            out[key] = value
    return out


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"config file {path}: invalid YAML: {e}") from e
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path}: top level must be a mapping")
    return data


def _coerce(key: str, tp: Any, value: Any) -> Any:
    """Turn a YAML value into the dataclass field type, or raise naming the key."""
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            raise ConfigError(f"config key '{key}': expected a mapping (got {value!r})")
        return _build(tp, value, key)
    if origin in (typing.Union, types.UnionType):
        errors = []
        for arg in typing.get_args(tp):
            if arg is type(None):
                if value is None:
                    return None
                continue
            try:
                return _coerce(key, arg, value)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0] if errors else f"config key '{key}': bad value {value!r}")
    if origin is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"config key '{key}': expected a mapping (got {value!r})")
        ktp, vtp = typing.get_args(tp)
        return {str(k): _coerce(f"{key}.{k}", vtp, v) for k, v in value.items()}
    if origin is list:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, Sequence):
            raise ConfigError(f"config key '{key}': expected a list (got {value!r})")
        (etp,) = typing.get_args(tp)
        return [_coerce(f"{key}[{i}]", etp, v) for i, v in enumerate(value)]
    if tp is Any:
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"config key '{key}': expected true/false (got {value!r})")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"config key '{key}': expected an integer (got {value!r})")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(f"config key '{key}': expected a number (got {value!r})")
    if tp is str:
        if isinstance(value, (dt.date, dt.datetime)):
            return value.isoformat()
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
        raise ConfigError(f"config key '{key}': expected a string (got {value!r})")
    raise ConfigError(f"config key '{key}': unsupported type {tp}")


def _build(cls: Any, data: Mapping[str, Any], prefix: str = "") -> Any:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in data.items():
        full = f"{prefix}.{key}" if prefix else str(key)
        if key not in names:
            raise ConfigError(f"config key '{full}' is unknown; known keys here: {sorted(names)}")
        kwargs[key] = _coerce(full, hints[key], value)
    return cls(**kwargs)


def load_config(
    env: str | None = None,
    overrides: Sequence[str] = (),
    conf_dir: Path | str | None = None,
) -> Config:
    """Load ``base.yaml`` + ``<env>.yaml`` + overrides into a validated ``Config``.

    Args:
        env: environment layer name; defaults to ``$NTL_ENV`` or ``local``.
        overrides: ``section.key=value`` strings, applied last.
        conf_dir: folder holding the YAML files (defaults to the repo's ``conf/``).

    Returns:
        The frozen, validated configuration.

    Raises:
        ConfigError: a file is missing or invalid, or a key or value is wrong.
    """
    env = env or os.environ.get("NTL_ENV", "local")
    folder = Path(conf_dir) if conf_dir else CONF_DIR
    merged: dict[str, Any] = {}
    for name in ("base", env):
        path = folder / f"{name}.yaml"
        if not path.exists():
            raise ConfigError(f"config layer '{name}' not found at {path}")
        merged = _deep_merge(merged, _read_yaml(path))
    for text in overrides:
        parts, value = parse_override(text)
        patch: dict[str, Any] = {parts[-1]: value}
        for part in reversed(parts[:-1]):
            patch = {part: patch}
        merged = _deep_merge(merged, patch)
    merged["env"] = env
    cfg = _build(Config, merged)
    cfg.validate()
    return cfg


def as_dict(cfg: Any) -> dict[str, Any]:
    """The configuration as plain data (for logging it with a run)."""
    return dataclasses.asdict(cfg)
