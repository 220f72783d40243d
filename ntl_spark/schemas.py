"""Table names and schemas of the data contract, declared once.

Every reader passes one of these schemas; every writer produces one of them.
Field names are the contract's defaults (see the data contract); deployments
map their own source column names onto them in ``conf/`` (``ingest.rename``).
"""

from __future__ import annotations

from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    DateType,
    DoubleType,
    FloatType,
    IntegerType,
    LongType,
    MapType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

# ---------------------------------------------------------------- table names
CUSTOMERS = "customers"
BILLS = "bills"
READINGS = "readings"
EVENTS = "events"
INSPECTIONS = "inspections"
SOURCE_TABLES = (CUSTOMERS, BILLS, READINGS, EVENTS, INSPECTIONS)

QUARANTINE = "quarantine"
INGEST_LOG = "ingest_log"
MONTHLY_FEATURES = "monthly_features"
TRAINING_SET = "training_set"
SCORES = "scores"
MODEL_DECISIONS = "model_decisions"
# the data gate's per-day state of day-incremental tables (validation.incremental)
DATA_RULE_DAYS = "data_rule_days"
DATA_STATS_DAYS = "data_stats_days"

# ------------------------------------------------------------ domain values
METER_TYPES = ("conventional", "smart")
CUSTOMER_STATUS = ("active", "inactive")
READ_TYPES = ("actual", "estimated")
OUTCOMES = ("irregular", "regular", "no_access")
EVENT_CODES = ("COVER_OPEN", "MAGNETIC_TAMPER", "REVERSE_ENERGY", "POWER_FAIL", "CLOCK_SET")
TARIFFS = ("residential", "residential_two_period", "general", "medium")

# -------------------------------------------------------------------- lineage
# The Delta versions of the tables a row was computed from (table -> version).
# Every derived table carries it in this one column (ntl_spark.lakehouse builds and merges it).
LINEAGE_TYPE = MapType(StringType(), LongType(), valueContainsNull=False)
LINEAGE_COLUMN = "data_versions"
LINEAGE_FIELD = StructField(LINEAGE_COLUMN, LINEAGE_TYPE, False)

# ------------------------------------------------------------- input tables
CUSTOMERS_SCHEMA = StructType(
    [
        StructField("customer_id", StringType(), False),
        StructField("meter_id", StringType(), True),
        StructField("meter_type", StringType(), False),
        StructField("region", StringType(), False),
        StructField("tariff", StringType(), False),
        StructField("contracted_kw", DoubleType(), False),
        StructField("activity", StringType(), True),
        StructField("latitude", DoubleType(), True),
        StructField("longitude", DoubleType(), True),
        StructField("connected_on", DateType(), False),
        StructField("status", StringType(), False),
    ]
)

BILLS_SCHEMA = StructType(
    [
        StructField("customer_id", StringType(), False),
        StructField("period", DateType(), False),
        StructField("kwh", DoubleType(), True),
        StructField("days", IntegerType(), True),
        StructField("read_type", StringType(), True),
    ]
)

READINGS_SCHEMA = StructType(
    [
        StructField("meter_id", StringType(), False),
        StructField("ts", TimestampType(), False),
        StructField("kwh", DoubleType(), True),
    ]
)

EVENTS_SCHEMA = StructType(
    [
        StructField("meter_id", StringType(), False),
        StructField("ts", TimestampType(), False),
        StructField("code", StringType(), False),
    ]
)

INSPECTIONS_SCHEMA = StructType(
    [
        StructField("inspection_id", StringType(), False),
        StructField("customer_id", StringType(), False),
        StructField("inspected_on", DateType(), False),
        StructField("outcome", StringType(), False),
        StructField("irregularity", StringType(), True),
        StructField("recovered_kwh", DoubleType(), True),
        StructField("campaign_id", StringType(), True),
    ]
)

SOURCE_SCHEMAS: dict[str, StructType] = {
    CUSTOMERS: CUSTOMERS_SCHEMA,
    BILLS: BILLS_SCHEMA,
    READINGS: READINGS_SCHEMA,
    EVENTS: EVENTS_SCHEMA,
    INSPECTIONS: INSPECTIONS_SCHEMA,
}

