"""How a DAICE model is fitted, shared by the train job, the model gate and the tune job.

- :func:`fit_model` (with :func:`build_estimator` and :func:`worker_layout`):
  the ``xgboost.spark`` estimator in the training layout;
- :func:`label_weights` and :func:`unlabelled_negatives`: the training rows'
  weights and the positive-unlabelled negatives drawn from ``monthly_features``;
  :func:`training_rows` puts both together for a recipe, drawing from an
  :func:`unlabelled_pool` (the time split's and the tune job's trials);
- :class:`Recipe` and :func:`recipe_of`: the settings a model is fitted with
  (``train.*`` and its numeric inputs), read back from a registered version's
  training run so a recipe can be fitted again on other rows;
- :func:`time_split_of`: the cut-off of a ``training_set`` and whether it can
  judge (the rows on each side), for the time-based validation and the tune job;
- :func:`validate_by_time`: the time-based validation. The rows of a
  ``training_set`` before a cut-off (:class:`ntl_spark.models.TimeSplit`)
  fit one model per recipe, the later ones judge them, with the rules
  baseline on the same rows. The train job reports it for its own recipe; the
  model gate fits the challenger's and the champion's recipes on the same
  early rows and judges both on the same late rows.

Point in time: the early model sees nothing from on or after the cut-off.
Its vocabulary is learned from the early rows, and its never-inspected
negatives come from ``monthly_features`` months *before* the cut-off: the
latest such month and the ``train.unlabelled_months`` offsets before it that
the table holds (:func:`unlabelled_months`; none when it holds no month
before the cut-off: the early model then trains on labelled rows only, and
says so). Customers with any inspection in the training set are never drawn
as unlabelled negatives.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import yaml
from pyspark.ml.functions import vector_to_array
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from ntl_spark import evaluate, models
from ntl_spark.config import TrainConf
from ntl_spark.encoding import CategoricalVocabulary
from ntl_spark.errors import ConfigError, DataError
from ntl_spark.sparkutil import arrow_batch_rows

log = logging.getLogger(__name__)


def with_score(predictions: DataFrame, probability_col: str = "probability") -> DataFrame:
    """Add ``score`` = probability of the positive class from a Spark ML probability vector."""
    return predictions.withColumn("score", vector_to_array(F.col(probability_col))[1])


_ESTIMATOR_CLASS: list[type] = []


def _estimator_class() -> type:
    """SparkXGBClassifier whose workers may run more xgboost threads than ``spark.task.cpus``.

    xgboost.spark refuses ``nthread``/``n_jobs`` and always uses
    ``spark.task.cpus``, a session-wide setting: raising it for training would
    also serialise every other stage sharing the session (local[2] has one slot
    at task.cpus=2). The subclass keeps the documented behaviour when
    ``nthread_per_worker`` is 0.
    """
    if not _ESTIMATOR_CLASS:
        from xgboost.spark import SparkXGBClassifier

        class DaiceXGBClassifier(SparkXGBClassifier):  # type: ignore[misc]
            nthread_per_worker = 0

            def _get_xgb_parameters(self, dataset: DataFrame) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
                booster, train_kwargs, dmatrix = super()._get_xgb_parameters(dataset)
                if self.nthread_per_worker:
                    booster["nthread"] = dmatrix["nthread"] = self.nthread_per_worker
                return booster, train_kwargs, dmatrix

        _ESTIMATOR_CLASS.append(DaiceXGBClassifier)
    return _ESTIMATOR_CLASS[0]


def build_estimator(
    feature_cols: list[str], params: dict[str, Any], num_workers: int, seed: int,
    threads_per_worker: int = 0, callbacks: list[Any] | None = None, weight_col: str | None = None,
) -> Any:
    """The xgboost.spark classifier for DAICE.

    Args:
        feature_cols: model inputs, double columns.
        params: xgboost hyperparameters (``train.params``).
        num_workers: training tasks (a barrier stage: at most the free task slots).
        seed: random_state.
        threads_per_worker: xgboost threads in each worker; 0 = ``spark.task.cpus``.
        callbacks: xgboost training callbacks (pickled to the workers).
    """
    est = _estimator_class()(
        features_col=feature_cols,
        label_col="label",
        num_workers=num_workers,
        missing=float("nan"),
        random_state=seed,
        verbosity=0,
        verbose=False,  # no per-round evaluation log from every worker
        **({"callbacks": callbacks} if callbacks else {}),
        **({"weight_col": weight_col} if weight_col else {}),
        **params,
    )
    est.nthread_per_worker = threads_per_worker
    return est


def worker_layout(spark: SparkSession, tc: TrainConf) -> tuple[int, int]:
    """Training workers and xgboost threads per worker for this session.

    local[N]: ``train.num_workers`` (capped at N) workers sharing the N cores,
    N // workers threads each (two single-thread workers beat one two-thread
    worker on 2 cores, see conf/base.yaml). A cluster keeps xgboost.spark's rule (threads = spark.task.cpus)
    unless ``train.threads_per_worker`` is set.
    """
    slots = spark.sparkContext.defaultParallelism
    workers = min(tc.num_workers, slots)
    if workers < tc.num_workers:
        log.warning("train.num_workers=%d > %d task slots: using %d", tc.num_workers, slots, workers)
    threads = tc.threads_per_worker
    if threads == 0:
        if (spark.sparkContext.master or "").startswith("local"):
            threads = max(1, slots // workers)
        else:
            threads = int(spark.sparkContext.getConf().get("spark.task.cpus", "1"))
    return workers, threads


def label_weights(df: DataFrame, mode: str) -> DataFrame:
    """``df`` with a ``weight`` column for ``train.weighting``.

    ``none``: unchanged (every label counts once). ``ipw``: a campaign label
    weighs 1 / its selection probability (a control-arm label stands for the
    eligible customers the draw left out; a model-arm label, chosen for sure,
    weighs 1); labels outside campaigns weigh 1.

    Raises:
        DataError: ``ipw`` without ``selection_probability`` in the training set.
    """
    if mode == "none":
        return df
    if "selection_probability" not in df.columns:
        raise DataError("train.weighting=ipw: training_set has no selection_probability column: run the outcomes "
                        "job, then features")
    p = F.col("selection_probability")
    return df.withColumn("weight", F.when(p.isNotNull() & (p > 0), 1.0 / p).otherwise(F.lit(1.0)))


def unlabelled_months(available: Iterable[dt.date], anchor: dt.date, offsets: Iterable[int]) -> list[dt.date]:
    """The months unlabelled negatives are drawn at: ``anchor`` minus each offset (months), those ``available``."""
    return sorted(models.months_before(anchor, offsets) & set(available))


def unlabelled_negatives(features: DataFrame, labelled: DataFrame, split: models.CustomerSplit | None, n: int,
                         weight: float, seed: int) -> DataFrame:
    """About ``n`` rows of never-inspected customers of ``features`` (``monthly_features`` months) as negatives.

    Positive-unlabelled training: the labels come from campaigns that chose
    suspicious customers, so a model trained on them alone never sees the
    ordinary population it will rank. Customers without any labelled
    inspection are drawn (by a seeded hash of the customer id, so the draw
    does not depend on partitioning), labelled 0 and given ``weight`` (some of
    them steal unseen). A drawn customer comes at every month ``features``
    holds (drawing several months shows the ordinary population in several
    seasons; ``n`` counts rows). Held-out customers of ``split`` are never drawn, so
    the test split stays labelled inspections only (``split`` None: no
    customer is held out, e.g. the time-based validation, which judges rows
    after a cut-off instead).

    Returns:
        Rows with ``labelled``'s columns (inspection_id and field columns null) and ``weight``.
    """
    pool = features.join(labelled.select("customer_id").distinct(), "customer_id", "left_anti")
    if split is not None:
        pool = split.split(pool)[0]
    total = pool.count()
    if total == 0 or n <= 0:
        return labelled.drop("weight").limit(0).withColumn("weight", F.lit(weight))
    # a hash of the customer, not rand(): the same customers whatever the partitioning (local or cluster)
    drawn = pool.where(models.drawn(f"unlabelled-{seed}", n / total))
    cols = []
    for f in labelled.schema.fields:
        if f.name == "weight":  # labelled rows weighted already (ipw): the drawn rows get ``weight`` below
            continue
        if f.name == "label":
            cols.append(F.lit(0).cast(f.dataType).alias("label"))
        elif f.name in drawn.columns:
            cols.append(F.col(f.name).cast(f.dataType).alias(f.name))
        else:
            cols.append(F.lit(None).cast(f.dataType).alias(f.name))
    return drawn.select(*cols, F.lit(weight).alias("weight"))


def fit_model(
    spark: SparkSession, train_df: DataFrame, feature_cols: list[str], tc: TrainConf,
    callbacks: list[Any] | None = None,
) -> Any:
    """Fit the DAICE estimator on ``train_df`` (label + double ``feature_cols``) with the configured layout.

    ``train_df`` should be cached with one partition per worker (see
    ``run``): xgboost.spark shuffles any other layout into ``num_workers``
    partitions at every fit (a barrier stage cannot read through ``coalesce``).
    Each worker receives its rows in Arrow batches of ``train.arrow_batch_rows``.

    Returns:
        The fitted ``SparkXGBClassifierModel``.
    """
    workers, threads = worker_layout(spark, tc)
    weighted = "weight" in train_df.columns
    data = train_df.select("label", *(["weight"] if weighted else []), *feature_cols)
    est = build_estimator(feature_cols, tc.params, workers, tc.seed, threads, callbacks,
                          weight_col="weight" if weighted else None)
    with arrow_batch_rows(spark, tc.arrow_batch_rows):
        return est.fit(data)


# --------------------------------------------------------------- recipes
# logged by train, as train.<key>
RECIPE_RUN_PARAMS = ("seed", "weighting", "unlabelled_share", "unlabelled_weight", "unlabelled_months")
# What train did before it logged the key (runs that record the unlabelled negatives but not their months
# drew them at the latest monthly_features month only).
IMPLIED_BEFORE_LOGGED: dict[str, Any] = {"unlabelled_months": [0]}


@dataclass(frozen=True)
class Recipe:
    """How a DAICE model is fitted: the ``train.*`` settings and the numeric inputs.

    Attributes:
        train: the settings (xgboost parameters, seed, weighting, unlabelled
            negatives, categorical columns; the layout keys are this session's).
        numeric: the numeric input columns, in order (the encoded categorical
            columns are learned again from the rows the recipe is fitted on).
        from_config: the ``train.*`` keys the model's training run did not
            record, taken from the current configuration instead.
    """

    train: TrainConf
    numeric: tuple[str, ...]
    from_config: tuple[str, ...] = ()

    def same_fit(self, other: Recipe) -> bool:
        """Whether fitting ``other`` on the same rows gives the same model (where its settings came from aside)."""
        return self.train == other.train and self.numeric == other.numeric

    def describe(self) -> str:
        p = self.train
        text = (f"params {dict(sorted(p.params.items()))}, seed {p.seed}, weighting {p.weighting}, "
                f"unlabelled_share {p.unlabelled_share:g} (weight {p.unlabelled_weight:g}, months "
                f"{list(p.unlabelled_months)}), "
                f"{len(self.numeric)} numeric inputs, categorical {list(p.categorical.columns)}")
        return text + (f"; from the config: {', '.join(self.from_config)}" if self.from_config else "")


def _param(text: str) -> Any:
    """An MLflow parameter (text) back as the YAML value it was logged from ("200" -> 200, "0.1" -> 0.1)."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def recipe_of(tc: TrainConf, run_params: Mapping[str, str], model: models.Daice) -> Recipe:
    """The recipe a registered version was trained with.

    The xgboost parameters (``xgb.*``, after ``train.params_from``), seed,
    weighting and unlabelled-negative settings come from the version's
    training run; the numeric inputs and categorical columns from the model
    itself (its input columns and vocabulary). A setting the run does not
    record (a version trained before it was logged) is taken from ``tc`` and
    named in :attr:`Recipe.from_config`; so are the training layout and
    ``train.categorical``'s ``max_levels`` / ``min_count``, which do not
    change what is learned from the same rows much and are not logged.

    Raises:
        ConfigError: a recorded value is not valid for its ``train.*`` key (names the model and the key).
    """
    from_config: list[str] = []
    xgb = {k.removeprefix("xgb."): _param(v) for k, v in run_params.items() if k.startswith("xgb.")}
    if not xgb:
        from_config.append("train.params")
    changes: dict[str, Any] = {"params": xgb or dict(tc.params)}
    for key in RECIPE_RUN_PARAMS:
        if key not in run_params and key in IMPLIED_BEFORE_LOGGED and "unlabelled_share" in run_params:
            changes[key] = IMPLIED_BEFORE_LOGGED[key]
            continue
        if key not in run_params:
            from_config.append(f"train.{key}")
            continue
        kind = type(getattr(tc, key))
        try:
            changes[key] = kind(_param(run_params[key]))
        except (TypeError, ValueError) as e:
            raise ConfigError(f"model {model.name} v{model.version}: its training run records {key}="
                              f"{run_params[key]!r}, not a valid train.{key}") from e
    changes["categorical"] = dataclasses.replace(tc.categorical, columns=list(model.vocabulary.columns))
    recipe = dataclasses.replace(tc, **changes)
    try:
        recipe.validate()
    except ConfigError as e:
        raise ConfigError(f"model {model.name} v{model.version}: its recorded training settings are not valid "
                          f"now: {e}") from e
    return Recipe(recipe, tuple(model.numeric_columns), tuple(from_config))


# ------------------------------------------------------ time-based validation
@dataclass(frozen=True)
class TimeCounts:
    """Rows on each side of a time split: what decides whether it can judge anything."""

    early_rows: int
    early_positives: int
    late_rows: int
    late_positives: int
    late_customers: int

    def problem(self, min_customers: int = 1) -> str | None:
        """Why these rows cannot train and judge a model; None when they can.

        Args:
            min_customers: fewest customers the late rows must hold
                (``validation.blessing.min_held_out_customers`` for the gate).
        """
        if self.late_rows == 0:
            return "no inspections on or after the cut-off"
        if self.early_rows == 0:
            return "no inspections before the cut-off"
        for side, n, pos in (("before", self.early_rows, self.early_positives),
                             ("on or after", self.late_rows, self.late_positives)):
            if pos in (0, n):
                return f"the {n} inspections {side} the cut-off are all {'regular' if pos == 0 else 'irregular'}"
        if self.late_customers < min_customers:
            return (f"only {self.late_customers} customers inspected on or after the cut-off (fewer than "
                    f"{min_customers})")
        return None


@dataclass(frozen=True)
class TimeValidation:
    """Models fitted before a cut-off, judged on the inspections after it; or why there are none.

    Attributes:
        split: the cut-off; None when ``training_set`` has no reference month to cut at.
        problem: why no model was judged (see :meth:`TimeCounts.problem`); None when they were.
        counts: rows on each side; None without a split.
        late: the judged rows (``inspection_id``, ``customer_id``, ``label``,
            ``rule_score`` when the rows carry the rule's inputs) and one
            ``score_<name>`` column per recipe; empty when ``problem`` is set.
        unlabelled: never-inspected negatives each recipe's early model trained with.
        unlabelled_months: the ``monthly_features`` months they were drawn from; empty when none were.
        negatives: where the early models' negatives came from, in words.
    """

    split: models.TimeSplit | None
    problem: str | None
    counts: TimeCounts | None = None
    late: pd.DataFrame = field(default_factory=pd.DataFrame)
    unlabelled: dict[str, int] = field(default_factory=dict)
    unlabelled_months: tuple[dt.date, ...] = ()
    negatives: str = ""

    @property
    def judged(self) -> bool:
        return self.problem is None

    def metrics(self, name: str, threshold: float, campaign_size: int) -> dict[str, float]:
        """Recipe ``name``'s metrics on the late rows, and the rule's on the same rows.

        Returns:
            :func:`evaluate.binary_metrics` at min(campaign size, rows), then
            ``rule_precision_at_k``, ``rule_pr_auc`` and ``lift_over_rule``
            (:func:`evaluate.lift_over_rule`, when the rule could score the
            rows), ``n_train`` (labelled early rows) and ``n_unlabelled``.

        Raises:
            ValueError: nothing was judged, or no recipe ``name`` was fitted.
        """
        from ntl_spark import rules

        column = f"score_{name}"
        if self.problem is not None or column not in self.late.columns:
            raise ValueError(f"time-based validation has no scores for {name!r}: {self.problem or 'not fitted'}")
        y, s = self.late["label"].to_numpy(dtype=int), self.late[column].to_numpy(dtype=float)
        k = min(campaign_size, len(y))
        out = evaluate.binary_metrics(y, s, threshold, k)
        if rules.RULE_SCORE in self.late.columns:
            out.update(evaluate.lift_over_rule(y, s, self.late[rules.RULE_SCORE].to_numpy(dtype=float), k))
        if self.counts is not None:
            out["n_train"] = float(self.counts.early_rows)
        out["n_unlabelled"] = float(self.unlabelled.get(name, 0))
        return out

    def describe(self) -> str:
        """One line: the cut-off and the rows, or why nothing was judged."""
        if self.split is None:
            return f"no time-based validation: {self.problem}"
        c = self.counts
        rows = (f"; {c.early_rows} inspections before train, {c.late_rows} ({c.late_customers} customers, "
                f"{c.late_positives} irregular) judge") if c is not None else ""
        text = f"cut-off {self.split.cutoff.isoformat()}: {self.split.describe()}{rows}"
        return f"{text}: not judged, {self.problem}" if self.problem else f"{text}; {self.negatives}"

    def to_dict(self) -> dict[str, Any]:
        return {"split": self.split.to_dict() if self.split else None, "problem": self.problem,
                "counts": dataclasses.asdict(self.counts) if self.counts else None,
                "unlabelled": dict(self.unlabelled),
                "unlabelled_months": [m.isoformat() for m in self.unlabelled_months],
                "definition": self.describe()}


def time_counts(split: models.TimeSplit, training_set: DataFrame) -> TimeCounts:
    """Rows, irregular rows and (late side) customers on each side of ``split``, in one Spark job."""
    rows = {r["late"]: r for r in training_set.groupBy(split.is_late().alias("late")).agg(
        F.count(F.lit(1)).alias("n"), F.sum(F.col("label").cast("long")).alias("pos"),
        F.countDistinct("customer_id").alias("customers")).collect()}

    def side(late: bool, what: str) -> int:
        row = rows.get(late)
        return int(row[what] or 0) if row is not None else 0

    return TimeCounts(side(False, "n"), side(False, "pos"), side(True, "n"), side(True, "pos"),
                      side(True, "customers"))


def time_split_of(
    training_set: DataFrame, months: int, min_customers: int = 1,
) -> tuple[models.TimeSplit | None, TimeCounts | None, str | None]:
    """The time split of ``training_set``'s last ``months`` reference months, its rows, and why it cannot judge.

    Args:
        training_set: labelled rows (customer_id, label, reference_month).
        months: validation months (``train.time_validation_months``); 0 = none.
        min_customers: fewest customers the late rows must hold.

    Returns:
        (split, counts, problem): ``problem`` is None when the split can train
        and judge a model; otherwise it says why not (0 months, no
        ``reference_month`` column, no rows, :meth:`TimeCounts.problem`), and
        ``split`` / ``counts`` are None where they could not be computed.
    """
    if months < 1:
        return None, None, "train.time_validation_months is 0"
    if "reference_month" not in training_set.columns:
        return None, None, "training_set has no reference_month column"
    split = models.TimeSplit.ending(training_set, months)
    if split is None:
        return None, None, "training_set has no rows"
    counts = time_counts(split, training_set)
    problem = counts.problem(min_customers)
    if problem is not None:
        log.warning("no time-based validation at cut-off %s: %s", split.cutoff, problem)
    return split, counts, problem


@dataclass(frozen=True)
class UnlabelledPool:
    """The never-inspected customers' ``monthly_features`` rows that unlabelled negatives are drawn from.

    Attributes:
        rows: ``monthly_features`` rows of customers without any inspection in the training set.
        months: the months ``rows`` hold, oldest first (a recipe draws at its
            ``unlabelled_months`` offsets from the latest of them).
    """

    rows: DataFrame
    months: list[dt.date]

    def drawn_at(self, offsets: Iterable[int]) -> list[dt.date]:
        """The months a recipe with these ``unlabelled_months`` offsets draws at."""
        return unlabelled_months(self.months, self.months[-1], offsets)


def unlabelled_pool(features: DataFrame, training_set: DataFrame, before: dt.date | None) -> UnlabelledPool | None:
    """The rows of ``features`` that never-inspected negatives may be drawn from; None when it holds no month.

    Args:
        features: ``monthly_features`` (every month it holds).
        training_set: the labelled rows; none of their customers is ever drawn.
        before: keep only the months before this one (a time split's cut-off:
            the early model must not see the future); None = every month.
    """
    rows = features if before is None else features.where(F.col("reference_month") < F.lit(before))
    held = models.reference_months(rows)
    if not held:
        return None
    inspected = training_set.select("customer_id").distinct()
    return UnlabelledPool(rows.join(inspected, "customer_id", "left_anti"), held)


def training_rows(labelled: DataFrame, tc: TrainConf, pool: UnlabelledPool | None) -> DataFrame:
    """The rows a recipe fits on: ``labelled`` weighted by ``train.weighting``, and its unlabelled negatives.

    With ``train.unlabelled_share`` > 0 and a ``pool``, about ``unlabelled_share``
    never-inspected rows per labelled row are added (:func:`unlabelled_negatives`,
    no customer held out), drawn at the recipe's ``unlabelled_months`` offsets
    from the pool's latest month, each weighing ``unlabelled_weight``; the
    labelled rows then carry a ``weight`` column too (1 unless ``ipw``).
    Customers inspected on either side of a split are not in the pool, so
    nothing is held out here.
    """
    data = label_weights(labelled, tc.weighting)
    if pool is None or tc.unlabelled_share <= 0:
        return data
    want = int(round(tc.unlabelled_share * data.count()))
    extra = unlabelled_negatives(pool.rows.where(F.col("reference_month").isin(pool.drawn_at(tc.unlabelled_months))),
                                 data, None, want, tc.unlabelled_weight, tc.seed)
    if "weight" not in data.columns:
        data = data.withColumn("weight", F.lit(1.0))
    return data.unionByName(extra)


def validate_by_time(
    spark: SparkSession, training_set: DataFrame, months: int, recipes: Mapping[str, Recipe], rules_conf: Any,
    features: DataFrame | None = None, min_customers: int = 1,
) -> TimeValidation:
    """Fit each recipe on the inspections before a cut-off, score the later ones.

    The cut-off is ``months`` months before the last reference month of
    ``training_set`` (:class:`models.TimeSplit`). Every recipe is fitted on
    the same early rows (a recipe that fits the same model as an earlier one
    is not fitted twice) and scores the same late rows; the rule scores them
    too. A recipe with ``unlabelled_share`` > 0 also trains with
    never-inspected customers of ``features``' months before the cut-off:
    the latest and its ``unlabelled_months`` offsets (see the module docstring).

    Args:
        training_set: labelled rows (customer_id, inspection_id, label,
            reference_month, the recipes' inputs; C1..CN for the rule).
        months: validation months (``train.time_validation_months``); 0 = none.
        recipes: name -> recipe; each name gets a ``score_<name>`` column.
        rules_conf: the ``rules`` section (the baseline).
        features: ``monthly_features`` (every month it holds), or None: labelled rows only.
        min_customers: fewest customers the late rows must hold.

    Returns:
        The judged rows, or the reason nothing could be judged (never raises for that).
    """
    from ntl_spark import rules

    split, counts, problem = time_split_of(training_set, months, min_customers)
    if split is None or problem is not None:
        return TimeValidation(split, problem, counts)
    early, late = split.split(training_set)

    pool: UnlabelledPool | None = None
    negatives = "labelled inspections only (no recipe draws unlabelled negatives)"
    if features is None and any(r.train.unlabelled_share > 0 for r in recipes.values()):
        negatives = "labelled inspections only (no monthly_features to draw unlabelled negatives from)"
    if features is not None and any(r.train.unlabelled_share > 0 for r in recipes.values()):
        pool = unlabelled_pool(features, training_set, split.cutoff)
        if pool is not None:
            drawn = _pool_months(pool, [r for r in recipes.values() if r.train.unlabelled_share > 0])
            negatives = f"never-inspected negatives from monthly_features {', '.join(m.isoformat() for m in drawn)}"
        else:
            negatives = "labelled inspections only (monthly_features holds no month before the cut-off)"
            log.warning("time-based validation: monthly_features holds no month before the cut-off %s: "
                        "the early models train on labelled inspections only", split.cutoff)

    judged = late
    with_rule = rules.has_inputs(late.columns, rules_conf.recent_months)
    if with_rule:
        judged = rules.rule_scores(late, rules_conf.recent_months, rules_conf.zero_kwh, rules_conf.min_zero_run)
    base: Any = judged.select("inspection_id", "customer_id", F.col("label").cast("int").alias("label"),
                              *([rules.RULE_SCORE] if with_rule else [])).toPandas()
    base = base.sort_values("inspection_id").reset_index(drop=True)
    unlabelled: dict[str, int] = {}
    fitted: list[tuple[str, Recipe]] = []
    for name, recipe in recipes.items():
        same = next((n for n, r in fitted if r.same_fit(recipe)), None)
        if same is not None:
            base[f"score_{name}"], unlabelled[name] = base[f"score_{same}"], unlabelled[same]
            continue
        scores, unlabelled[name] = _fit_before(spark, early, late, recipe, pool)
        base = base.merge(scores.rename(columns={"score": f"score_{name}"}), on="inspection_id", how="left")
        fitted.append((name, recipe))
    used = tuple(_pool_months(pool, [r for n, r in recipes.items() if unlabelled.get(n)])) if pool else ()
    return TimeValidation(split, None, counts, base, unlabelled, used, negatives)


def _pool_months(pool: UnlabelledPool, recipes: list[Recipe]) -> list[dt.date]:
    """The months of ``pool`` the ``recipes`` draw negatives at, oldest first."""
    return sorted({m for r in recipes for m in pool.drawn_at(r.train.unlabelled_months)})


def _fit_before(spark: SparkSession, early: DataFrame, late: DataFrame, recipe: Recipe,
                pool: UnlabelledPool | None) -> tuple[pd.DataFrame, int]:
    """Fit ``recipe`` on ``early`` (+ negatives drawn from ``pool``); (inspection_id, score) of ``late``, negatives.

    ``pool``: the never-inspected ``monthly_features`` rows before the cut-off
    (:func:`training_rows` draws the recipe's negatives from it).
    """
    tc = recipe.train
    categorical = list(tc.categorical.columns)
    raw = list(dict.fromkeys(["region", *categorical]))
    missing = [c for c in [*raw, *recipe.numeric] if c not in early.columns]
    if missing:
        raise DataError(f"training_set lacks column(s) {missing} that the recipe reads: rebuild it with the "
                        f"features job (features.months must match the model's)")
    field_cols = [c for c in ("selection_probability",) if c in early.columns]
    numeric = [F.col(c).cast("double").alias(c) for c in recipe.numeric]
    labelled = early.select("customer_id", "inspection_id", "label", "reference_month", *raw, *field_cols, *numeric)
    data = training_rows(labelled, tc, pool)
    workers, _ = worker_layout(spark, tc)
    data = data.repartition(workers).cache()
    try:
        n_unlabelled = data.where(F.col("inspection_id").isNull()).count() if pool is not None else 0
        cc = tc.categorical
        vocabulary = CategoricalVocabulary.fit(data, categorical, cc.max_levels, cc.min_count)
        cols = list(recipe.numeric) + vocabulary.feature_columns
        model = fit_model(spark, vocabulary.transform(data), cols, tc)
        judged = vocabulary.transform(late.select("inspection_id", *raw, *numeric))
        scores = with_score(model.transform(judged)).select("inspection_id", "score").toPandas()
    finally:
        data.unpersist()
    return scores, n_unlabelled

