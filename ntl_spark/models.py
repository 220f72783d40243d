"""Model plumbing shared by training, validation and scoring.

- :class:`CustomerSplit`: the held-out customers of a model (a salted hash of
  customer_id: the same for any seed, row order or partitioning), saved with
  the model so the split can be rebuilt for it later;
- :class:`TimeSplit`: inspections before a cut-off month train, later ones
  judge (the time-based validation of train and of the model gate);
- :func:`load_daice`: a registered DAICE version: native booster, input
  columns and the categorical vocabulary learned at training;
  :func:`recorded_numeric_inputs` reads only the numeric inputs a version
  records (what the monitor compares for drift);
  :func:`model_inputs` turns rows with raw categorical columns into the
  model's inputs; :func:`worker_booster` loads the booster once per Python
  worker for inference;
- :func:`rank_scores` and :func:`write_scores`: the ranking written to the
  ``scores`` table, the same for every model family.

Stages import these instead of importing each other.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from ntl_spark import lakehouse, schemas, tracking
from ntl_spark.encoding import CategoricalVocabulary
from ntl_spark.errors import ConfigError, DataError

_BOOSTERS: dict[int, Any] = {}


SPLIT_BUCKETS = 10_000
SALTED = "salted"  # xxhash64(salt, customer_id): what train records
SEEDED = "seeded"  # xxhash64(customer_id, seed): versions trained before the salt was recorded


@dataclass(frozen=True)
class CustomerSplit:
    """Which customers a model held out, rebuilt exactly from two recorded values.

    A customer is held out when ``pmod(xxhash64(salt, customer_id), 10000) <
    round(fraction * 10000)``. The hash depends on the customer id and the salt
    only: not on ``train.seed``, row order, partitioning or the rows of the table
    (a customer added later lands on a fixed side), and a customer's rows all
    fall on one side.

    Attributes:
        salt: ``train.split_salt`` at training (``method`` seeded: the old ``train.seed``, as text).
        fraction: share of customers held out (``train.test_fraction``).
        method: :data:`SALTED`, or :data:`SEEDED` for a version trained before
            the salt was recorded (rebuilt from its run's ``seed`` parameter).
    """

    salt: str
    fraction: float
    method: str = SALTED

    def __post_init__(self) -> None:
        if self.method not in (SALTED, SEEDED):
            raise ValueError(f"split method must be {SALTED!r} or {SEEDED!r}, got {self.method!r}")
        if not 0.0 < self.fraction < 1.0:
            raise ValueError(f"split fraction must be in (0, 1), got {self.fraction!r}")
        if self.method == SEEDED and not self.salt.lstrip("-").isdigit():
            raise ValueError(f"a seeded split needs an integer seed, got {self.salt!r}")

    def is_held_out(self) -> Column:
        """Boolean column: the row's customer is held out (needs ``customer_id``)."""
        if self.method == SALTED:
            hashed = F.xxhash64(F.lit(self.salt), F.col("customer_id").cast("string"))
        else:
            hashed = F.xxhash64(F.col("customer_id"), F.lit(int(self.salt)))
        return F.pmod(hashed, F.lit(SPLIT_BUCKETS)) < F.lit(int(round(self.fraction * SPLIT_BUCKETS)))

    def split(self, df: DataFrame) -> tuple[DataFrame, DataFrame]:
        """(train, held-out) rows of ``df``."""
        test = self.is_held_out()
        return df.where(~test), df.where(test)

    def held_out(self, df: DataFrame) -> DataFrame:
        return df.where(self.is_held_out())

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "salt": self.salt, "fraction": self.fraction, "buckets": SPLIT_BUCKETS}

    def describe(self) -> str:
        """One line that says how to rebuild the split."""
        cut = int(round(self.fraction * SPLIT_BUCKETS))
        if self.method == SALTED:
            return f"xxhash64('{self.salt}', customer_id) mod {SPLIT_BUCKETS} < {cut} (fraction {self.fraction:g})"
        return f"xxhash64(customer_id, {self.salt}) mod {SPLIT_BUCKETS} < {cut} (fraction {self.fraction:g}, seeded)"

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CustomerSplit:
        """Read back :meth:`to_dict`.

        Raises:
            ValueError: a key is missing or a value is out of range (the message says which).
        """
        missing = [k for k in ("salt", "fraction") if k not in d]
        if missing:
            raise ValueError(f"split lacks {missing}")
        if int(d.get("buckets", SPLIT_BUCKETS)) != SPLIT_BUCKETS:
            raise ValueError(f"split was made with {d['buckets']} buckets, this version uses {SPLIT_BUCKETS}")
        return cls(str(d["salt"]), float(d["fraction"]), str(d.get("method", SALTED)))


