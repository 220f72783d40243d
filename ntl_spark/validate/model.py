"""Model gate: a challenger against the current champion, on a random and on a time-based split.

In: the registered model ``model.name`` at alias ``model.challenger`` and at
alias ``model.champion`` (may not exist yet); the ``training_set`` Delta table;
``monthly_features`` (the scoring month; earlier months, when it holds them,
for the time split's unlabelled negatives). Two splits, both computed and
reported; ``validation.blessing.split`` says whose metrics decide:

- random: the registered models themselves on the same rows, the customers
  held out by *each* model, each split rebuilt from what its training
  recorded (``models.CustomerSplit``: salt and fraction in the model's
  metadata, not the current config), so neither model is judged on a customer
  it trained on. Fewer such customers than
  ``validation.blessing.min_held_out_customers`` -> no verdict (``DataError``).
- time (the default): what production faces, later inspections. The
  registered models trained on rows of every month, so neither can be judged
  on late inspections as it stands; instead each one's *recipe* (its
  training run's recorded xgboost parameters, seed, weighting and unlabelled
  negatives, its input columns and categorical columns:
  ``fitting.recipe_of``) is fitted again on the inspections before the
  cut-off (last reference month - ``train.time_validation_months`` + 1) and
  both are judged on the same inspections on or after it, beside the rule on
  the same rows (``fitting.validate_by_time``, the function train's own
  time-based report uses). This is the one honest comparison that needs no
  knowledge of which rows a champion trained on: the same early rows train
  both recipes, the same late rows judge them, and nothing is judged on a row
  it trained on. A recipe that fits the same model as the other (same
  settings, same inputs) is fitted once. When the time split cannot judge
  (no inspections after the cut-off, one class on a side, fewer late
  customers than ``min_held_out_customers``, ``time_validation_months`` 0, or
  a recipe that cannot be read back) the random split decides and the
  reasons, the report and the decision record say so.

Out: a decision (blessed or refused, with reasons) under the policy in
``validation.blessing`` (PR-AUC floor, lift over the rule floor, allowed
drops against the champion, all on the deciding split); only a blessed
challenger gets the champion alias. Evidence is logged as a run in the
validation experiment: PR-AUC, ROC-AUC, precision at the campaign size
(overall and per region) of both models on the random split, the same for
both recipes and the rule on the time split (``time.*``), the agreement of
the models' rankings (Spearman, Kendall, top-k overlap, a heat map of rank
positions), the challenger's score PSI between held-out and scoring data, an
HTML report and ``decision.json``. The decision is kept
(``ntl_spark.registry``): tags on the challenger version
(``validation.decision``, ``validation.reasons``,
``validation.champion_version``, ``validation.run_id``,
``validation.held_out``, ``validation.held_out_customers``,
``validation.split``, ``validation.time_split``) and a row in the
append-only Delta table ``model_decisions`` (metrics of both models on both
splits, the deciding split, held-out rows and customers, the held-out
definition and the time split's, data versions).
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import reduce
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from ntl_spark import evaluate, fitting, lakehouse, models, registry, schemas, tracking
from ntl_spark.config import BlessingConf, Config
from ntl_spark.errors import ConfigError, DataError, MissingInputError
from ntl_spark.validate import drift as drift_
from ntl_spark.validate.data import experiment_name, report_dir
from ntl_spark.validate.report import Report, pyplot

log = logging.getLogger(__name__)

HEADLINE = ("pr_auc", "roc_auc", "precision_at_k", "recall_at_k", "f1")
# kept in model_decisions for the time split: the headline, the rule on the same rows, the rows judged
TIME_HEADLINE = (*HEADLINE, "lift_over_rule", "rule_precision_at_k", "n", "positives")


@dataclass
class Decision:
    """The blessing policy's verdict on a challenger."""

    blessed: bool
    challenger: str  # version
    champion: str | None  # version, None when there was no champion
    reasons: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return "blessed" if self.blessed else "refused"


# ------------------------------------------------------------------ transforms
def held_out_by_all(training_set: DataFrame, splits: Mapping[str, models.CustomerSplit]) -> DataFrame:
    """The rows of ``training_set`` whose customer every split in ``splits`` held out (no model trained on it)."""
    if not splits:
        raise ValueError("held_out_by_all: no splits")
    return training_set.where(reduce(lambda a, b: a & b, [s.is_held_out() for s in splits.values()]))


