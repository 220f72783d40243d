"""Layered, typed configuration.

``conf/base.yaml`` is shared by every environment; ``conf/<env>.yaml`` sits on
top of it; ``--set section.key=value`` overrides sit on top of both. The merged
mapping is loaded into frozen dataclasses and validated before Spark starts:
an unknown key, a missing key or a value of the wrong type or range fails
with a ``ConfigError`` naming the key.

Defaults live in one place, ``conf/base.yaml``, which lists every key. The
section dataclasses below declare types only, so a key added to one side and
not the other fails at load time (and in tests/unit/test_config.py).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import re
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from ntl_spark.errors import ConfigError

CONF_DIR = Path(__file__).resolve().parent.parent / "conf"
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


# --------------------------------------------------------------------- sections
@dataclasses.dataclass(frozen=True)
class SparkConf:
    master: str
    app_name: str
    deploy_mode: str
    shuffle_partitions: int
    driver_memory: str
    jars_dir: str  # relative to the repository root
    log_level: str
    conf: dict[str, str]
    # environment variables of the driver, the executors and their Python workers (ntl_spark.session)
    env: dict[str, str]

    def validate(self) -> None:
        _check(self.shuffle_partitions > 0, "spark.shuffle_partitions", self.shuffle_partitions, "must be > 0")
        for name in self.env:
            _check(_ENV_NAME.fullmatch(name) is not None, f"spark.env.{name}", name,
                   "must be an environment variable name (letters, digits, _; not starting with a digit)")
        _check(self.deploy_mode in ("client", "cluster"), "spark.deploy_mode", self.deploy_mode,
               "must be client or cluster")


@dataclasses.dataclass(frozen=True)
class PathsConf:
    """Where things live. Relative entries are taken under ``root``.

    ``root`` itself may be a local folder (relative to the working directory)
    or a URI (``hdfs:///data/ntl``) on a cluster.
    """

    root: str
    raw: str
    lakehouse: str
    warehouse: str
    metastore: str
    reports: str
    checkpoints: str

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

    tracking_uri: str
    registry_uri: str
    artifact_root: str
    experiment: str


@dataclasses.dataclass(frozen=True)
class FraudConf:
    """Share of customers that start to steal and the mix of attack models."""

    rate: float
    # Relative weights of the attack models (normalised by the generator).
    attacks: dict[str, float]
    # Probability that a customer caught by an inspection starts stealing again later.
    restart: float

    def validate(self) -> None:
        _check(0.0 <= self.rate < 1.0, "generate.fraud.rate", self.rate, "must be in [0, 1)")
        _check(0.0 <= self.restart <= 1.0, "generate.fraud.restart", self.restart, "must be in [0, 1]")
        known = {f"h{i}" for i in range(1, 7)} | {f"fdi{i}" for i in range(1, 7)}
        known |= {"partial", "night", "stopped", "intermittent", "gradual", "hookup"}
        for key, weight in self.attacks.items():
            _check(key in known, f"generate.fraud.attacks.{key}", key, f"unknown attack; known: {sorted(known)}")
            _check(weight >= 0, f"generate.fraud.attacks.{key}", weight, "weight must be >= 0")
        _check(sum(self.attacks.values()) > 0, "generate.fraud.attacks", self.attacks, "all weights are zero")


@dataclasses.dataclass(frozen=True)
class WeatherConf:
    """Weather-driven seasonality of the generator (off = one fixed seasonal table per tariff)."""

    enabled: bool
    anomaly_sd: float  # °C, standard deviation of a month's temperature anomaly

    def validate(self) -> None:
        _check(0.0 <= self.anomaly_sd <= 10.0, "generate.weather.anomaly_sd", self.anomaly_sd, "must be in [0, 10]")


@dataclasses.dataclass(frozen=True)
class LookalikesConf:
    """Share of customers per kind of honest look-alike (at most one kind per customer)."""

    move_out: float
    solar: float
    efficiency: float
    seasonal_home: float
    meter_replacement: float
    tariff_change: float

    def validate(self) -> None:
        total = 0.0
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            _check(0.0 <= value <= 1.0, f"generate.lookalikes.{field.name}", value, "must be in [0, 1]")
            total += value
        _check(total <= 1.0, "generate.lookalikes", total, "shares must add up to at most 1")


@dataclasses.dataclass(frozen=True)
class TuneConf:
    """Hyperparameter search for DAICE (``ntl_spark.tune``)."""

    trials: int
    timeout_s: int  # 0 = no time limit
    seed: int
    startup_trials: int  # random trials before TPE, and trials before pruning starts
    split: str  # time: early inspections train the trials, late ones judge them; random: customers by hash
    validation_fraction: float  # random split: customers whose inspections score the trials
    split_salt: str
    step_rounds: int  # boosting rounds between pruning checks
    max_rounds: int
    output: str  # empty = <paths.root>/tuned_params.yaml

    def validate(self) -> None:
        _check_search("tune", self.trials, self.timeout_s, self.startup_trials)
        _check(self.split in ("time", "random"), "tune.split", self.split, "must be time or random")
        _check(0.0 < self.validation_fraction < 1.0, "tune.validation_fraction", self.validation_fraction,
               "must be in (0, 1)")
        _check(bool(self.split_salt.strip()), "tune.split_salt", self.split_salt, "must not be empty")
        _check(self.step_rounds >= 1, "tune.step_rounds", self.step_rounds, "must be >= 1")
        _check(self.max_rounds >= self.step_rounds, "tune.max_rounds", self.max_rounds, "must be >= tune.step_rounds")


@dataclasses.dataclass(frozen=True)
class TuneDeepConf:
    """Hyperparameter search for DeepDAICE (``ntl_spark.tune_deep``): architecture, units, learning rate."""

    trials: int
    timeout_s: int  # 0 = no time limit
    seed: int
    startup_trials: int  # random trials before TPE, and trials before pruning starts
    epochs: int  # most epochs a trial trains (early stopping on validation PR-AUC as train_deep)
    architectures: list[str]
    units: list[int]
    learning_rate_min: float
    learning_rate_max: float
    output: str  # empty = <paths.root>/tuned_deep.yaml

    def validate(self) -> None:
        _check_search("tune_deep", self.trials, self.timeout_s, self.startup_trials)
        _check(self.epochs >= 1, "tune_deep.epochs", self.epochs, "must be >= 1")
        _check(bool(self.architectures) and all(a in ARCHITECTURES for a in self.architectures),
               "tune_deep.architectures", self.architectures, f"must be a non-empty list of {', '.join(ARCHITECTURES)}")
        _check(bool(self.units) and all(isinstance(u, int) and u >= 1 for u in self.units), "tune_deep.units",
               self.units, "must be a non-empty list of ints >= 1")
        _check(0.0 < self.learning_rate_min <= self.learning_rate_max, "tune_deep.learning_rate_min",
               (self.learning_rate_min, self.learning_rate_max), "need 0 < learning_rate_min <= learning_rate_max")


@dataclasses.dataclass(frozen=True)
class RulesConf:
    """The rules baseline (``ntl_spark.rules``) every model is compared with."""

    recent_months: int  # last months compared with the same months a year before
    zero_kwh: float  # a month at or below this counts as zero
    min_zero_run: int  # consecutive zero months that rank a customer above every drop

    def validate(self) -> None:
        _check(1 <= self.recent_months <= 12, "rules.recent_months", self.recent_months, "must be in 1..12")
        _check(self.zero_kwh >= 0, "rules.zero_kwh", self.zero_kwh, "must be >= 0")
        _check(self.min_zero_run >= 1, "rules.min_zero_run", self.min_zero_run, "must be >= 1")


@dataclasses.dataclass(frozen=True)
class GenerateConf:
    seed: int
    customers: int
    months: int
    end_month: str
    smart_meter_share: float
    max_smart_meters: int
    reading_days: int
    format: str
    output: str  # empty = paths.raw
    inspections_per_year: float
    irregular_target: float
    no_access_rate: float
    label_noise: float
    fraud: FraudConf
    weather: WeatherConf
    lookalikes: LookalikesConf

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
        self.weather.validate()
        self.lookalikes.validate()


@dataclasses.dataclass(frozen=True)
class BboxConf:
    """A latitude/longitude box in degrees."""

    lat_min: float
    lat_max: float
    lon_min: float
    lon_max: float

    def validate(self) -> None:
        _check(-90 <= self.lat_min < self.lat_max <= 90, "ingest.bbox", (self.lat_min, self.lat_max),
               "needs -90 <= lat_min < lat_max <= 90")
        _check(-180 <= self.lon_min < self.lon_max <= 180, "ingest.bbox", (self.lon_min, self.lon_max),
               "needs -180 <= lon_min < lon_max <= 180")


@dataclasses.dataclass(frozen=True)
class IngestConf:
    source: str
    format: str
    input: str  # empty = paths.raw
    tables: list[str]
    # Optional period window (inclusive, YYYY-MM-DD); empty = the whole source.
    period_start: str
    period_end: str
    # Source column name -> contract name, per table.
    rename: dict[str, dict[str, str]]
    csv_timestamp_format: str  # Spark datetime pattern; empty = ISO 8601
    csv_date_format: str  # Spark datetime pattern; empty = yyyy-MM-dd
    encoding: str  # of CSV files
    csv_delimiter: str  # CSV field separator
    extra_columns: str  # drop (with a warning) or fail
    allow_empty: list[str]  # tables whose source may have no rows
    max_kwh_per_bill: float
    max_kwh_per_interval: float
    regions: list[str]  # accepted customers.region values; empty = any
    tariffs: list[str]  # accepted customers.tariff values; empty = any
    bbox: BboxConf  # customers' coordinates must fall inside (nulls pass)
    future_tolerance_days: float  # timestamps later than ingest time + this are in the future
    max_drop_share: float  # largest share of the rows a write replaces that it may drop; 1.0 = no limit

    def validate(self) -> None:
        import codecs

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
        _check(self.extra_columns in ("drop", "fail"), "ingest.extra_columns", self.extra_columns,
               "must be drop or fail")
        for table in self.allow_empty:
            _check(table in schemas.SOURCE_TABLES, "ingest.allow_empty", table,
                   f"unknown table; known: {list(schemas.SOURCE_TABLES)}")
        try:
            codecs.lookup(self.encoding)
        except LookupError:
            _check(False, "ingest.encoding", self.encoding, "unknown encoding (e.g. utf-8, latin-1, cp1252)")
        _check(len(self.csv_delimiter) == 1, "ingest.csv_delimiter", self.csv_delimiter,
               "must be one character (e.g. ',', ';', '\\t')")
        _check(self.future_tolerance_days >= 0, "ingest.future_tolerance_days", self.future_tolerance_days,
               "must be >= 0")
        _check(0 <= self.max_drop_share <= 1, "ingest.max_drop_share", self.max_drop_share,
               "must be between 0 and 1 (1 = no limit)")
        self.bbox.validate()

    @property
    def period(self) -> tuple[dt.date | None, dt.date | None]:
        """(period_start, period_end) as dates; None where empty (the whole source)."""
        start = dt.date.fromisoformat(self.period_start) if self.period_start else None
        end = dt.date.fromisoformat(self.period_end) if self.period_end else None
        return start, end


@dataclasses.dataclass(frozen=True)
class HbaseConf:
    """Smart-meter readings and alarms in HBase (Thrift1, happybase)."""

    host: str
    port: int
    table: str
    key_pattern: str
    readings_family: str
    events_family: str
    intervals_per_day: int
    value_encoding: str  # string (decimal text) or double (8-byte big-endian IEEE-754)
    timeout_ms: int
    batch_size: int
    tasks_per_region: int
    retries: int
    retry_backoff_s: float
    # happybase (Thrift1, no Kerberos) or connector (the hbase-spark connector,
    # format org.apache.hadoop.hbase.spark: the path for a kerberized cluster).
    reader: str
    connector_format: str
    zookeeper_quorum: str  # connector only; empty = hbase-site.xml on the classpath
    presplit_regions: int  # regions a new table is pre-split into (by meter id range, or by salt)
    # How a day window is read (ntl_spark/io/hbase.py, docs/sources.md "Row keys and scans"): auto,
    # meters (never the row-key regex; a meter-first read without a meter list fails) or filter.
    scan: str
    salt_buckets: int  # N of the {salt} key field: crc32(meter_id) mod N, zero padded; 1 = no salt
    get_max_days: int  # windows up to this many days read known meters by multi-get of their row keys

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
        _check(self.scan in ("auto", "meters", "filter"), "hbase.scan", self.scan, "must be auto, meters or filter")
        _check(self.salt_buckets >= 1, "hbase.salt_buckets", self.salt_buckets, "must be >= 1")
        _check(self.get_max_days >= 0, "hbase.get_max_days", self.get_max_days, "must be >= 0")
        salted = "{salt}" in self.key_pattern
        _check(not salted or self.key_pattern.startswith("{salt}"), "hbase.key_pattern", self.key_pattern,
               "{salt} must be the first field of the key (e.g. {salt}|{yyyymmdd}|{meter_id})")
        _check(salted == (self.salt_buckets > 1), "hbase.salt_buckets", self.salt_buckets,
               "must be > 1 exactly when hbase.key_pattern has a {salt} field")


@dataclasses.dataclass(frozen=True)
class JdbcConf:
    """Bills, customers and inspections from a relational database (Oracle in production)."""

    url: str
    driver: str
    user: str
    password_env: str
    password_file: str
    fetchsize: int
    num_partitions: int
    session_init: str
    # Contract table -> source table name, "(select ...) t" or table function call.
    tables: dict[str, str]
    # Contract table -> column used to split the read into partitions.
    partition_columns: dict[str, str]
    custom_schema: dict[str, str]
    # SQL expression giving a partition number in [0, n) for a non-numeric
    # partition column; empty = by dialect (Oracle ora_hash, PostgreSQL hashtext).
    hash_template: str
    retries: int  # reads again after a lost connection, up to this many times
    retry_backoff_s: float  # wait before retry n: retry_backoff_s * 2 ** (n - 1)

    def validate(self) -> None:
        _check(self.fetchsize > 0, "jdbc.fetchsize", self.fetchsize, "must be > 0")
        _check(self.retries >= 0, "jdbc.retries", self.retries, "must be >= 0")
        _check(self.retry_backoff_s >= 0, "jdbc.retry_backoff_s", self.retry_backoff_s, "must be >= 0")
        if self.hash_template:
            _check("{column}" in self.hash_template and "{n}" in self.hash_template, "jdbc.hash_template",
                   self.hash_template, "must contain {column} and {n}")
        _check(self.num_partitions >= 1, "jdbc.num_partitions", self.num_partitions, "must be >= 1")


@dataclasses.dataclass(frozen=True)
class WindowsConf:
    """DeepDAICE input windows: days x intervals_per_day per meter and end date."""

    days: int
    intervals_per_day: int
    # Last day of the scoring windows; empty = the day before score.scored_on
    # when that is set, else the last day present in the readings table.
    scoring_end: str
    min_coverage: float
    # Build training windows (per labelled inspection) in the same run.
    training: bool
    # Training windows of an inspection on day d end on d - 1 - offset, one per offset (days, >= 0);
    # [0] = one window ending the day before. Keep them short: an irregular outcome says
    # theft ran on d, not since when (windows.training_keys).
    train_end_offsets: list[int]
    # Positive-unlabelled training windows: this share of the never-inspected active smart-meter
    # customers (a salted hash of the id), one window ending each of unlabelled_offsets days before
    # the scoring end, label 0 and no inspection (train_deep weighs them deep.unlabelled_weight). 0 = none.
    unlabelled_share: float
    unlabelled_offsets: list[int]
    # Windows per Arrow batch while windows are assembled (a batch holds their day rows).
    batch_rows: int
    # Readings per Arrow batch while readings are pivoted into readings_daily.
    pivot_batch_rows: int
    # How the pivot reads the readings table: "auto" = its Parquet files with
    # pyarrow in the tasks when the table allows it (windows.direct_files),
    # "spark" = always as Spark rows.
    pivot_reader: str
    # Tasks per core of a whole pivot through the pyarrow reader. Each task writes one
    # file per day it holds (readings_daily is partitioned by day), so fewer tasks write
    # fewer, bigger files: at 34,474 meters x 90 days, 1 task per core took 36 s and
    # 4 per core 56-62 s (720 files). More tasks sort less each and balance uneven files.
    pivot_tasks_per_core: int
    # readings_daily is refreshed day by day (only the days new readings replaced) up to this many
    # days; a larger change rebuilds it whole (faster through the pyarrow reader). 0 = always whole.
    refresh_max_days: int

    def validate(self) -> None:
        _check(self.refresh_max_days >= 0, "windows.refresh_max_days", self.refresh_max_days, "must be >= 0")
        _check(1 <= self.days <= 366, "windows.days", self.days, "must be in [1, 366]")
        _check(self.intervals_per_day in (24, 48, 96, 144, 288), "windows.intervals_per_day",
               self.intervals_per_day, "must be 24, 48, 96, 144 or 288")
        _check(0.0 <= self.min_coverage <= 1.0, "windows.min_coverage", self.min_coverage, "must be in [0, 1]")
        _check(self.batch_rows >= 1, "windows.batch_rows", self.batch_rows, "must be >= 1")
        _check(0.0 <= self.unlabelled_share <= 1.0, "windows.unlabelled_share", self.unlabelled_share,
               "must be in [0, 1]")
        _check(all(isinstance(o, int) and o >= 0 for o in self.unlabelled_offsets), "windows.unlabelled_offsets",
               self.unlabelled_offsets, "must be ints >= 0 (days before the scoring end)")
        _check(bool(self.train_end_offsets) and min(self.train_end_offsets) >= 0, "windows.train_end_offsets",
               self.train_end_offsets, "must list at least one offset, each >= 0")
        _check(self.pivot_batch_rows >= 1, "windows.pivot_batch_rows", self.pivot_batch_rows, "must be >= 1")
        _check(self.pivot_reader in ("auto", "spark"), "windows.pivot_reader", self.pivot_reader,
               "must be auto or spark")
        _check(self.pivot_tasks_per_core >= 1, "windows.pivot_tasks_per_core", self.pivot_tasks_per_core,
               "must be >= 1")
        if self.scoring_end:
            _parse_date("windows.scoring_end", self.scoring_end)


# DeepDAICE networks (deep.build_model): recurrent (lstm, gru), convolution front + LSTM (conv1d),
# convolutions only (cnn).
ARCHITECTURES = ("lstm", "gru", "conv1d", "cnn")


@dataclasses.dataclass(frozen=True)
class CombineConf:
    """The combined ranking of DAICE and DeepDAICE (``ntl_spark.combine``), rebuilt by both score jobs."""

    enabled: bool  # off: no combined rows are written
    name: str  # its model_name in scores (a partition value of the published table: letters, digits, _ and -)

    def validate(self) -> None:
        _check(bool(re.fullmatch(r"[A-Za-z0-9_-]+", self.name)), "combine.name", self.name,
               "must be letters, digits, _ or - (it names a partition of the published table)")


@dataclasses.dataclass(frozen=True)
class DeepConf:
    """DeepDAICE model (Keras) trained from the windows table through Petastorm."""

    enabled: bool  # run the DeepDAICE branch in the demo
    model_name: str
    architecture: str  # one of ARCHITECTURES
    # add per-day summary channels to the model input (deep.DAY_SUMMARIES: level, zero share, spread,
    # night share, peak ratio); recorded in the model's metadata for scoring
    day_summaries: bool
    # the customer's DAICE inputs (schemas.numeric_feature_columns, point-in-time: deep.with_monthly) through
    # their own dense layer beside the curve; their names and scaling are recorded in the model's metadata
    monthly_features: bool
    # with monthly_features: labelled inspections without a training window (conventional meters, readings
    # not reaching back) train and validate with an empty curve and their monthly inputs (deep.windowless_rows)
    windowless_labels: bool
    # with monthly_features: beside each monthly input a 0/1 flag "missing" (no alarm counts without a smart
    # meter, no months since a finding that never happened), so a missing value is not read as the mean
    monthly_missing: bool
    # with monthly_features: the categorical customer attributes (train.categorical.columns: region, tariff, meter
    # type, activity) as 0/1 monthly inputs, levels learned from the non-test inspections and kept in the model's
    # metadata (a cold store and a household with the same curve shape are not alike)
    monthly_categorical: bool
    units: int
    epochs: int
    batch_size: int
    learning_rate: float
    patience: int
    # early stopping neither stops training nor keeps weights before this epoch (keras start_from_epoch): on a
    # few dozen irregular validation rows the first epoch's PR-AUC can peak by chance and end training there;
    # >= deep.epochs: no early stopping, the last epoch's weights
    min_epochs: int
    # > 1: the model takes the mean of the weights of this many consecutive epochs, the window with the best mean
    # validation PR-AUC starting at or after min_epochs (deep.EpochAverage; a refit: its last epochs); 1 = the best
    # single epoch's weights (keras EarlyStopping)
    average_epochs: int
    # held-out (test) customers: this share under split_salt, as DAICE's train.test_fraction / train.split_salt
    # (equal by default, so both families hold out the same customers); validation: validation_fraction of the rest
    test_fraction: float
    validation_fraction: float
    split_salt: str  # held-out and validation customers: a salted hash of customer_id (models.CustomerSplit)
    # after early stopping found the best epoch, train a fresh network (same seed) on the training and validation
    # customers together for that many epochs: the registered model learns from every customer but the test ones
    refit: bool
    seed: int
    # networks trained with seeds seed .. seed + members - 1 on the same feed; the registered model averages
    # their scores (deep.average_members). 1 = one network, no wrapper
    members: int
    alias: str
    register: bool
    model_ref: str  # scoring: alias or version of deep.model_name
    threshold: float
    campaign_size: int
    # Petastorm feed: reader threads, converter row group size, tf.data prefetch (0 = autotune).
    reader_workers: int
    row_group_mb: int
    prefetch: int
    score_batch: int  # windows per inference call in scoring
    # the same data, configuration and seed give the same model: training reads with one Petastorm
    # thread (seeded row-group order) and TensorFlow runs its ops deterministically
    deterministic: bool
    params_from: str  # YAML written by the tune_deep job (its deep.* keys replace these); empty = none
    # weight of a never-inspected customer's window (windows.unlabelled_share) in the loss; labelled = 1
    unlabelled_weight: float

    def validate(self) -> None:
        _check(self.architecture in ARCHITECTURES, "deep.architecture", self.architecture,
               f"must be one of {', '.join(ARCHITECTURES)}")
        _check(self.epochs >= 1, "deep.epochs", self.epochs, "must be >= 1")
        _check(self.batch_size >= 1, "deep.batch_size", self.batch_size, "must be >= 1")
        _check(self.units >= 1, "deep.units", self.units, "must be >= 1")
        _check(self.min_epochs >= 0, "deep.min_epochs", self.min_epochs, "must be >= 0")
        _check(self.members >= 1, "deep.members", self.members, "must be >= 1")
        _check(self.average_epochs >= 1, "deep.average_epochs", self.average_epochs, "must be >= 1")
        _check(self.monthly_features or not self.windowless_labels, "deep.windowless_labels", self.windowless_labels,
               "needs deep.monthly_features: true (an inspection without a window has only its monthly inputs)")
        _check(0.0 < self.test_fraction < 1.0, "deep.test_fraction", self.test_fraction, "must be in (0, 1)")
        _check(0.0 < self.validation_fraction < 1.0, "deep.validation_fraction", self.validation_fraction,
               "must be in (0, 1)")
        _check(bool(self.split_salt.strip()), "deep.split_salt", self.split_salt, "must not be empty")
        _check(0.0 < self.threshold < 1.0, "deep.threshold", self.threshold, "must be in (0, 1)")
        _check(self.reader_workers >= 1, "deep.reader_workers", self.reader_workers, "must be >= 1")
        _check(self.row_group_mb >= 1, "deep.row_group_mb", self.row_group_mb, "must be >= 1")
        _check(self.score_batch >= 1, "deep.score_batch", self.score_batch, "must be >= 1")
        _check(0.0 < self.unlabelled_weight <= 1.0, "deep.unlabelled_weight", self.unlabelled_weight,
               "must be in (0, 1]")


@dataclasses.dataclass(frozen=True)
class FeaturesConf:
    months: int
    reference_month: str  # empty = the last billed month in the bills table
    min_history_months: int
    label_lookback_months: int
    interval_days: int  # smart-meter profile aggregates over these days; 0 = off
    interval_recent_days: int
    interval_zero_kwh: float

    def validate(self) -> None:
        _check(1 <= self.months <= 120, "features.months", self.months, "must be in [1, 120]")
        _check(self.interval_days >= 0, "features.interval_days", self.interval_days, "must be >= 0")
        if self.interval_days:
            _check(0 < self.interval_recent_days < self.interval_days, "features.interval_recent_days",
                   self.interval_recent_days, "must be in (0, features.interval_days)")
        _check(self.interval_zero_kwh >= 0, "features.interval_zero_kwh", self.interval_zero_kwh, "must be >= 0")
        _check(self.min_history_months >= 1, "features.min_history_months", self.min_history_months, "must be >= 1")
        if self.reference_month:
            _parse_month("features.reference_month", self.reference_month)


@dataclasses.dataclass(frozen=True)
class CategoricalConf:
    """Categorical model inputs, encoded with levels learned from the training split (ntl_spark.encoding)."""

    columns: list[str]
    max_levels: int  # most levels kept per column; the rest go to <column>__other
    min_count: int  # fewest training rows a value needs to be a level

    def validate(self) -> None:
        from ntl_spark import schemas

        for c in self.columns:
            _check(c in schemas.CUSTOMER_CATEGORICAL, "train.categorical.columns", c,
                   f"not a categorical column of training_set; known: {list(schemas.CUSTOMER_CATEGORICAL)}")
        _check(len(set(self.columns)) == len(self.columns), "train.categorical.columns", self.columns,
               "lists a column twice")
        _check(self.max_levels >= 1, "train.categorical.max_levels", self.max_levels, "must be >= 1")
        _check(self.min_count >= 1, "train.categorical.min_count", self.min_count, "must be >= 1")


@dataclasses.dataclass(frozen=True)
class ModelConf:
    """Identity of the registered DAICE model, shared by train, the model gate, evaluation and scoring.

    Training registers a version of ``name`` and sets the alias ``challenger``
    on it; the model gate (``validate_model``) judges the challenger and moves
    ``champion`` to it when blessed (``promote`` moves it by hand); scoring
    uses ``champion`` unless ``score.model_ref`` names another version or alias.
    """

    name: str
    challenger: str
    champion: str

    def validate(self) -> None:
        _check(bool(self.name.strip()), "model.name", self.name, "must not be empty")
        for key in ("challenger", "champion"):
            value = getattr(self, key)
            _check(bool(value) and not value.isdigit(), f"model.{key}", value,
                   "must be an alias (not empty, not a version number)")
        _check(self.challenger != self.champion, "model.champion", self.champion,
               "must differ from model.challenger")


@dataclasses.dataclass(frozen=True)
class TrainConf:
    test_fraction: float
    # Held-out customers: a hash of this salt and customer_id (models.CustomerSplit),
    # not of the seed; recorded with each model so the gate rebuilds its split.
    split_salt: str
    seed: int
    num_workers: int
    # xgboost threads per training worker; 0 = local[N]: N // num_workers,
    # cluster: spark.task.cpus (xgboost.spark's own rule).
    threads_per_worker: int
    # Rows per Arrow batch handed to each training worker (Spark's default is 10,000).
    arrow_batch_rows: int
    campaign_size: int
    threshold: float
    register: bool
    weighting: str  # none, or ipw: labels weighted by 1 / their campaign selection probability
    params: dict[str, Any]
    params_from: str  # YAML written by the tune job (train.params there replace these); empty = none
    time_validation_months: int  # also train before the last N months of inspections, judge on them; 0 = off
    # Positive-unlabelled training: never-inspected customers of monthly_features added to the training
    # split as negatives, this many per labelled training row (0 = off), each weighing unlabelled_weight
    # (most uninspected customers are honest; some steal unseen, hence the lower weight).
    unlabelled_share: float
    unlabelled_weight: float
    # The months they are drawn at, as months before the latest monthly_features month (0 = that month):
    # several seasons of the ordinary population. The features job builds the missing ones.
    unlabelled_months: list[int]
    categorical: CategoricalConf
    # C1..CN (the monthly kWh by position) as model inputs beside the derived features. Off: a position
    # means another calendar month at each reference month, and a few hundred labels overfit to it.
    raw_consumption: bool

    def validate(self) -> None:
        _check(0.0 < self.test_fraction < 1.0, "train.test_fraction", self.test_fraction, "must be in (0, 1)")
        _check(bool(self.split_salt.strip()), "train.split_salt", self.split_salt, "must not be empty")
        _check(self.num_workers >= 1, "train.num_workers", self.num_workers, "must be >= 1")
        _check(self.threads_per_worker >= 0, "train.threads_per_worker", self.threads_per_worker, "must be >= 0")
        _check(self.arrow_batch_rows >= 1, "train.arrow_batch_rows", self.arrow_batch_rows, "must be >= 1")
        _check(self.campaign_size >= 1, "train.campaign_size", self.campaign_size, "must be >= 1")
        _check(self.time_validation_months >= 0, "train.time_validation_months", self.time_validation_months,
               "must be >= 0")
        _check(0.0 < self.threshold < 1.0, "train.threshold", self.threshold, "must be in (0, 1)")
        _check(self.weighting in ("none", "ipw"), "train.weighting", self.weighting, "must be none or ipw")
        _check(self.unlabelled_share >= 0, "train.unlabelled_share", self.unlabelled_share, "must be >= 0")
        _check(0 < self.unlabelled_weight <= 1, "train.unlabelled_weight", self.unlabelled_weight, "must be in (0, 1]")
        _check(bool(self.unlabelled_months) and all(isinstance(m, int) and 0 <= m <= 120 for m in self.unlabelled_months)
               and len(set(self.unlabelled_months)) == len(self.unlabelled_months), "train.unlabelled_months",
               self.unlabelled_months, "must be a non-empty list of distinct month offsets in 0..120")
        self.categorical.validate()


@dataclasses.dataclass(frozen=True)
class ScoreConf:
    model_ref: str  # empty = the champion alias (model.champion); else a version number or another alias
    top_features: int
    explain_top_n: int  # top_features for rank <= explain_top_n ...
    explain_per_region: int  # ... or region_rank <= explain_per_region; null for every other customer
    scored_on: str  # empty = today
    arrow_batch_rows: int  # rows per Arrow batch given to the model (Spark's default is 10,000)

    def validate(self) -> None:
        _check(0 <= self.top_features <= 20, "score.top_features", self.top_features, "must be in [0, 20]")
        _check(self.explain_top_n >= 0, "score.explain_top_n", self.explain_top_n, "must be >= 0")
        _check(self.explain_per_region >= 0, "score.explain_per_region", self.explain_per_region, "must be >= 0")
        _check(self.arrow_batch_rows >= 1, "score.arrow_batch_rows", self.arrow_batch_rows, "must be >= 1")
        if self.scored_on:
            _parse_date("score.scored_on", self.scored_on)


@dataclasses.dataclass(frozen=True)
class PublishConf:
    database: str
    table: str
    path: str  # empty = <paths.warehouse>/<database>.db/<table>
    partition_by: list[str]


@dataclasses.dataclass(frozen=True)
class RuleConf:
    """One consistency rule on a lakehouse table (see docs/validation.md).

    Exactly one of ``check`` (a SQL condition every row must meet, or with
    ``group_by`` an aggregate condition every group must meet) and ``unique``
    (columns that must identify a row) is set.
    """

    # An element of the list ``validation.rules``, not a configuration section:
    # these defaults fill the optional fields a rule leaves out, so they are
    # not configuration defaults and need no twin in conf/base.yaml (unlike the
    # sections, whose defaults live only there).
    name: str = ""
    table: str = ""
    level: str = "warn"  # warn or block
    check: str = ""
    unique: list[str] = dataclasses.field(default_factory=list)
    group_by: list[str] = dataclasses.field(default_factory=list)
    where: str = ""  # optional SQL filter: the rule sees only these rows
    max_share: float = 0.0  # offending share tolerated before the rule trips
    # SQL expression of a row's day (to_date(<the table's validation.incremental column>)): the rule's
    # counts add up over days, so on a day-incremental table only the changed days are checked again.
    # A group rule lists it in group_by too (each group lies within one day).
    day: str = ""

    def validate(self, key: str) -> None:
        _check(bool(self.name), f"{key}.name", self.name, "every rule needs a name")
        _check(bool(self.table), f"{key}.table", self.table, "every rule needs a table")
        _check(self.level in ("warn", "block"), f"{key}.level", self.level, "must be warn or block")
        _check(bool(self.check) != bool(self.unique), f"{key}", self.name, "set exactly one of check or unique")
        _check(not (self.unique and self.group_by), f"{key}.group_by", self.group_by, "not used with unique")
        _check(0.0 <= self.max_share < 1.0, f"{key}.max_share", self.max_share, "must be in [0, 1)")
        if self.day:
            _check(not self.unique, f"{key}.day", self.day,
                   "not used with unique (a key may repeat on two days, so its counts do not add up over days)")
            _check(not self.group_by or any(same_sql(g, self.day) for g in self.group_by), f"{key}.day", self.day,
                   f"must be one of group_by {self.group_by} (each group must lie within one day)")


def same_sql(a: str, b: str) -> bool:
    """Whether two short SQL expressions are the same up to case, spaces and backquotes."""
    def norm(text: str) -> str:
        return re.sub(r"[\s`]+", "", text).lower()

    return norm(a) == norm(b)


@dataclasses.dataclass(frozen=True)
class DriftConf:
    """Population stability index (PSI) thresholds between training and scoring data."""

    bins: int
    psi_warn: float
    psi_block: float
    score_psi_warn: float
    score_psi_block: float
    label_rate_warn: float  # absolute difference of the irregular share, train vs validation
    # What a PSI at or above the block threshold does on the scoring month: block (stop) or warn.
    action: str
    features: list[str]  # empty = the numeric inputs the model reads (validate.drift.drift_columns)
    exclude: list[str]

    def validate(self) -> None:
        _check(2 <= self.bins <= 100, "validation.drift.bins", self.bins, "must be in [2, 100]")
        _check(self.action in ("warn", "block"), "validation.drift.action", self.action, "must be warn or block")
        _check(0 < self.psi_warn <= self.psi_block, "validation.drift.psi_warn", self.psi_warn,
               "must be > 0 and <= validation.drift.psi_block")
        _check(0 < self.score_psi_warn <= self.score_psi_block, "validation.drift.score_psi_warn",
               self.score_psi_warn, "must be > 0 and <= validation.drift.score_psi_block")


@dataclasses.dataclass(frozen=True)
class BlessingConf:
    """When the challenger (alias ``model.challenger``) may replace the champion (alias ``model.champion``)."""

    max_pr_auc_drop: float  # challenger may be at most this much worse than the champion
    max_precision_at_k_drop: float
    min_pr_auc: float  # floor for any challenger (the only test when there is no champion)
    block_on_score_drift: bool  # refuse when the score PSI (held-out vs scoring) is above block
    heatmap_bins: int
    min_held_out_customers: int  # fewer customers held out by both models: no verdict (DataError)
    # Which split's metrics the floor, the lift and the champion comparison use: time (recipes fitted
    # before a cut-off, judged on later inspections) or random (the held-out customers); the other is reported.
    split: str
    min_lift_over_rule: float  # the gating split's precision@k over the rule's must reach this; 0 = off

    def validate(self) -> None:
        _check(self.split in ("time", "random"), "validation.blessing.split", self.split, "must be time or random")
        _check(self.min_lift_over_rule >= 0.0, "validation.blessing.min_lift_over_rule", self.min_lift_over_rule,
               "must be >= 0")
        for key in ("max_pr_auc_drop", "max_precision_at_k_drop", "min_pr_auc"):
            value = getattr(self, key)
            _check(0.0 <= value <= 1.0, f"validation.blessing.{key}", value, "must be in [0, 1]")
        _check(2 <= self.heatmap_bins <= 200, "validation.blessing.heatmap_bins", self.heatmap_bins,
               "must be in [2, 200]")
        _check(self.min_held_out_customers >= 1, "validation.blessing.min_held_out_customers",
               self.min_held_out_customers, "must be >= 1")


@dataclasses.dataclass(frozen=True)
class SegmentsConf:
    """Evaluate-sets job: a registered model on segments of the labelled data."""

    model_ref: str  # empty = the challenger (model.challenger); else a version number or an alias
    columns: list[str]
    data: str  # test (held-out split of the training set) or all
    where: str  # optional SQL filter, e.g. "region IN ('NORTE', 'SUR')"

    def validate(self) -> None:
        _check(self.data in ("test", "all"), "validation.segments.data", self.data, "must be test or all")
        _check(bool(self.columns), "validation.segments.columns", self.columns, "name at least one column")


@dataclasses.dataclass(frozen=True)
class ValidateConf:
    """Data and model validation gates (docs/validation.md)."""

    enabled: bool  # demo: run the gates before scoring
    experiment: str  # empty = <mlflow.experiment>-validation
    report_dir: str  # under paths.reports
    tables: list[str]
    histogram_bins: int
    sample_rows: int  # statistics of a bigger table use a sample of about this many rows
    rules: list[RuleConf]
    # Tables whose statistics and day rules (RuleConf.day) are recomputed only for the days changed since
    # the previous gate run: table -> its timestamp (or date) column, whose local day the ingest replaces.
    incremental: dict[str, str]
    # More changed days than this: recompute everything (0 = always everything).
    incremental_max_days: int
    drift: DriftConf
    blessing: BlessingConf
    segments: SegmentsConf
    compare_runs: list[str]  # run ids; empty = the last compare_last
    compare_last: int

    def validate(self) -> None:
        _check(2 <= self.histogram_bins <= 100, "validation.histogram_bins", self.histogram_bins, "must be in [2, 100]")
        _check(self.sample_rows >= 1000, "validation.sample_rows", self.sample_rows, "must be >= 1000")
        _check(self.compare_last >= 1, "validation.compare_last", self.compare_last, "must be >= 1")
        _check(self.incremental_max_days >= 0, "validation.incremental_max_days", self.incremental_max_days,
               "must be >= 0")
        for table, column in self.incremental.items():
            _check(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", column) is not None, f"validation.incremental.{table}",
                   column, "must name the table's timestamp or date column")
        names = [r.name for r in self.rules]
        for i, rule in enumerate(self.rules):
            rule.validate(f"validation.rules[{i}]")
            _check(names.count(rule.name) == 1, f"validation.rules[{i}].name", rule.name, "rule names must be unique")
            day_of = self.incremental.get(rule.table)
            if rule.day and day_of:
                _check(same_sql(rule.day, f"to_date({day_of})"), f"validation.rules[{i}].day", rule.day,
                       f"must be to_date({day_of}), the day of validation.incremental.{rule.table}")
        self.drift.validate()
        self.blessing.validate()
        self.segments.validate()


@dataclasses.dataclass(frozen=True)
class CampaignConf:
    """Campaign job: inspection requests drawn from the champion's scores (docs/field-loop.md)."""

    id: str  # empty = CMP-<scored_on>-<model name>-v<version>
    scored_on: str  # empty = score.scored_on if set, else the latest day scored
    model_ref: str  # empty = the champion alias (model.champion); else a version number or an alias
    ranking: str  # empty = the registered model (model_ref); else a model_name of scores (e.g. combine.name)
    created_on: str  # empty = today
    budget: dict[str, int]  # requests per region; empty = total x region_shares
    total: int
    region_shares: dict[str, float]  # empty = in proportion to eligible customers
    order_by: str  # probability or expected_value
    expected_kwh: str  # drop or history
    recovery_months: int
    kwh_price: float
    inspection_cost: float
    exclude_inspected_months: int
    exclude_requested_months: int
    control_share: float
    seed: int
    excel: bool
    jdbc_table: str  # empty = no database write
    hive_table: str  # empty = no Hive table

    def validate(self) -> None:
        _check(self.order_by in ("probability", "expected_value"), "campaign.order_by", self.order_by,
               "must be probability or expected_value")
        _check(self.expected_kwh in ("drop", "history"), "campaign.expected_kwh", self.expected_kwh,
               "must be drop or history")
        _check(self.total >= 0, "campaign.total", self.total, "must be >= 0")
        for region, n in self.budget.items():
            _check(n >= 0, f"campaign.budget.{region}", n, "must be >= 0")
        for region, share in self.region_shares.items():
            _check(share >= 0, f"campaign.region_shares.{region}", share, "must be >= 0")
        if self.region_shares:
            _check(sum(self.region_shares.values()) > 0, "campaign.region_shares", self.region_shares,
                   "all shares are zero")
        _check(0.0 <= self.control_share <= 1.0, "campaign.control_share", self.control_share, "must be in [0, 1]")
        _check(self.recovery_months >= 1, "campaign.recovery_months", self.recovery_months, "must be >= 1")
        for key in ("kwh_price", "inspection_cost"):
            _check(getattr(self, key) >= 0, f"campaign.{key}", getattr(self, key), "must be >= 0")
        for key in ("exclude_inspected_months", "exclude_requested_months"):
            _check(getattr(self, key) >= 0, f"campaign.{key}", getattr(self, key), "must be >= 0")
        for key in ("scored_on", "created_on"):
            if getattr(self, key):
                _parse_date(f"campaign.{key}", getattr(self, key))
        _check(self.jdbc_table == "" or self.jdbc_table.replace("_", "").replace(".", "").isalnum(),
               "campaign.jdbc_table", self.jdbc_table, "must be a plain table name")
        _check(self.hive_table == "" or self.hive_table.replace("_", "").isalnum(), "campaign.hive_table",
               self.hive_table, "must be a plain table name")


@dataclasses.dataclass(frozen=True)
class OutcomesConf:
    """Outcomes job: how inspections match the requests that asked for them."""

    match_days: int

    def validate(self) -> None:
        _check(self.match_days >= 0, "outcomes.match_days", self.match_days, "must be >= 0")


@dataclasses.dataclass(frozen=True)
class FieldReportConf:
    """Field report job: hit rates with intervals, HTML report, MLflow figures."""

    report_dir: str  # under paths.reports
    months: int  # 0 = all
    log_to_mlflow: bool

    def validate(self) -> None:
        _check(self.months >= 0, "field_report.months", self.months, "must be >= 0")


@dataclasses.dataclass(frozen=True)
class MonitorConf:
    """Monitor job: when to advise retraining (exit code 10)."""

    months: int
    min_labelled: int
    hit_rate_floor: float
    min_lift: float
    min_new_labels: int
    feature_psi_retrain: float
    score_psi_retrain: float

    def validate(self) -> None:
        _check(self.months >= 1, "monitor.months", self.months, "must be >= 1")
        _check(self.min_labelled >= 1, "monitor.min_labelled", self.min_labelled, "must be >= 1")
        _check(0.0 <= self.hit_rate_floor <= 1.0, "monitor.hit_rate_floor", self.hit_rate_floor, "must be in [0, 1]")
        _check(self.min_lift >= 0, "monitor.min_lift", self.min_lift, "must be >= 0")
        _check(self.min_new_labels >= 1, "monitor.min_new_labels", self.min_new_labels, "must be >= 1")
        for key in ("feature_psi_retrain", "score_psi_retrain"):
            _check(getattr(self, key) > 0, f"monitor.{key}", getattr(self, key), "must be > 0")


@dataclasses.dataclass(frozen=True)
class SimulateConf:
    """Simulate job: the field loop closed on the synthetic utility (docs/field-loop.md)."""

    months: int  # the last N billed months of the generated window
    generate: bool  # generate the utility first (false: use the files already under the raw folder)
    visit_days: int  # days between a campaign and its visits
    retrain: bool  # train a new champion when the monitor advises it
    report_dir: str  # under paths.reports

    def validate(self) -> None:
        _check(self.months >= 1, "simulate.months", self.months, "must be >= 1")
        _check(0 <= self.visit_days <= 60, "simulate.visit_days", self.visit_days, "must be in [0, 60]")


@dataclasses.dataclass(frozen=True)
class PromoteConf:
    """Promote job: move the champion alias (``model.champion``) to a named version."""

    version: str  # a registered version number; empty = not set (the job asks for it)
    reason: str  # kept with the move (model version tags, model_decisions)

    def validate(self) -> None:
        _check(self.version == "" or self.version.isdigit(), "promote.version", self.version,
               "must be a version number")


@dataclasses.dataclass(frozen=True)
class CycleConf:
    """The monthly cycle (``jobs/cycle.py``): which month, which stages, its lock."""

    month: str  # YYYY-MM-01; empty = the month before today
    ingest: str  # period: ingest the month's period; all: the whole source (a first load, a backfill)
    stages: list[str]
    from_stage: str  # resume: skip the stages before this one
    lock: str  # lock file; empty = <paths.root>/cycle.lock

    def validate(self) -> None:
        if self.month:
            _parse_month("cycle.month", self.month)
        _check(self.ingest in ("period", "all"), "cycle.ingest", self.ingest, "must be period or all")
        known = ("ingest", "features", "validate_data", "train", "validate_model", "score", "windows", "train_deep",
                 "score_deep", "publish", "campaign", "outcomes", "field_report", "monitor")
        for stage in self.stages:
            _check(stage in known, "cycle.stages", stage, f"unknown stage; known: {list(known)}")


@dataclasses.dataclass(frozen=True)
class Config:
    env: str
    spark: SparkConf
    paths: PathsConf
    mlflow: MlflowConf
    generate: GenerateConf
    ingest: IngestConf
    hbase: HbaseConf
    jdbc: JdbcConf
    windows: WindowsConf
    deep: DeepConf
    combine: CombineConf
    features: FeaturesConf
    rules: RulesConf
    tune: TuneConf
    tune_deep: TuneDeepConf
    model: ModelConf
    train: TrainConf
    score: ScoreConf
    publish: PublishConf
    validation: ValidateConf
    promote: PromoteConf
    campaign: CampaignConf
    outcomes: OutcomesConf
    field_report: FieldReportConf
    monitor: MonitorConf
    simulate: SimulateConf
    cycle: CycleConf

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


def _check_search(section: str, trials: int, timeout_s: int, startup_trials: int) -> None:
    """The budget keys every search section has (``tune``, ``tune_deep``)."""
    _check(trials >= 1, f"{section}.trials", trials, "must be >= 1")
    _check(timeout_s >= 0, f"{section}.timeout_s", timeout_s, "must be >= 0")
    _check(startup_trials >= 0, f"{section}.startup_trials", startup_trials, "must be >= 0")


def _parse_date(key: str, value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError as e:
        raise ConfigError(f"config key '{key}': not a date YYYY-MM-DD (got {value!r})") from e


def _parse_month(key: str, value: str) -> dt.date:
    day = _parse_date(key, value)
    _check(day.day == 1, key, value, "must be the first day of a month")
    return day


# Mappings whose keys contain dots themselves: everything after the prefix is one key
# (``spark.conf.spark.kerberos.keytab=...`` sets spark.conf["spark.kerberos.keytab"]).
DOTTED_KEY_MAPS = (("spark", "conf"),)


def parse_override(text: str) -> tuple[list[str], Any]:
    """Parse ``a.b.c=value`` into (["a", "b", "c"], value); the value is read as YAML.

    Under a mapping of ``DOTTED_KEY_MAPS`` the rest of the key is one key:
    ``spark.conf.spark.sql.shuffle.partitions=8`` -> (["spark", "conf", "spark.sql.shuffle.partitions"], 8).
    """
    if "=" not in text:
        raise ConfigError(f"override '{text}' is not key=value")
    key, raw = text.split("=", 1)
    parts = [p for p in key.strip().split(".") if p]
    if not parts:
        raise ConfigError(f"override '{text}' has an empty key")
    for prefix in DOTTED_KEY_MAPS:
        n = len(prefix)
        if tuple(parts[:n]) == prefix and len(parts) > n + 1:
            parts = [*parts[:n], ".".join(parts[n:])]
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
    fields = dataclasses.fields(cls)
    names = {f.name for f in fields}
    kwargs = {}
    for key, value in data.items():
        full = f"{prefix}.{key}" if prefix else str(key)
        if key not in names:
            raise ConfigError(f"config key '{full}' is unknown; known keys here: {sorted(names)}")
        kwargs[key] = _coerce(full, hints[key], value)
    for field in fields:
        # Sections carry no defaults (conf/base.yaml holds them); only list items
        # such as RuleConf have optional fields with a default.
        optional = field.default is not dataclasses.MISSING or field.default_factory is not dataclasses.MISSING
        if field.name not in kwargs and not optional:
            full = f"{prefix}.{field.name}" if prefix else field.name
            raise ConfigError(f"config key '{full}' is missing: every key needs a value in conf/base.yaml")
    return cls(**kwargs)


def conf_folder() -> Path:
    """Where the YAML layers are read from.

    ``$NTL_CONF_DIR`` when set; else ``conf/`` beside the package (a
    checkout); else the working directory when it holds ``base.yaml`` (a YARN
    or Oozie container, where the package comes from a zip and the YAML files
    are localized next to the job).
    """
    if os.environ.get("NTL_CONF_DIR"):
        return Path(os.environ["NTL_CONF_DIR"])
    if (CONF_DIR / "base.yaml").exists():
        return CONF_DIR
    if (Path.cwd() / "base.yaml").exists():
        return Path.cwd()
    return CONF_DIR


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
    folder = Path(conf_dir) if conf_dir else conf_folder()
    merged: dict[str, Any] = {}
    for name in ("base", env):
        path = folder / f"{name}.yaml"
        if not path.exists():
            raise ConfigError(f"config layer '{name}' not found at {path}")
        merged = _deep_merge(merged, _read_yaml(path))
    merged = _merge_overrides(merged, overrides)
    merged["env"] = env
    cfg = _build(Config, merged)
    cfg.validate()
    return cfg


def _merge_overrides(merged: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """``merged`` with each ``section.key=value`` override deep-merged on top, in order."""
    for text in overrides:
        parts, value = parse_override(text)
        patch: dict[str, Any] = {parts[-1]: value}
        for part in reversed(parts[:-1]):
            patch = {part: patch}
        merged = _deep_merge(merged, patch)
    return merged


def apply_overrides(cfg: Config, overrides: Sequence[str]) -> Config:
    """``cfg`` with ``section.key=value`` overrides on top, loaded and validated as :func:`load_config` does."""
    merged: dict[str, Any] = dataclasses.asdict(cfg)
    merged = _merge_overrides(merged, overrides)
    out = _build(Config, merged)
    out.validate()
    return out


def read_tuned(params_from: str, key: str, path: Sequence[str], job: str) -> dict[str, Any]:
    """The mapping at ``path`` of a YAML file a search job wrote, named by config key ``key``.

    Raises:
        ConfigError: the file is missing or holds no non-empty mapping at ``path`` (names the file and ``job``).
    """
    where = Path(params_from.removeprefix("file://"))
    if not where.is_file():
        raise ConfigError(f"config key '{key}': {params_from!r} does not exist: run the {job} job first, "
                          f"or leave it empty")
    data: Any = yaml.safe_load(where.read_text()) or {}
    for part in path:
        data = data.get(part) if isinstance(data, dict) else None
    if not isinstance(data, dict) or not data:
        raise ConfigError(f"config key '{key}': {params_from!r} has no {'.'.join(path)} mapping")
    return data


def as_dict(cfg: Any) -> dict[str, Any]:
    """The configuration as plain data (for logging it with a run)."""
    return dataclasses.asdict(cfg)