# Natural keys: one row per key in the bronze tables (duplicates are quarantined).
PRIMARY_KEYS: dict[str, tuple[str, ...]] = {
    CUSTOMERS: ("customer_id",),
    BILLS: ("customer_id", "period"),
    READINGS: ("meter_id", "ts"),
    EVENTS: ("meter_id", "ts", "code"),
    INSPECTIONS: ("inspection_id",),
}

# Column that places a row in time: re-ingesting a period replaces exactly it.
PERIOD_COLUMNS: dict[str, str | None] = {
    CUSTOMERS: None,
    BILLS: "period",
    READINGS: "ts",
    EVENTS: "ts",
    INSPECTIONS: "inspected_on",
}

# Columns that bronze tables add to the source schema.
INGEST_METADATA = StructType(
    [
        StructField("_ingest_run_id", StringType(), False),
        StructField("_ingest_source", StringType(), False),
        StructField("_ingested_at", TimestampType(), False),
    ]
)


def bronze_schema(table: str) -> StructType:
    """Schema of the bronze Delta table ``table``: the contract's columns, then the ingest metadata."""
    return StructType(SOURCE_SCHEMAS[table].fields + INGEST_METADATA.fields)


QUARANTINE_SCHEMA = StructType(
    [
        StructField("table", StringType(), False),
        StructField("reason", StringType(), False),
        StructField("record", StringType(), True),
        # the ingest's period window "start..end" (empty ends = unbounded): a rerun replaces its own rows
        StructField("window", StringType(), False),
        StructField("_ingest_run_id", StringType(), False),
        StructField("_ingest_source", StringType(), False),
        StructField("_ingested_at", TimestampType(), False),
    ]
)

INGEST_LOG_SCHEMA = StructType(
    [
        StructField("run_id", StringType(), False),
        StructField("table", StringType(), False),
        StructField("source", StringType(), False),
        StructField("period_start", DateType(), True),
        StructField("period_end", DateType(), True),
        StructField("rows_read", LongType(), False),
        StructField("rows_written", LongType(), False),
        StructField("rows_quarantined", LongType(), False),
        StructField("delta_version", LongType(), True),
        StructField("ingested_at", TimestampType(), False),
        # gaps found in the rows written (e.g. missing_months, customers_with_gaps): reported, not filled
        StructField("gaps", MapType(StringType(), LongType(), valueContainsNull=False), True),
        # the days (bills: months) whose rows the write replaced, from the data when no period was configured;
        # null when nothing was replaced by period. readings_daily refreshes exactly these days.
        StructField("replaced_start", DateType(), True),
        StructField("replaced_end", DateType(), True),
    ]
)

# ------------------------------------------------------- data gate, per day
# What the data gate keeps per day of a day-incremental table (validation.incremental), so that a run
# recomputes only the days whose rows changed and adds up the rest. Both tables are partitioned by
# ``table``; ``delta_version`` is the version of the checked table a row was computed from and
# ``computed_at`` the gate run that computed it (rows of untouched days keep theirs).

# Rows (row rules) or groups (group rules) checked and offending, per rule and day (ntl_spark.validate.rules).
RULE_DAY_COUNTS_SCHEMA = StructType(
    [
        StructField("rule", StringType(), False),
        StructField("day", DateType(), True),
        StructField("checked", LongType(), False),
        StructField("offending", LongType(), False),
    ]
)
DATA_RULE_DAYS_SCHEMA = StructType(
    [
        StructField("table", StringType(), False),
        *RULE_DAY_COUNTS_SCHEMA.fields,
        # the rule's condition in words (validate.rules.describe) and its day: another one is recomputed whole
        StructField("definition", StringType(), False),
        StructField("delta_version", LongType(), False),
        StructField("computed_at", TimestampType(), False),
    ]
)