def held_out_definition(splits: Mapping[str, models.CustomerSplit]) -> str:
    """How the judged customers were chosen, in one line (kept with the decision)."""
    return "customers held out by " + " and ".join(f"{who} [{s.describe()}]" for who, s in splits.items())


def model_split(client: Any, ref: tracking.ModelRef, model: models.Daice) -> models.CustomerSplit:
    """The customers ``ref`` held out at training, as its training recorded them.

    The split saved in the model's metadata; for a version registered before
    that, the ``seed`` and ``test_fraction`` parameters of its training run
    (train then split by ``xxhash64(customer_id, seed)``: rebuilt exactly).

    Raises:
        ConfigError: neither is recorded: which customers the model trained on is unknown.
    """
    if model.split is not None:
        return model.split
    params = client.get_run(ref.run_id).data.params if ref.run_id else {}
    seed, fraction = params.get("seed"), params.get("test_fraction")
    if seed is None or fraction is None:
        raise ConfigError(
            f"model {ref.name} v{ref.version} records no held-out split (no 'split' metadata, no seed/test_fraction "
            f"on its training run {ref.run_id or '-'}): the customers it trained on are unknown, so it cannot be "
            f"judged fairly; retrain it with the train job (or move the alias to a version that records it)")
    try:
        return models.CustomerSplit(seed, float(fraction), models.SEEDED)
    except ValueError as e:
        raise ConfigError(f"model {ref.name} v{ref.version}: training run {ref.run_id} has an unusable split "
                          f"(seed={seed!r}, test_fraction={fraction!r}): {e}") from e