DRAW_BUCKETS = 1_000_000


def drawn(salt: str, share: float) -> Column:
    """Boolean column: the row's customer falls in the first ``share`` of a salted hash of its id.

    ``pmod(xxhash64(salt, customer_id), DRAW_BUCKETS) < share * DRAW_BUCKETS``: the
    same customers whatever the partitioning (local or cluster) or the row order.
    """
    bucket = F.pmod(F.xxhash64(F.lit(salt), F.col("customer_id")), F.lit(DRAW_BUCKETS))
    return bucket < F.lit(int(min(1.0, share) * DRAW_BUCKETS))


def add_months(day: dt.date, months: int) -> dt.date:
    """``day`` moved by ``months`` months, as Spark's ``add_months`` (a day past the month's end: its last day)."""
    import calendar

    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    return dt.date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def months_before(month: dt.date, offsets: Iterable[int]) -> set[dt.date]:
    """``month`` moved back by each of ``offsets`` months (0 = ``month`` itself)."""
    return {add_months(month, -m) for m in offsets}


def reference_months(df: DataFrame) -> list[dt.date]:
    """The distinct ``reference_month`` values of ``df`` (e.g. ``monthly_features``), oldest first."""
    return sorted(r[0] for r in df.select("reference_month").distinct().collect())


@dataclass(frozen=True)
class TimeSplit:
    """Inspections before a cut-off train, the later ones judge: what a model in production faces.

    The validation rows are the last ``months`` reference months of a
    training set: ``reference_month >= cutoff``, with ``cutoff = last_month -
    months + 1`` (``last_month`` the latest reference month of the rows the
    split was made from). Rows split, not customers: a customer inspected
    before and after the cut-off has its early inspection in training and its
    later one judged, as happens in production.

    Attributes:
        last_month: the latest reference month of the training set.
        months: validation months (``train.time_validation_months``), >= 1.
    """

    last_month: dt.date
    months: int

    def __post_init__(self) -> None:
        if self.months < 1:
            raise ValueError(f"a time split needs months >= 1, got {self.months!r}")

    @property
    def cutoff(self) -> dt.date:
        """The first reference month judged."""
        return add_months(self.last_month, 1 - self.months)

    @classmethod
    def ending(cls, df: DataFrame, months: int) -> TimeSplit | None:
        """The split of ``df`` (with ``reference_month``) ending at its last reference month; None when empty."""
        row = df.agg(F.max("reference_month")).first()
        last = row[0] if row is not None else None
        return None if last is None else cls(last, months)

    def is_late(self) -> Column:
        """Boolean column: the row is judged (its reference month is on or after the cut-off)."""
        return F.col("reference_month") >= F.lit(self.cutoff)

    def split(self, df: DataFrame) -> tuple[DataFrame, DataFrame]:
        """(early, late) rows of ``df``: training rows, judged rows."""
        late = self.is_late()
        return df.where(~late), df.where(late)

    def to_dict(self) -> dict[str, Any]:
        return {"cutoff": self.cutoff.isoformat(), "last_month": self.last_month.isoformat(), "months": self.months}

    def describe(self) -> str:
        """One line: which rows train and which judge."""
        return (f"inspections with reference month {self.cutoff.isoformat()} .. {self.last_month.isoformat()} "
                f"(the last {self.months} months) judge, earlier ones train")


def worker_booster(raw: bytes) -> Any:
    """One xgboost Booster per Python worker process, keyed by the model bytes (UBJSON)."""
    import xgboost as xgb

    key = hash(raw)
    if key not in _BOOSTERS:
        b = xgb.Booster()
        b.load_model(bytearray(raw))
        b.set_param({"nthread": 1})
        _BOOSTERS.clear()
        _BOOSTERS[key] = b
    return _BOOSTERS[key]