# Mergeable moments per day and column (ntl_spark.validate.stats.day_moments): rows and nulls; for
# numeric columns the sum, m2 (sum of squared deviations from the day's mean), min and max of the
# values; for other columns min and max as text.
DAY_MOMENTS_SCHEMA = StructType(
    [
        StructField("day", DateType(), True),
        StructField("column", StringType(), False),
        StructField("dtype", StringType(), False),
        StructField("count", LongType(), False),
        StructField("nulls", LongType(), False),
        StructField("sum", DoubleType(), True),
        StructField("m2", DoubleType(), True),
        StructField("min", DoubleType(), True),
        StructField("max", DoubleType(), True),
        StructField("min_text", StringType(), True),
        StructField("max_text", StringType(), True),
    ]
)
DATA_STATS_DAYS_SCHEMA = StructType(
    [
        StructField("table", StringType(), False),
        *DAY_MOMENTS_SCHEMA.fields,
        StructField("delta_version", LongType(), False),
        StructField("computed_at", TimestampType(), False),
    ]
)

# ------------------------------------------------------------------ outputs
SCORES_SCHEMA = StructType(
    [
        StructField("customer_id", StringType(), False),
        StructField("region", StringType(), False),
        StructField("score", DoubleType(), False),
        StructField("rank", IntegerType(), False),
        StructField("region_rank", IntegerType(), False),
        StructField("model_name", StringType(), False),
        StructField("model_version", StringType(), False),
        StructField("run_id", StringType(), False),
        StructField("scored_on", DateType(), False),
        StructField("reference_month", DateType(), False),
        LINEAGE_FIELD,
        StructField(
            "top_features",
            ArrayType(
                StructType(
                    [
                        StructField("feature", StringType(), False),
                        StructField("contribution", FloatType(), False),
                    ]
                )
            ),
            True,
        ),
    ]
)


def consumption_columns(months: int) -> list[str]:
    """Names of the monthly consumption features, C1 = the most recent month.

    Args:
        months: how many months of history the model sees (36 by default).

    Returns:
        ``["C1", ..., "C<months>"]``.
    """
    return [f"C{i}" for i in range(1, months + 1)]


# Robust summaries of the monthly series, computed by the features stage (same order as its columns).
DERIVED = (
    "mean_3", "mean_12", "mean_all", "std_12", "cv_12", "min_12", "max_12",
    "ratio_3_12", "ratio_12_prev12", "ratio_last_yoy", "slope_12", "zero_months_12",
    "missing_months", "estimated_share_12", "kwh_per_kw", "months_connected",
    # theft against its honest look-alikes (features.series_features)
    "ratio_6_yoy", "season_corr_yoy", "season_amp_ratio", "step_ratio", "step_months_ago",
    "zero_run_12", "zero_run_current", "near_zero_12", "estimated_share_3",
    "peer_ratio_12", "peer_drop_6_yoy", "peer_corr_12",
    # smart-meter alarms of the last 3 months per event code (features.alarm_counts; null = no smart meter)
    *(f"alarms_3m_{code.lower()}" for code in EVENT_CODES),
    # smart meters: the daily profile of the interval readings (features.interval_profile; null = none)
    "night_day_ratio", "base_load_share", "profile_cv", "zero_interval_share", "day_zero_share",
    "interval_recent_ratio", "readings_per_day",
    # the utility's own visits up to the reference month (features.inspection_history)
    "inspections_before", "irregular_before", "months_since_inspection", "months_since_irregular",
)
# Numeric customer attributes the model reads as they are.
CUSTOMER_NUMERIC = ("contracted_kw",)
# Categorical customer attributes carried raw in monthly_features and training_set;
# the train job learns their levels (ntl_spark.encoding) and saves them with the model.
CUSTOMER_CATEGORICAL = ("region", "tariff", "meter_type", "activity")


def numeric_feature_columns(months: int, raw_consumption: bool = True) -> list[str]:
    """The numeric model inputs, in the order the model is trained and scored with.

    C1..C<months> (unless ``raw_consumption`` is false: ``train.raw_consumption``),
    the derived features, then the numeric customer attributes. The categorical
    inputs follow them in a model: their encoded columns are learned from the
    training data (``ntl_spark.encoding``).
    """
    raw = consumption_columns(months) if raw_consumption else []
    return raw + list(DERIVED) + list(CUSTOMER_NUMERIC)

# ------------------------------------------------------- DeepDAICE windows
READINGS_DAILY = "readings_daily"
WINDOWS = "windows"
WINDOW_PURPOSES = ("train", "score")