def predict_labelled(df: DataFrame, model_bytes: Any, feature_cols: list[str], keys: Sequence[str]) -> DataFrame:
    """``keys`` columns plus ``score`` for every row of ``df`` (native booster inside ``mapInPandas``).

    Args:
        df: rows with ``keys`` and ``feature_cols``.
        model_bytes: broadcast variable holding the booster's raw (UBJSON) bytes.
        feature_cols: model inputs in training order.
        keys: columns carried through (e.g. inspection_id, customer_id, region, label).
    """
    key_fields = [df.schema[k] for k in keys]
    schema = T.StructType([T.StructField(f.name, f.dataType, True) for f in key_fields]
                          + [T.StructField("score", T.DoubleType(), False)])

    def infer(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        booster = models.worker_booster(model_bytes.value)
        for pdf in batches:
            x = pdf[feature_cols].to_numpy(dtype=np.float32, na_value=np.nan)
            out = pdf[list(keys)].copy()
            out["score"] = booster.inplace_predict(x, missing=np.nan).astype(float)
            yield out

    return df.select(*keys, *[F.col(c).cast("double") for c in feature_cols]).mapInPandas(
        infer, schema  # type: ignore[arg-type]
    )


def ranking_agreement(a: np.ndarray, b: np.ndarray, k: int) -> dict[str, float]:
    """How alike two rankings of the same rows are.

    Returns:
        spearman and kendall (rank correlations of the scores), topk_overlap
        (share of model a's top ``k`` that is also in model b's top ``k``).
    """
    from scipy import stats

    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if len(a) != len(b):
        raise ValueError(f"ranking_agreement: {len(a)} scores vs {len(b)}")
    if len(a) < 2:
        return {"spearman": float("nan"), "kendall": float("nan"), "topk_overlap": float("nan")}
    k = max(1, min(k, len(a)))
    top_a = set(np.argsort(-a, kind="stable")[:k])
    top_b = set(np.argsort(-b, kind="stable")[:k])
    return {
        "spearman": float(stats.spearmanr(a, b).statistic),
        "kendall": float(stats.kendalltau(a, b).statistic),
        "topk_overlap": len(top_a & top_b) / k,
    }


def rank_positions(scores: np.ndarray) -> np.ndarray:
    """1 = highest score (ties by position)."""
    order = np.argsort(-np.asarray(scores, dtype=float), kind="stable")
    ranks = np.empty(len(order), dtype=int)
    ranks[order] = np.arange(1, len(order) + 1)
    return ranks


def rank_heatmap(a: np.ndarray, b: np.ndarray, bins: int, names: tuple[str, str], path: Path | str) -> Path:
    """Heat map of the rank positions of the same rows under two models (counts per rank-bin pair)."""
    plt = pyplot()
    ra, rb = rank_positions(a), rank_positions(b)
    n = len(ra)
    edges = np.linspace(0.5, n + 0.5, min(bins, max(n, 1)) + 1)
    grid, _, _ = np.histogram2d(ra, rb, bins=[edges, edges])  # type: ignore[list-item]
    fig, ax = plt.subplots(figsize=(5.6, 4.8))
    im = ax.imshow(grid.T, origin="lower", cmap="viridis", extent=(0.5, n + 0.5, 0.5, n + 0.5), aspect="auto")
    ax.plot([0.5, n + 0.5], [0.5, n + 0.5], color="white", linestyle=":", linewidth=1)
    ax.set(xlabel=f"rank by {names[0]} (1 = inspect first)", ylabel=f"rank by {names[1]}",
           title=f"Rank positions on the held-out set (n={n})")
    fig.colorbar(im, ax=ax, label="rows")
    return evaluate.save_figure(fig, path, dpi=100)


def gating_split(policy: BlessingConf, time_problem: str | None) -> tuple[str, str | None]:
    """The split whose metrics decide, and why it is not the one the policy asks for (None when it is).

    Args:
        policy: ``validation.blessing`` (``split``: time or random).
        time_problem: why the time split judged nothing (:attr:`fitting.TimeValidation.problem`); None when it did.
    """
    if policy.split == "random":
        return "random", None
    if time_problem is None:
        return "time", None
    return "random", f"time split unavailable ({time_problem}): the random customer split decides"


def decide(
    policy: BlessingConf,
    challenger_version: str,
    challenger: dict[str, float],
    champion_version: str | None,
    champion: dict[str, float] | None,
    score_drift_level: str = "ok",
    split: str = "random",
) -> Decision:
    """Apply the blessing policy to the metrics of the deciding split.

    A challenger is blessed when its PR-AUC reaches ``min_pr_auc``, its
    ``lift_over_rule`` (when the rule could score the rows) reaches
    ``min_lift_over_rule`` (0 = not checked) and, if there is a champion, its
    PR-AUC and precision at the campaign size are not worse than the
    champion's by more than ``max_pr_auc_drop`` / ``max_precision_at_k_drop``;
    with ``block_on_score_drift``, a score PSI at the block level refuses it too.

    Args:
        challenger, champion: metrics on the deciding split (``binary_metrics``, ``lift_over_rule``).
        split: its name (``time`` or ``random``), said in every reason it gives.
    """
    d = Decision(True, challenger_version, champion_version)
    pr = challenger.get("pr_auc", float("nan"))
    if not pr >= policy.min_pr_auc:  # NaN (one class only) refuses too
        d.blessed = False
        d.reasons.append(f"{split} split: PR-AUC {pr:.4f} below the floor {policy.min_pr_auc:g}")
    if policy.min_lift_over_rule > 0:
        lift = challenger.get("lift_over_rule")
        if lift is None or np.isnan(lift):  # no rule inputs, or the rule's top k holds no irregular one
            d.reasons.append(f"{split} split: lift over the rule undefined on these rows: min_lift_over_rule "
                             f"not applied")
        elif lift < policy.min_lift_over_rule:
            d.blessed = False
            d.reasons.append(f"{split} split: lift over the rule {lift:.2f}x below the floor "
                             f"{policy.min_lift_over_rule:g}x")
    if champion is not None:
        for metric, drop in (("pr_auc", policy.max_pr_auc_drop), ("precision_at_k", policy.max_precision_at_k_drop)):
            c, h = challenger.get(metric, float("nan")), champion.get(metric, float("nan"))
            if not c >= h - drop:
                d.blessed = False
                d.reasons.append(f"{split} split: {metric} {c:.4f} is worse than the champion's {h:.4f} by more "
                                 f"than {drop:g}")
            else:
                d.reasons.append(f"{split} split: {metric} {c:.4f} vs champion {h:.4f} (allowed drop {drop:g}): ok")
    else:
        d.reasons.append(f"no champion yet: the PR-AUC floor decides ({split} split)")
    if policy.block_on_score_drift and score_drift_level == "block":
        d.blessed = False
        d.reasons.append("score distribution on the scoring month drifted beyond the block threshold")
    return d


# ------------------------------------------------------------------------- run
def champion_ref(client: Any, name: str, alias: str) -> tracking.ModelRef | None:
    """The model version under ``alias``, or None when the alias is not set."""
    if tracking.alias_version(client, name, alias) is None:
        return None
    return tracking.resolve(client, name, alias)


def time_headline(metrics: Mapping[str, float] | None) -> dict[str, float] | None:
    """The time split's metrics kept in ``model_decisions`` (None when that model was not judged on it)."""
    return {m: metrics[m] for m in TIME_HEADLINE if m in metrics} if metrics is not None else None


def time_split(
    spark: SparkSession, cfg: Config, client: Any, training_set: DataFrame, features: DataFrame | None,
    judged: Mapping[str, tuple[tracking.ModelRef, models.Daice]],
) -> tuple[fitting.TimeValidation, dict[str, fitting.Recipe]]:
    """Each judged model's recipe fitted on the inspections before the cut-off, scored on the later ones.

    The recipes are read back from each version's training run
    (:func:`fitting.recipe_of`); the cut-off is the one train reports
    (``train.time_validation_months``), the late rows must hold
    ``validation.blessing.min_held_out_customers`` customers.

    Args:
        judged: role (challenger, champion) -> the registered version and its loaded model.

    Returns:
        The time validation (its ``problem`` says why nothing was judged) and the recipes by role.
    """
    try:
        recipes = {role: fitting.recipe_of(cfg.train, dict(client.get_run(ref.run_id).data.params)
                                           if ref.run_id else {}, model) for role, (ref, model) in judged.items()}
    except ConfigError as e:
        log.warning("no time split: %s", e)
        return fitting.TimeValidation(None, f"a recipe cannot be fitted again ({e})"), {}
    return fitting.validate_by_time(spark, training_set, cfg.train.time_validation_months, recipes, cfg.rules,
                                    features, cfg.validation.blessing.min_held_out_customers), recipes


def _scores(spark: SparkSession, df: DataFrame, model: models.Daice, keys: Sequence[str], table: str) -> pd.DataFrame:
    inputs = models.model_inputs(df, model, table)
    model_bytes = spark.sparkContext.broadcast(bytes(model.booster.save_raw("ubj")))
    try:
        return predict_labelled(inputs, model_bytes, model.feature_columns, keys).toPandas()
    finally:
        model_bytes.unpersist()


def run(spark: SparkSession, cfg: Config) -> dict[str, Any]:
    """Compare the challenger with the champion, decide, set the alias if blessed, log the evidence.

    Returns:
        blessed, challenger and champion versions, the model reference to score with,
        reasons, metrics, the MLflow run id and the report path.
    """
    from ntl_spark.validate.data import reference_month

    policy = cfg.validation.blessing
    name, challenger_alias, champion_alias = cfg.model.name, cfg.model.challenger, cfg.model.champion
    client = tracking.setup(cfg, experiment=experiment_name(cfg))
    if tracking.alias_version(client, name, challenger_alias) is None:
        raise MissingInputError(f"registered model '{name}' has no challenger (alias '{challenger_alias}'): "
                                f"run train first")
    challenger = tracking.resolve(client, name, challenger_alias)
    champion = champion_ref(client, name, champion_alias)
    ch_model = models.load_daice(challenger)
    cp_model = models.load_daice(champion) if champion is not None else None
    splits = {f"challenger v{challenger.version}": model_split(client, challenger, ch_model)}
    if champion is not None and cp_model is not None:
        splits[f"champion v{champion.version}"] = model_split(client, champion, cp_model)
    definition = held_out_definition(splits)

    ts_path = cfg.paths.table(schemas.TRAINING_SET)
    ts_pinned = lakehouse.read_pinned(spark, ts_path, schemas.TRAINING_SET, "features")
    training_set, ts_version = ts_pinned.df, ts_pinned.version
    ts_lineage = lakehouse.lineage_of(training_set) if schemas.LINEAGE_COLUMN in training_set.columns else {}
    test = held_out_by_all(training_set, splits)
    keys = ["inspection_id", "customer_id", "region", "label"]
    ch = _scores(spark, test, ch_model, keys, schemas.TRAINING_SET).sort_values("inspection_id").reset_index(drop=True)
    n_customers = int(ch["customer_id"].nunique())
    if n_customers < policy.min_held_out_customers:
        raise DataError(
            f"only {n_customers} customers of training_set v{ts_version} are held out by both models "
            f"(validation.blessing.min_held_out_customers={policy.min_held_out_customers}): no verdict on "
            f"{name} v{challenger.version}. Held out: {definition}. Retrain the challenger with the champion's "
            f"train.split_salt, or a larger train.test_fraction")
    y = ch["label"].to_numpy(dtype=int)
    k = min(cfg.train.campaign_size, len(y))
    m_ch = evaluate.binary_metrics(y, ch["score"].to_numpy(), cfg.train.threshold, k)
    region_rows = [{"model": f"challenger v{challenger.version}", **r}
                   for r in evaluate.metrics_by_group(ch, "region", cfg.train.threshold, k)]
    m_cp: dict[str, float] | None = None
    agreement: dict[str, float] = {}
    cp = None
    if champion is not None and cp_model is not None:
        cp = _scores(spark, test, cp_model, keys, schemas.TRAINING_SET).sort_values("inspection_id").reset_index(drop=True)
        m_cp = evaluate.binary_metrics(cp["label"].to_numpy(dtype=int), cp["score"].to_numpy(), cfg.train.threshold, k)
        region_rows += [{"model": f"champion v{champion.version}", **r}
                        for r in evaluate.metrics_by_group(cp, "region", cfg.train.threshold, k)]
        agreement = ranking_agreement(ch["score"].to_numpy(), cp["score"].to_numpy(), k)
    # the rules baseline on the same held-out rows ("lift over the rule")
    vs_rule = rule_comparison(test, cfg, {"challenger": ch, **({"champion": cp} if cp is not None else {})}, k)

    mf_path = cfg.paths.table(schemas.MONTHLY_FEATURES)
    mf_pinned = lakehouse.read_optional(spark, mf_path)
    # the time split: both recipes fitted on the inspections before the cut-off, judged on the later ones
    timed, recipes = time_split(spark, cfg, client, training_set, mf_pinned.df if mf_pinned else None,
                                {"challenger": (challenger, ch_model),
                                 **({"champion": (champion, cp_model)} if champion and cp_model else {})})
    t_ch = timed.metrics("challenger", cfg.train.threshold, cfg.train.campaign_size) if timed.judged else None
    t_cp = timed.metrics("champion", cfg.train.threshold, cfg.train.campaign_size) \
        if timed.judged and "champion" in recipes else None
    used, fallback = gating_split(policy, timed.problem)

    # the challenger's scores: held-out vs the scoring month
    score_drift = None
    if mf_pinned is not None:
        feats = mf_pinned.df
        month = reference_month(feats, cfg.features.reference_month)
        scoring = feats.where(F.col("reference_month") == F.lit(month))
        sc = _scores(spark, scoring, ch_model, ["customer_id"], schemas.MONTHLY_FEATURES)
        dc = cfg.validation.drift
        score_drift = drift_.array_drift(ch["score"].to_numpy(), sc["score"].to_numpy(), dc.bins,
                                         dc.score_psi_warn, dc.score_psi_block)

    if used == "time" and t_ch is not None:
        gate_ch, gate_cp = t_ch, t_cp
    else:
        gate_ch = {**m_ch, **({"lift_over_rule": vs_rule["challenger_lift_over_rule"]} if vs_rule else {})}
        gate_cp = {**m_cp, **({"lift_over_rule": vs_rule["champion_lift_over_rule"]} if vs_rule else {})} \
            if m_cp is not None else None
    decision = decide(policy, challenger.version, gate_ch, champion.version if champion else None, gate_cp,
                      score_drift.level if score_drift else "ok", split=used)
    if fallback is not None:
        decision.reasons.insert(0, fallback)
    if champion is not None and champion.version == challenger.version:
        decision.reasons.insert(0, f"version {challenger.version} already holds @{champion_alias}")
    time_rule: dict[str, float] = {m: t_ch[m] for m in ("rule_precision_at_k", "rule_pr_auc") if t_ch and m in t_ch}
    if time_rule and t_ch is not None:
        time_rule.update({f"{role}_lift_over_rule": t["lift_over_rule"] for role, t in
                          (("challenger", t_ch), ("champion", t_cp)) if t is not None})

    run_tag = uuid.uuid4().hex[:12]
    folder = report_dir(cfg, run_tag)
    folder.mkdir(parents=True, exist_ok=True)
    evidence = {
        "decision": decision.label, "blessed": decision.blessed, "reasons": decision.reasons,
        "model_name": name, "challenger": {"ref": challenger_alias, "version": challenger.version, "metrics": m_ch},
        "champion": {"alias": champion_alias, "version": champion.version, "metrics": m_cp} if champion else None,
        "ranking_agreement": agreement, "campaign_size": k, "held_out_rows": len(y),
        "held_out": {"definition": definition, "customers": n_customers, "rows": len(y),
                     "splits": {who: s.to_dict() for who, s in splits.items()}},
        "training_set_version": ts_version,
        "score_drift": {"psi": score_drift.psi, "level": score_drift.level} if score_drift else None,
        "policy": {f: getattr(policy, f) for f in policy.__dataclass_fields__},
        "rule": vs_rule,
        "split": {"requested": policy.split, "used": used, "fallback": fallback},
        "time": {**timed.to_dict(), "recipes": {role: r.describe() for role, r in recipes.items()},
                 "challenger": t_ch, "champion": t_cp, "rule": time_rule, "campaign_size":
                 min(cfg.train.campaign_size, timed.counts.late_rows) if timed.counts else None},
    }
    (folder / "decision.json").write_text(json.dumps(evidence, indent=1, default=float))
    (folder / "metrics_by_region.json").write_text(json.dumps(region_rows, indent=1, default=float))
    series = {f"challenger v{challenger.version}": (y, ch["score"].to_numpy())}
    if cp is not None and champion is not None:
        series[f"champion v{champion.version}"] = (cp["label"].to_numpy(dtype=int), cp["score"].to_numpy())
        rank_heatmap(ch["score"].to_numpy(), cp["score"].to_numpy(), policy.heatmap_bins,
                     (f"challenger v{challenger.version}", f"champion v{champion.version}"), folder / "rank_heatmap.png")
    evaluate.plot_curves(series, folder / "curves.png", f"{name}: held out by both (n={len(y)})")
    report = model_report(name, decision, evidence, region_rows, folder, score_drift).write(folder / "model_report.html")

    with mlflow.start_run(run_name=f"model-{name}-v{challenger.version}-vs-"
                                   f"{'v' + champion.version if champion else 'none'}") as run_:
        mlflow.set_tags({"validation.kind": "model", "validation.decision": decision.label,
                         "model_name": name, "challenger_version": challenger.version,
                         "champion_version": champion.version if champion else "",
                         "held_out.definition": definition, "validation.split": used,
                         "time.definition": timed.describe()})
        mlflow.log_params({"data.training_set.version": ts_version, "campaign_size": k, "split.used": used,
                           **({"time.cutoff": timed.split.cutoff.isoformat()} if timed.split else {}),
                           "held_out.customers": n_customers, "held_out.rows": len(y),
                           **{f"held_out.split.{who.split()[0]}": s.describe() for who, s in splits.items()},
                           **{f"policy.{f}": getattr(policy, f) for f in policy.__dataclass_fields__}})
        metrics = {f"challenger.{m}": v for m, v in m_ch.items()}
        if m_cp:
            metrics.update({f"champion.{m}": v for m, v in m_cp.items()})
        metrics.update(agreement)
        metrics.update({f"rule.{m}": v for m, v in vs_rule.items()})
        for role, t in (("challenger", t_ch), ("champion", t_cp)):
            metrics.update({f"time.{role}.{m}": v for m, v in (t or {}).items()})
        metrics.update({f"time.rule.{m}": v for m, v in time_rule.items()})
        if score_drift:
            metrics["score_psi.scoring"] = score_drift.psi
        metrics["blessed"] = float(decision.blessed)
        mlflow.log_metrics({m: float(v) for m, v in metrics.items() if not np.isnan(v)})
        mlflow.log_artifacts(str(folder), artifact_path="validation")
        mlflow_run = run_.info.run_id

    # kept before the alias moves: a failed move leaves the verdict on record and the champion where it was
    after = challenger.version if decision.blessed else (champion.version if champion else None)
    data_versions = lakehouse.merge_lineage(ts_lineage, {schemas.TRAINING_SET: ts_version},
                                            {schemas.MONTHLY_FEATURES: mf_pinned.version} if mf_pinned else {})
    registry.record(spark, cfg, registry.ModelDecision(
        registry.ACTION_VALIDATE, name, challenger.version, champion.version if champion else None, after,
        decision.blessed, decision.reasons, {m: m_ch[m] for m in HEADLINE},
        {m: m_cp[m] for m in HEADLINE} if m_cp else None, len(y), mlflow_run, data_versions,
        held_out_customers=n_customers, held_out=definition, split=used, time_split=timed.describe(),
        time_challenger_metrics=time_headline(t_ch), time_champion_metrics=time_headline(t_cp)))
    registry.tag_version(client, name, challenger.version, {
        "validation.decision": decision.label, "validation.reasons": registry.reasons_text(decision.reasons),
        "validation.champion_version": champion.version if champion else "", "validation.run_id": mlflow_run,
        "validation.held_out": definition, "validation.held_out_customers": n_customers,
        "validation.split": used, "validation.time_split": timed.describe(),
    })
    if decision.blessed and (champion is None or champion.version != challenger.version):
        tracking.set_alias(client, name, champion_alias, challenger.version)

    print(f"model validation: {name} v{challenger.version} (@{challenger_alias}) vs "
          f"{'v' + champion.version if champion else 'no champion'} (@{champion_alias}) -> "
          f"{decision.label.upper()}")
    print(f"  held out by both: {n_customers} customers, {len(y)} rows ({definition})")
    print(f"  held-out n={len(y)}  PR-AUC {m_ch['pr_auc']:.3f}  ROC-AUC {m_ch['roc_auc']:.3f}  "
          f"precision@{k} {m_ch['precision_at_k']:.3f}" + (
              f"  | champion PR-AUC {m_cp['pr_auc']:.3f}  ROC-AUC {m_cp['roc_auc']:.3f}  "
              f"precision@{k} {m_cp['precision_at_k']:.3f}" if m_cp else ""))
    if agreement:
        print(f"  rankings: Spearman {agreement['spearman']:.3f}  Kendall {agreement['kendall']:.3f}  "
              f"top-{k} overlap {agreement['topk_overlap']:.2f}")
    if vs_rule:
        print(f"  rule (drop vs a year before, zero runs): precision@{k} {vs_rule['rule_precision_at_k']:.3f}  "
              f"PR-AUC {vs_rule['rule_pr_auc']:.3f}  lift over the rule: challenger "
              f"{vs_rule['challenger_lift_over_rule']:.2f}x" + (
                  f", champion {vs_rule['champion_lift_over_rule']:.2f}x" if "champion_lift_over_rule" in vs_rule
                  else ""))
    if t_ch is not None:
        kt = min(cfg.train.campaign_size, int(t_ch["n"]))
        print(f"  time split: {timed.describe()}")
        print(f"  time split n={int(t_ch['n'])}  challenger recipe PR-AUC {t_ch['pr_auc']:.3f}  "
              f"precision@{kt} {t_ch['precision_at_k']:.3f}" + (
                  f"  | champion recipe PR-AUC {t_cp['pr_auc']:.3f}  precision@{kt} {t_cp['precision_at_k']:.3f}"
                  if t_cp else "") + (
                  f"  | rule precision@{kt} {time_rule['rule_precision_at_k']:.3f}" if time_rule else ""))
    else:
        print(f"  time split: {timed.describe()}")
    print(f"  deciding split: {used}" + (f" ({fallback})" if fallback else ""))
    if score_drift:
        print(f"  challenger score PSI held-out vs scoring month {score_drift.psi:.3f} ({score_drift.level})")
    for reason in decision.reasons:
        print(f"  - {reason}")
    print(f"  report: {report}  (MLflow run {mlflow_run})")
    return {"blessed": decision.blessed, "challenger_version": challenger.version,
            "champion_version": champion.version if champion else None, "held_out_rows": len(y),
            "held_out_customers": n_customers, "held_out": definition, "split": used, "time": evidence["time"],
            "reasons": decision.reasons, "metrics": metrics, "run_id": mlflow_run, "report": str(report)}


def model_report(
    name: str, decision: Decision, evidence: dict[str, Any], region_rows: list[dict[str, Any]], folder: Path,
    score_drift: drift_.Drift | None,
) -> Report:
    """The HTML page of one model validation."""
    page = Report(f"Model validation: {name} v{decision.challenger} vs "
                  f"{'v' + decision.champion if decision.champion else 'no champion'}")
    page.summary(f"decision: {decision.label}", decision.label)
    for reason in decision.reasons:
        page.text(reason)
    split, timed = evidence["split"], evidence["time"]
    page.text(f"Deciding split: {split['used']} (policy: {split['requested']})"
              + (f"; {split['fallback']}" if split["fallback"] else "") + ".", note=True)
    page.heading("Time split: recipes fitted before the cut-off, judged on the later inspections")
    rows = [{"model": f"{role} v{evidence[role]['version']} (recipe)",
             **{m: timed[role].get(m, float("nan")) for m in TIME_HEADLINE}}
            for role in ("challenger", "champion") if timed.get(role) and evidence.get(role)]
    if rows:
        page.table(rows)
    if timed["rule"]:
        page.table([timed["rule"]])
    page.text(f"{timed['definition']}. Each recipe (its version's recorded training settings) is fitted on the "
              f"same earlier rows and judged on the same later rows, at k={timed['campaign_size']}; "
              f"recipes: " + "; ".join(f"{role}: {text}" for role, text in timed["recipes"].items()), note=True)
    page.heading("Held-out metrics (random customer split)")
    rows = []
    for role in ("challenger", "champion"):
        item = evidence.get(role)
        if item and item.get("metrics"):
            rows.append({"model": f"{role} v{item['version']}",
                         **{m: item["metrics"][m] for m in (*HEADLINE, "positives", "n")}})
    page.table(rows)
    held = evidence["held_out"]
    page.text(f"Precision and recall at k use the campaign size k={evidence['campaign_size']}; "
              f"held-out = the {held['customers']} customers ({held['rows']} rows) of training_set "
              f"v{evidence['training_set_version']} that no judged model trained on: {held['definition']}.",
              note=True)
    page.image(folder / "curves.png", "PR and ROC curves on the held-out split")
    page.heading("Per region")
    page.table(region_rows, ["model", "region", "k", "n", "positives", "pr_auc", "roc_auc", "precision_at_k"])
    if evidence.get("rule"):
        page.heading("Lift over the rule")
        page.table([evidence["rule"]])
        page.text("The rule ranks by the drop of the last months against the same months a year before, "
                  "long zero runs first (ntl_spark.rules); lift = a model's precision at k over the rule's, "
                  "on the same held-out rows.", note=True)
    if evidence["ranking_agreement"]:
        page.heading("Ranking agreement")
        page.table([evidence["ranking_agreement"]])
        page.image(folder / "rank_heatmap.png", "Rank of each held-out row under the challenger (x) and the champion (y)")
    if score_drift is not None:
        page.heading("Challenger scores: held-out vs scoring month")
        page.table([{"PSI": score_drift.psi, "level": score_drift.level}])
    page.heading("Policy")
    page.table([evidence["policy"]])
    return page


def scores_for(
    spark: SparkSession, df: DataFrame, ref: tracking.ModelRef, keys: Sequence[str], table: str
) -> pd.DataFrame:
    """Scores of a registered model for ``df`` with ``keys`` carried along (driver-side frame).

    ``df`` holds the raw categorical columns: they are encoded with the model's
    training vocabulary. ``table`` names the rows in messages.
    """
    return _scores(spark, df, models.load_daice(ref), keys, table)


def rule_comparison(test: DataFrame, cfg: Config, scored: dict[str, pd.DataFrame], k: int) -> dict[str, float]:
    """The rules baseline on the held-out rows and each model's lift over it.

    Args:
        test: the held-out rows of ``training_set`` (C1..CN, inspection_id).
        cfg: configuration (``rules``).
        scored: role -> the role's scored rows (inspection_id, label, score).
        k: campaign size.

    Returns:
        ``rule_precision_at_k``, ``rule_pr_auc`` and ``<role>_lift_over_rule`` per role;
        empty when the rows lack the monthly series the rule reads.
    """
    from ntl_spark import rules

    rc = cfg.rules
    if not rules.has_inputs(test.columns, rc.recent_months):
        log.warning("training_set lacks C1..C%d: no rules baseline in this report", 12 + rc.recent_months)
        return {}
    rule: Any = (rules.rule_scores(test, rc.recent_months, rc.zero_kwh, rc.min_zero_run)
                 .select("inspection_id", rules.RULE_SCORE).toPandas())
    out: dict[str, float] = {}
    for role, df in scored.items():
        r = df[["inspection_id"]].merge(rule, on="inspection_id", how="left")[rules.RULE_SCORE].fillna(0.0)
        lift = evaluate.lift_over_rule(df["label"].to_numpy(dtype=int), df["score"].to_numpy(), r.to_numpy(), k)
        out["rule_precision_at_k"], out["rule_pr_auc"] = lift["rule_precision_at_k"], lift["rule_pr_auc"]
        out[f"{role}_lift_over_rule"] = lift["lift_over_rule"]
    return out