@dataclass(frozen=True)
class Daice:
    """A registered DAICE version, as scoring and validation use it.

    Attributes:
        booster: the native xgboost Booster.
        feature_columns: its input columns in training order (numeric inputs,
            then the vocabulary's encoded columns).
        vocabulary: the categorical levels learned from the training split.
        name, version: the registered model version.
        split: the customers it held out; None for a version registered
            before the split was saved with the model.
    """

    booster: Any
    feature_columns: list[str]
    vocabulary: CategoricalVocabulary
    name: str
    version: str
    split: CustomerSplit | None

    @property
    def numeric_columns(self) -> list[str]:
        """Its numeric inputs in training order: :attr:`feature_columns` less the encoded ones."""
        return numeric_inputs(self.feature_columns, self.vocabulary)


def numeric_inputs(feature_columns: Iterable[str], vocabulary: CategoricalVocabulary | None) -> list[str]:
    """A model's numeric inputs in training order: its feature columns less the vocabulary's encoded columns.

    Args:
        feature_columns: the model's input columns in training order (its ``feature_columns`` metadata).
        vocabulary: the categorical levels it learned; None for a version registered
            before they were saved (its fixed-list encoded columns are then kept).
    """
    encoded = set(vocabulary.feature_columns) if vocabulary is not None else set()
    return [c for c in feature_columns if c not in encoded]


def daice_metadata(
    feature_columns: list[str], vocabulary: CategoricalVocabulary, months: int, split: CustomerSplit
) -> dict[str, Any]:
    """The MLflow model metadata :func:`load_daice` reads back."""
    return {"feature_columns": list(feature_columns), "categories": vocabulary.to_dict(), "months": months,
            "split": split.to_dict(), "family": "DAICE"}


def load_daice(ref: tracking.ModelRef) -> Daice:
    """A registered DAICE version: booster, input columns in training order and categorical vocabulary.

    Raises:
        ConfigError: the version is not a DAICE model (no ``feature_columns``
            metadata), or was registered before categories were learned at
            training (no ``categories`` metadata), or its split metadata is
            unreadable: retrain it.
    """
    import mlflow.xgboost

    meta = _metadata(ref)
    cols = meta.get("feature_columns")
    if not cols:
        raise ConfigError(f"model {ref.name} v{ref.version} has no feature_columns metadata: not a DAICE model")
    vocabulary = _vocabulary(meta, ref)
    if vocabulary is None:
        raise ConfigError(
            f"model {ref.name} v{ref.version} was registered without its categorical vocabulary (an older "
            f"ntl-spark encoded regions and tariffs from fixed lists): retrain it with the train job and "
            f"score with the new version"
        )
    unknown = [c for c in vocabulary.feature_columns if c not in cols]
    if unknown:
        raise ConfigError(f"model {ref.name} v{ref.version}: encoded columns {unknown} of its vocabulary are not "
                          f"among its feature_columns: retrain it")
    split = None
    if meta.get("split") is not None:
        try:
            split = CustomerSplit.from_dict(meta["split"])
        except (ValueError, TypeError) as e:
            raise ConfigError(f"model {ref.name} v{ref.version}: unreadable split metadata ({e}): retrain it") from e
    return Daice(mlflow.xgboost.load_model(ref.uri), list(cols), vocabulary, ref.name, ref.version, split)


def recorded_numeric_inputs(ref: tracking.ModelRef) -> list[str] | None:
    """The numeric inputs a registered version records, in training order; None when it records none.

    Read from its ``feature_columns`` metadata (:func:`daice_metadata`), less the
    encoded columns of its categorical vocabulary; the booster is not loaded.
    A version registered before the vocabulary was saved keeps its fixed-list
    encoded columns in the list (no feature table holds them).

    Raises:
        ConfigError: its ``categories`` metadata is unreadable (names the version).
    """
    meta = _metadata(ref)
    cols = meta.get("feature_columns")
    if not cols:
        return None
    return numeric_inputs(cols, _vocabulary(meta, ref))


def _metadata(ref: tracking.ModelRef) -> dict[str, Any]:
    import mlflow

    return dict(mlflow.models.get_model_info(ref.uri).metadata or {})