# Meter-day layout of the readings: a day's intervals in order (null = missing);
# a meter-day may span several rows whose observed values add up (windows.daily_readings).
READINGS_DAILY_SCHEMA = StructType(
    [
        StructField("meter_id", StringType(), False),
        StructField("day", DateType(), False),
        StructField("kwh", ArrayType(FloatType(), True), False),
    ]
)

# One row per meter and window end date; arrays are flat, row-major (day, interval)
# for ``kwh`` and (day, alarm code) for ``alarms`` (codes in ``alarm_codes``);
# ``missing`` is the sparse missing-value mask: the flat positions in ``kwh`` of
# imputed values, ascending.
WINDOWS_SCHEMA = StructType(
    [
        StructField("purpose", StringType(), False),
        StructField("end_date", DateType(), False),
        StructField("meter_id", StringType(), False),
        StructField("customer_id", StringType(), False),
        StructField("region", StringType(), False),
        StructField("inspection_id", StringType(), True),
        StructField("label", IntegerType(), True),
        StructField("days", IntegerType(), False),
        StructField("intervals", IntegerType(), False),
        StructField("channels", IntegerType(), False),
        StructField("kwh", ArrayType(FloatType(), False), False),
        StructField("missing", ArrayType(IntegerType(), False), False),
        StructField("alarms", ArrayType(FloatType(), False), False),
        StructField("alarm_codes", StringType(), False),
        StructField("scale", FloatType(), False),
        StructField("coverage", FloatType(), False),
        LINEAGE_FIELD,
    ]
)

# ------------------------------------------------------ model decisions
# Append-only: one row per verdict of the model gate (action validate) and per
# move of the champion alias by hand (action promote), ntl_spark.registry.
METRICS_TYPE = MapType(StringType(), DoubleType(), valueContainsNull=False)
MODEL_DECISIONS_SCHEMA = StructType(
    [
        StructField("decided_at", TimestampType(), False),
        StructField("action", StringType(), False),  # validate or promote
        StructField("model_name", StringType(), False),
        StructField("challenger_version", StringType(), False),  # the version judged or promoted
        StructField("champion_version", StringType(), True),  # champion before; null when there was none
        StructField("champion_after", StringType(), True),  # champion after the decision
        StructField("blessed", BooleanType(), False),
        StructField("reasons", ArrayType(StringType(), False), False),
        StructField("challenger_metrics", METRICS_TYPE, False),  # held-out PR-AUC, ROC-AUC, precision@k ...
        StructField("champion_metrics", METRICS_TYPE, True),
        StructField("held_out_rows", LongType(), True),
        StructField("run_id", StringType(), True),  # the validation run in MLflow
        LINEAGE_FIELD,
        # the customers both models were judged on: how many, and how each model's held-out split is rebuilt
        # (added after the table's first release: appends merge them into an older table)
        StructField("held_out_customers", LongType(), True),
        StructField("held_out", StringType(), True),
        # the split whose metrics decided (time or random), the time split (cut-off and rows, or why it judged
        # nothing) and the challenger's and champion's recipes on it (added later too; null in older rows)
        StructField("split", StringType(), True),
        StructField("time_split", StringType(), True),
        StructField("time_challenger_metrics", METRICS_TYPE, True),
        StructField("time_champion_metrics", METRICS_TYPE, True),
    ]
)

# ------------------------------------------------------------ field loop
# Inspection requests: one row per customer a campaign asks the field teams to
# inspect (ntl_spark.campaign). ``arm`` is "model" (chosen by rank) or
# "control" (drawn at random from every eligible customer of the region with
# ``seed``); ``selection_probability`` is the chance the row's customer had of
# being requested in its arm (1 for the model arm, n_control / eligible for the
# control arm): inverse-probability weights for labels taken from outcomes.
CAMPAIGNS = "campaigns"
ARMS = ("model", "control")
CAMPAIGNS_SCHEMA = StructType(
    [
        StructField("campaign_id", StringType(), False),
        StructField("created_on", DateType(), False),
        StructField("customer_id", StringType(), False),
        StructField("region", StringType(), False),
        StructField("arm", StringType(), False),
        StructField("rank", IntegerType(), False),  # within region and arm: 1 = inspect first
        StructField("score", DoubleType(), False),
        StructField("expected_kwh", DoubleType(), True),
        StructField("expected_value", DoubleType(), True),
        StructField("order_by", StringType(), False),  # probability or expected_value
        StructField("selection_probability", DoubleType(), False),
        StructField("eligible", LongType(), False),  # eligible customers in the region
        StructField("seed", LongType(), False),
        StructField("model_name", StringType(), False),
        StructField("model_version", StringType(), False),
        StructField("scores_run_id", StringType(), False),
        StructField("scored_on", DateType(), False),
        LINEAGE_FIELD,
    ]
)

# One row per ingested inspection (ntl_spark.outcomes): the label, and the
# request it answers (arm model/control) or arm "unsolicited" when none asked for it.
OUTCOMES_TABLE = "outcomes"
OUTCOME_ARMS = ("model", "control", "unsolicited")
OUTCOMES_SCHEMA = StructType(
    [
        StructField("inspection_id", StringType(), False),
        StructField("customer_id", StringType(), False),
        StructField("inspected_on", DateType(), False),
        StructField("month", DateType(), False),  # first day of the inspection's month
        StructField("outcome", StringType(), False),
        StructField("irregular", BooleanType(), True),  # null: no access (no label)
        StructField("no_access", BooleanType(), False),
        StructField("irregularity", StringType(), True),
        StructField("recovered_kwh", DoubleType(), True),
        StructField("region", StringType(), False),
        StructField("campaign_id", StringType(), True),
        StructField("arm", StringType(), False),
        StructField("matched_by", StringType(), False),  # campaign_id, window or none
        StructField("rank", IntegerType(), True),
        StructField("score", DoubleType(), True),
        StructField("selection_probability", DoubleType(), True),
        StructField("model_name", StringType(), True),
        StructField("model_version", StringType(), True),
        StructField("scores_run_id", StringType(), True),
        StructField("scored_on", DateType(), True),
        StructField("created_on", DateType(), True),
        LINEAGE_FIELD,
    ]
)

# Field hit rates per month, model version, arm and region ("ALL" = every
# region) with Wilson 95% intervals, and the model arm's lift over the control
# arm (ntl_spark.field_report); rebuilt whole from ``outcomes``.
FIELD_STATS = "field_stats"
FIELD_STATS_SCHEMA = StructType(
    [
        StructField("month", DateType(), False),
        StructField("model_name", StringType(), True),
        StructField("model_version", StringType(), True),
        StructField("arm", StringType(), False),
        StructField("region", StringType(), False),
        StructField("inspections", LongType(), False),
        StructField("labelled", LongType(), False),
        StructField("irregular", LongType(), False),
        StructField("hit_rate", DoubleType(), True),
        StructField("hit_rate_low", DoubleType(), True),
        StructField("hit_rate_high", DoubleType(), True),
        StructField("recovered_kwh", DoubleType(), False),
        StructField("recovered_kwh_per_inspection", DoubleType(), True),
        StructField("no_access_share", DoubleType(), True),
        StructField("lift", DoubleType(), True),  # model arm rows: hit rate / control arm's of the same group
        StructField("lift_low", DoubleType(), True),
        StructField("lift_high", DoubleType(), True),
        LINEAGE_FIELD,
    ]
)

# One row per check of a monitor run (ntl_spark.monitor); a run advises
# retraining when any check does (exit code 10).
MONITORING = "monitoring"
MONITORING_SCHEMA = StructType(
    [
        StructField("run_at", TimestampType(), False),
        StructField("model_name", StringType(), False),
        StructField("model_version", StringType(), False),
        StructField("scored_on", DateType(), True),
        StructField("check", StringType(), False),  # feature_drift, score_drift, hit_rate, lift, new_labels
        StructField("subject", StringType(), False),  # the feature, arm or table the value is about
        StructField("value", DoubleType(), True),
        StructField("threshold", DoubleType(), True),
        StructField("retrain", BooleanType(), False),
        StructField("detail", StringType(), True),
        LINEAGE_FIELD,
    ]
)