def _vocabulary(meta: Mapping[str, Any], ref: tracking.ModelRef) -> CategoricalVocabulary | None:
    """The vocabulary saved in a version's metadata; None when it has none."""
    saved = meta.get("categories")
    if saved is None:
        return None
    try:
        return CategoricalVocabulary.from_dict(saved)
    except ValueError as e:
        raise ConfigError(f"model {ref.name} v{ref.version}: unreadable categories metadata ({e}): retrain it") from e


def model_inputs(df: DataFrame, model: Daice, table: str) -> DataFrame:
    """``df`` with the model's encoded categorical columns added (its training vocabulary).

    A value the model never saw in training lands in ``<column>__other``;
    a null stays missing (all zeros).

    Args:
        df: rows with the raw categorical columns and the numeric inputs.
        model: from :func:`load_daice`.
        table: the rows' table, for messages.

    Raises:
        DataError: a raw categorical column or a numeric input is missing from ``df``.
    """
    needed = [*model.vocabulary.columns, *model.numeric_columns]
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise DataError(f"{table} lacks column(s) {missing} that model {model.name} v{model.version} reads: "
                        f"rebuild it with the features job (features.months must match the model's)")
    return model.vocabulary.transform(df)


def rank_order() -> list[Column]:
    """The ranking's order: score descending, ties by customer_id ascending."""
    return [F.col("score").desc(), F.col("customer_id").asc()]


_POSITION_BITS = 33  # monotonically_increasing_id: partition id above bit 33, position in the partition below


def rank_scores(scored: DataFrame, partitions: int | None = None, order: list[Column] | None = None) -> DataFrame:
    """Add ``rank`` (1 = highest score, ties by customer_id) overall and ``region_rank`` within region.

    The global rank is computed in parallel, without a window over one
    partition: the rows are range-partitioned on (score desc, customer_id asc)
    and sorted within each partition, so partition ``p`` holds a contiguous
    slice of the ranking; a row's rank is its position in its partition plus
    the number of rows in the partitions before it (one small count per
    partition, collected). ``scored`` is computed once (the range bounds are
    sampled from it before the shuffle) and the partitioned frame is persisted
    so that the counts and the ranks come from the same rows (the caller's
    session keeps it until it ends). ``region_rank`` is a window partitioned by
    region.

    Args:
        scored: rows with ``customer_id``, ``region`` and ``score``.
        partitions: range partitions (default ``spark.sql.shuffle.partitions``).
        order: the ranking's order (default :func:`rank_order`; it must end with a unique column).
    """
    spark = scored.sparkSession
    order = order or rank_order()
    n = partitions or int(spark.conf.get("spark.sql.shuffle.partitions") or 1)
    # the range bounds are sampled from the rows, then the rows are shuffled: computed once (a model's
    # predictions), kept until the ranked rows are
    source = scored.persist()
    ordered = (
        source.repartitionByRange(n, *order)
        .sortWithinPartitions(*order)
        # evaluated after the sort, in the sorted order of each partition
        .withColumn("_rank_id", F.monotonically_increasing_id())
        .persist()
    )
    part = F.shiftright(F.col("_rank_id"), _POSITION_BITS).cast("int")
    counts = dict(
        (int(r["p"]), int(r["n"]))
        for r in ordered.groupBy(part.alias("p")).agg(F.count(F.lit(1)).alias("n")).collect()
    )
    source.unpersist()
    offsets, total = [], 0
    for p in range(max(counts, default=-1) + 1):
        offsets.append(total)
        total += counts.get(p, 0)
    offset = F.element_at(F.array(*[F.lit(o) for o in offsets]), part + 1) if offsets else F.lit(0)
    position = F.col("_rank_id").bitwiseAND(F.lit((1 << _POSITION_BITS) - 1))
    ranked = ordered.withColumn("rank", (offset + position + 1).cast("int")).drop("_rank_id")
    return ranked.withColumn(
        "region_rank", F.row_number().over(Window.partitionBy("region").orderBy(*order)).cast("int")
    )


def write_scores(ranked: DataFrame, path: str, scored_on: dt.date, model_name: str) -> int:
    """Replace this day's rows of one model in the ``scores`` table; return the Delta version committed."""
    return lakehouse.write(
        ranked, path, schemas.SCORES,
        where=f"scored_on = '{scored_on.isoformat()}' AND model_name = '{model_name}'",
        partition_by=("scored_on", "model_name"), schema=schemas.SCORES_SCHEMA,
    )
