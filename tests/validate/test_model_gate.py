"""Model gate: the blessing refuses a worse model and accepts a better one; evaluate sets; run comparison."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import sys
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from ntl_spark import models, schemas, tracking
from ntl_spark.config import load_config
from ntl_spark.encoding import CategoricalVocabulary
from ntl_spark.errors import EXIT_DATA, ConfigError, DataError
from ntl_spark.validate import model, runs, segments
from tests.conftest import make_config

REPO = Path(__file__).resolve().parents[2]
REGIONS = ("NORTE", "SUR", "ESTE")
BLESSING = load_config("test").validation.blessing


# ------------------------------------------------------------------ pure parts
def test_decide_without_champion_uses_the_floor():
    policy = dataclasses.replace(BLESSING, min_pr_auc=0.3)
    assert model.decide(policy, "1", {"pr_auc": 0.4, "precision_at_k": 0.5}, None, None).blessed
    refused = model.decide(policy, "1", {"pr_auc": 0.2, "precision_at_k": 0.5}, None, None)
    assert not refused.blessed and "floor" in refused.reasons[0]


def test_decide_against_a_champion_tolerates_the_configured_drop():
    policy = dataclasses.replace(BLESSING, min_pr_auc=0.1, max_pr_auc_drop=0.02, max_precision_at_k_drop=0.05)
    champ = {"pr_auc": 0.50, "precision_at_k": 0.60}
    assert model.decide(policy, "2", {"pr_auc": 0.49, "precision_at_k": 0.56}, "1", champ).blessed
    worse = model.decide(policy, "2", {"pr_auc": 0.45, "precision_at_k": 0.70}, "1", champ)
    assert not worse.blessed and any("pr_auc 0.4500 is worse" in r for r in worse.reasons)
    strict = dataclasses.replace(BLESSING, block_on_score_drift=True)
    drifted = model.decide(strict, "2", {"pr_auc": 0.9, "precision_at_k": 0.9}, "1", champ,
                           score_drift_level="block")
    assert not drifted.blessed


def test_the_policy_names_the_deciding_split_and_falls_back_out_loud():
    timed = dataclasses.replace(BLESSING, split="time")
    assert model.gating_split(timed, None) == ("time", None)
    used, why = model.gating_split(timed, "no inspections on or after the cut-off")
    assert used == "random" and why is not None and "no inspections on or after the cut-off" in why
    assert model.gating_split(dataclasses.replace(BLESSING, split="random"), None) == ("random", None)


def test_decide_on_the_time_split_and_the_lift_floor():
    policy = dataclasses.replace(BLESSING, split="time", min_pr_auc=0.1, max_pr_auc_drop=0.02,
                                 max_precision_at_k_drop=0.05, min_lift_over_rule=1.2)
    champ = {"pr_auc": 0.50, "precision_at_k": 0.60}
    ok = model.decide(policy, "2", {"pr_auc": 0.5, "precision_at_k": 0.6, "lift_over_rule": 1.5}, "1", champ,
                      split="time")
    assert ok.blessed and all(r.startswith("time split: ") for r in ok.reasons)
    weak = model.decide(policy, "2", {"pr_auc": 0.5, "precision_at_k": 0.6, "lift_over_rule": 1.1}, "1", champ,
                        split="time")
    assert not weak.blessed and "time split: lift over the rule 1.10x below the floor 1.2x" in weak.reasons
    # no rule on the rows, or a rule whose top k holds no irregular inspection: the lift floor cannot apply
    for lift in ({}, {"lift_over_rule": float("nan")}):
        d = model.decide(policy, "2", {"pr_auc": 0.5, "precision_at_k": 0.6, **lift}, "1", champ, split="time")
        assert d.blessed and any("min_lift_over_rule not applied" in r for r in d.reasons)
    off = dataclasses.replace(policy, min_lift_over_rule=0.0)
    assert model.decide(off, "2", {"pr_auc": 0.5, "precision_at_k": 0.6, "lift_over_rule": 0.5}, "1", champ).blessed


def test_ranking_agreement_and_heatmap(tmp_path):
    a = np.arange(100, dtype=float)
    same = model.ranking_agreement(a, a * 2, 10)
    assert same == {"spearman": pytest.approx(1.0), "kendall": pytest.approx(1.0), "topk_overlap": 1.0}
    rev = model.ranking_agreement(a, -a, 10)
    assert rev["spearman"] == pytest.approx(-1.0) and rev["topk_overlap"] == 0.0
    png = model.rank_heatmap(a, -a, 10, ("a", "b"), tmp_path / "h.png")
    assert png.read_bytes()[:4] == b"\x89PNG"


# ------------------------------------------------- registry, blessing, segments
def labelled(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    f0, f1, noise = rng.normal(size=n), rng.normal(size=n), rng.normal(size=n)
    label = ((f0 + 0.5 * f1 + rng.normal(scale=0.5, size=n)) > 1.0).astype(int)
    return pd.DataFrame({"f0": f0, "f1": f1, "noise": noise, "label": label,
                         "region": rng.choice(REGIONS, size=n), "meter_type": rng.choice(["smart", "conventional"], n),
                         "tariff": rng.choice(["residential", "general"], size=n)})


CATEGORICAL = ["region", "tariff", "meter_type"]


SPLIT = models.CustomerSplit("holdout-1", 0.5)  # what the fixture's models record as held out


def register(spark, cfg, numeric: list[str], data: pd.DataFrame, name: str = "DAICE", vocabulary: bool = True,
             split: models.CustomerSplit | None = SPLIT, params: dict | None = None) -> str:
    """Train on ``numeric`` + the encoded categorical columns and register as the train job does.

    ``vocabulary=False`` registers the way versions before learned categories were
    (feature_columns only, regions one-hot from a fixed list); ``split=None`` the way
    versions before the held-out split was saved with the model were (``params``: its run's parameters).
    """
    import mlflow.xgboost
    import xgboost as xgb

    if vocabulary:
        vocab = CategoricalVocabulary.fit(spark.createDataFrame(data), CATEGORICAL, max_levels=50, min_count=5)
        data = vocab.transform(spark.createDataFrame(data)).toPandas()
        columns = numeric + vocab.feature_columns
        metadata = models.daice_metadata(columns, vocab, 36, split) if split else {
            "feature_columns": columns, "categories": vocab.to_dict()}
    else:
        data = data.assign(**{f"region_{r}": (data["region"] == r).astype(float) for r in REGIONS})
        columns = numeric + [f"region_{r}" for r in REGIONS]
        metadata = {"feature_columns": columns}
    clf = xgb.XGBClassifier(n_estimators=15, max_depth=2, n_jobs=1).fit(data[columns], data["label"])
    booster = clf.get_booster()
    booster.feature_names = columns
    tracking.setup(cfg)
    with mlflow.start_run(run_name=f"{name}-train"):
        if params:
            mlflow.log_params(params)
        info = mlflow.xgboost.log_model(booster, name="model", registered_model_name=name, metadata=metadata)
    return str(info.registered_model_version)


@pytest.fixture(scope="module")
def registry(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("model_gate")
    cfg = make_config(root, "train.test_fraction=0.5", "train.campaign_size=20", "validation.blessing.min_pr_auc=0.0")
    ts = labelled(400, 0)
    # monthly series for the rules baseline: irregular customers tend to drop against a year before
    drop = np.clip(0.5 * ts["label"] + np.random.default_rng(5).normal(0, 0.3, len(ts)), 0, 0.9)
    for i in range(1, 19):
        ts[f"C{i}"] = 200.0 * (1 - drop) if i <= 6 else 200.0
    ts.insert(0, "customer_id", [f"C{i:04d}" for i in range(len(ts))])
    ts.insert(0, "inspection_id", [f"I{i:04d}" for i in range(len(ts))])
    spark.createDataFrame(ts).write.format("delta").save(cfg.paths.table(schemas.TRAINING_SET))
    mf = labelled(150, 1).drop(columns="label")
    mf.insert(0, "customer_id", [f"C{i:04d}" for i in range(len(mf))])
    mf["reference_month"] = dt.date(2026, 9, 1)
    spark.createDataFrame(mf).write.format("delta").save(cfg.paths.table(schemas.MONTHLY_FEATURES))
    fit_on = labelled(600, 2)
    weak = register(spark, cfg, ["noise"], fit_on)  # learns nothing useful
    strong = register(spark, cfg, ["f0", "f1"], fit_on)
    return cfg, weak, strong


def aliases(cfg) -> dict[str, str]:
    client = tracking.setup(cfg)
    return {k: str(v) for k, v in client.get_registered_model("DAICE").aliases.items()}


def test_blessing_accepts_a_better_model_and_refuses_a_worse_one(spark, registry):
    cfg, weak, strong = registry
    client = tracking.setup(cfg)
    # no champion yet: the (weak) candidate passes the floor and becomes champion
    tracking.set_alias(client, "DAICE", "candidate", weak)
    first = model.run(spark, cfg)
    assert first["blessed"] and aliases(cfg)["champion"] == weak
    # a better challenger replaces it
    tracking.set_alias(client, "DAICE", "candidate", strong)
    better = model.run(spark, cfg)
    assert better["blessed"] and better["champion_version"] == weak
    assert aliases(cfg)["champion"] == strong
    assert better["metrics"]["challenger.pr_auc"] > better["metrics"]["champion.pr_auc"]
    assert {"spearman", "kendall", "topk_overlap"} <= set(better["metrics"])
    # the rules baseline is judged on the same held-out rows, with each model's lift over it
    assert 0 < better["metrics"]["rule.rule_precision_at_k"] <= 1
    assert better["metrics"]["rule.challenger_lift_over_rule"] > better["metrics"]["rule.champion_lift_over_rule"]
    # the worse one is refused and the champion stays
    tracking.set_alias(client, "DAICE", "candidate", weak)
    worse = model.run(spark, cfg)
    assert not worse["blessed"]
    assert aliases(cfg)["champion"] == strong
    assert any("worse than the champion" in r for r in worse["reasons"])
    # this training set has no reference month: the time split cannot judge, and the verdict says so
    assert worse["split"] == "random" and "time.challenger.pr_auc" not in worse["metrics"]
    assert worse["reasons"][0].startswith("time split unavailable (training_set has no reference_month column)")
    # the evidence is logged: decision, heat map, report
    run = client.get_run(worse["run_id"])
    assert run.data.tags["validation.decision"] == "refused"
    files = {a.path for a in client.list_artifacts(worse["run_id"], "validation")}
    assert {"validation/decision.json", "validation/rank_heatmap.png", "validation/model_report.html"} <= files
    assert json.loads(Path(worse["report"]).with_name("decision.json").read_text())["decision"] == "refused"
    assert client.get_model_version("DAICE", weak).tags["validation.decision"] == "refused"
    # each verdict is kept: tags on the challenger version and a row in model_decisions
    tags = client.get_model_version("DAICE", weak).tags
    assert tags["validation.run_id"] == worse["run_id"] and tags["validation.champion_version"] == strong
    assert "worse than the champion" in tags["validation.reasons"]
    assert client.get_model_version("DAICE", strong).tags["validation.decision"] == "blessed"
    rows = decisions(spark, cfg)
    rows = rows[rows.action == "validate"]
    assert list(rows.blessed) == [True, True, False]
    assert list(rows.challenger_version) == [weak, strong, weak]
    assert [v if isinstance(v, str) else None for v in rows.champion_version] == [None, weak, strong]
    assert list(rows.champion_after) == [weak, strong, strong]
    assert list(rows.run_id) == [first["run_id"], better["run_id"], worse["run_id"]]
    last = rows.iloc[-1]
    assert dict(last.challenger_metrics)["pr_auc"] == pytest.approx(worse["metrics"]["challenger.pr_auc"])
    assert dict(last.champion_metrics)["pr_auc"] == pytest.approx(worse["metrics"]["champion.pr_auc"])
    assert rows.iloc[0].champion_metrics is None
    assert last.held_out_rows == worse["held_out_rows"] > 0
    assert dict(last.data_versions)[schemas.TRAINING_SET] == 0
    assert any("worse than the champion" in r for r in last.reasons)
    assert last.split == "random" and last.time_challenger_metrics is None
    assert "no reference_month" in last.time_split


def decisions(spark, cfg) -> pd.DataFrame:
    from ntl_spark import lakehouse

    path = cfg.paths.table(schemas.MODEL_DECISIONS)
    df = lakehouse.read_pinned(spark, path, schemas.MODEL_DECISIONS, "validate_model").df
    return df.orderBy("decided_at").toPandas()


def test_promote_moves_the_champion_and_keeps_why(spark, registry):
    from ntl_spark import registry as reg

    cfg, weak, strong = registry
    client = tracking.setup(cfg)
    tracking.set_alias(client, "DAICE", "champion", strong)
    with pytest.raises(ConfigError, match=r"no version '99'; versions: \[1, 2\]"):
        reg.promote(spark, make_config(Path(cfg.paths.root), "promote.version=99", "promote.reason=x"))
    with pytest.raises(ConfigError, match="promote.reason"):
        reg.promote(spark, make_config(Path(cfg.paths.root), f"promote.version={weak}"))
    assert aliases(cfg)["champion"] == strong  # a refused promotion moves nothing
    rollback = make_config(Path(cfg.paths.root), f"promote.version={weak}",
                           "promote.reason=rollback after a bad campaign")
    out = reg.promote(spark, rollback)
    assert out["moved"] and out["champion_before"] == strong
    assert aliases(cfg)["champion"] == weak
    tags = client.get_model_version("DAICE", weak).tags
    assert tags["promotion.reason"] == "rollback after a bad campaign"
    assert tags["promotion.previous_champion"] == strong
    row = decisions(spark, cfg).iloc[-1]
    assert (row.action, row.challenger_version, row.champion_version, row.champion_after, row.blessed) == (
        "promote", weak, strong, weak, True)
    assert list(row.reasons) == ["rollback after a bad campaign"]
    again = reg.promote(spark, rollback)  # already champion: nothing moves, nothing is recorded
    assert not again["moved"] and len(decisions(spark, cfg)) == out["delta_version"] + 1
    tracking.set_alias(client, "DAICE", "champion", strong)


def test_a_model_registered_without_categories_asks_for_retraining(spark, registry):
    cfg, _, strong = registry
    client = tracking.setup(cfg)
    old = register(spark, cfg, ["f0", "f1"], labelled(200, 4), name="DAICE-old", vocabulary=False)
    with pytest.raises(ConfigError, match="retrain"):
        models.load_daice(tracking.resolve(client, "DAICE-old", old))
    loaded = models.load_daice(tracking.resolve(client, "DAICE", strong))
    assert loaded.vocabulary.columns == CATEGORICAL
    assert loaded.feature_columns == ["f0", "f1", *loaded.vocabulary.feature_columns]
    assert "region__other" in loaded.feature_columns and set(REGIONS) == set(loaded.vocabulary.levels("region").levels)


def test_evaluate_sets_gives_a_row_per_segment(spark, registry):
    cfg, _, strong = registry
    cfg2 = make_config(Path(cfg.paths.root), "train.test_fraction=0.5", f"validation.segments.model_ref={strong}",
                       "validation.segments.columns=[region,meter_type]")
    table = segments.run(spark, cfg2)
    assert set(table.loc[table.segment == "region", "value"]) == set(REGIONS)
    assert set(table.loc[table.segment == "meter_type", "value"]) == {"smart", "conventional"}
    assert table.loc[table.segment == "all", "n"].iloc[0] == table.loc[table.segment == "region", "n"].sum()


def customers(df) -> set[str]:
    return {r[0] for r in df.select("customer_id").distinct().collect()}


def test_models_trained_with_other_salts_are_judged_only_on_customers_neither_trained_on(spark, registry):
    from ntl_spark import cli

    cfg, _, _ = registry
    root = Path(cfg.paths.root)
    salted = make_config(root, "model.name=DAICE-salts", "validation.blessing.min_pr_auc=0.0")
    ts = spark.read.format("delta").load(cfg.paths.table(schemas.TRAINING_SET))
    a, b = models.CustomerSplit("salt-a", 0.5), models.CustomerSplit("salt-b", 0.5)
    # each model trains on its own training customers of training_set
    champ = register(spark, salted, ["f0", "f1"], a.split(ts)[0].toPandas(), name="DAICE-salts", split=a)
    chall = register(spark, salted, ["f0", "f1", "noise"], b.split(ts)[0].toPandas(), name="DAICE-salts", split=b)
    client = tracking.setup(salted)
    tracking.set_alias(client, "DAICE-salts", "champion", champ)
    tracking.set_alias(client, "DAICE-salts", "candidate", chall)

    # the splits the gate rebuilds come from what each version recorded, not from the config (holdout-1)
    rebuilt = {v: model.model_split(client, ref, models.load_daice(ref))
               for v, ref in ((champ, tracking.resolve(client, "DAICE-salts", champ)),
                              (chall, tracking.resolve(client, "DAICE-salts", chall)))}
    assert rebuilt == {champ: a, chall: b}
    judged = model.held_out_by_all(ts, rebuilt)
    seen = customers(a.split(ts)[0]) | customers(b.split(ts)[0])  # customers either model trained on
    assert customers(judged) and not customers(judged) & seen
    assert customers(judged) == customers(a.held_out(ts)) & customers(b.held_out(ts))
    assert customers(judged) != customers(SPLIT.held_out(ts))

    out = model.run(spark, salted)
    n = len(customers(judged))
    assert out["held_out_customers"] == n and out["held_out_rows"] == judged.count() == out["metrics"]["challenger.n"]
    assert n < min(len(customers(a.held_out(ts))), len(customers(b.held_out(ts))))
    assert "salt-a" in out["held_out"] and "salt-b" in out["held_out"]
    evidence = json.loads(Path(out["report"]).with_name("decision.json").read_text())["held_out"]
    assert evidence["customers"] == n
    assert evidence["splits"] == {f"challenger v{chall}": b.to_dict(), f"champion v{champ}": a.to_dict()}
    tags = client.get_model_version("DAICE-salts", chall).tags
    assert tags["validation.held_out_customers"] == str(n) and "salt-a" in tags["validation.held_out"]
    row = decisions(spark, cfg).iloc[-1]
    assert (row.model_name, row.held_out_customers, row.held_out) == ("DAICE-salts", n, out["held_out"])
    params = client.get_run(out["run_id"]).data.params
    assert params["held_out.customers"] == str(n) and params["held_out.split.champion"] == a.describe()

    # too few customers held out by both: no verdict, exit code 3, nothing moves or is recorded
    tracking.set_alias(client, "DAICE-salts", "champion", champ)  # a blessing moved it to the challenger
    before = len(decisions(spark, cfg))
    strict = make_config(root, "model.name=DAICE-salts", f"validation.blessing.min_held_out_customers={n + 1}")
    with pytest.raises(DataError, match=f"only {n} customers .* held out by both models") as err:
        model.run(spark, strict)
    assert cli.failure(err.value)[0] == EXIT_DATA
    assert len(decisions(spark, cfg)) == before
    assert str(client.get_registered_model("DAICE-salts").aliases["champion"]) == champ


def test_a_model_that_records_no_split_is_not_judged_blindly(spark, registry):
    cfg, _, _ = registry
    cfg2 = make_config(Path(cfg.paths.root), "model.name=DAICE-nosplit")
    client = tracking.setup(cfg2)
    data = labelled(200, 5)
    # trained before the split was saved, its run's seed and fraction rebuild the seeded split train used then
    old = register(spark, cfg2, ["f0"], data, name="DAICE-nosplit", split=None,
                   params={"seed": 7, "test_fraction": 0.25})
    ref = tracking.resolve(client, "DAICE-nosplit", old)
    assert model.model_split(client, ref, models.load_daice(ref)) == models.CustomerSplit("7", 0.25, models.SEEDED)
    # nothing recorded at all: the gate refuses to judge it
    blind = register(spark, cfg2, ["f0"], data, name="DAICE-nosplit", split=None)
    tracking.set_alias(client, "DAICE-nosplit", "candidate", blind)
    with pytest.raises(ConfigError, match=f"DAICE-nosplit v{blind} records no held-out split"):
        model.run(spark, cfg2)


# ------------------------------------------------------------- the time split
GOOD = {"xgb.n_estimators": 30, "xgb.max_depth": 3, "seed": 7, "weighting": "none", "unlabelled_share": 1.0,
        "unlabelled_weight": 0.3, "unlabelled_months": [0, 6]}
STUMP = {**GOOD, "xgb.n_estimators": 1, "xgb.max_depth": 1}  # one split of one tree: a poor recipe


def rule_inputs(ts: pd.DataFrame, seed: int) -> pd.DataFrame:
    """C1..C18 for the rules baseline: irregular customers tend to drop against a year before."""
    drop = np.clip(0.5 * ts["label"] + np.random.default_rng(seed).normal(0, 0.3, len(ts)), 0, 0.9)
    return ts.assign(**{f"C{i}": 200.0 * (1 - drop) if i <= 6 else 200.0 for i in range(1, 19)})


@pytest.fixture(scope="module")
def timed_registry(spark, tmp_path_factory):
    """Inspections over 12 reference months (Oct 2025 .. Sep 2026), monthly_features for November 2025, May
    2026 (before the cut-off) and September 2026, and two versions whose registered boosters are the same (the random split
    cannot tell them apart) but whose training runs recorded different recipes."""
    root = tmp_path_factory.mktemp("model_gate_time")
    cfg = make_config(root, "model.name=DAICE-time", "train.test_fraction=0.5", "train.campaign_size=20",
                      "validation.blessing.min_pr_auc=0.0", "train.time_validation_months=4")
    ts = rule_inputs(labelled(600, 6), 7)
    ts.insert(0, "customer_id", [f"C{i:04d}" for i in range(len(ts))])
    ts.insert(0, "inspection_id", [f"I{i:04d}" for i in range(len(ts))])
    ts["reference_month"] = [dt.date(2025 + (9 + i % 12) // 12, (9 + i % 12) % 12 + 1, 1) for i in range(len(ts))]
    spark.createDataFrame(ts).write.format("delta").save(cfg.paths.table(schemas.TRAINING_SET))
    mf = labelled(300, 9).drop(columns="label")
    mf.insert(0, "customer_id", [f"U{i:04d}" for i in range(len(mf))])  # never inspected
    months = pd.concat([mf.assign(reference_month=dt.date(m.year, m.month, 1))
                        for m in (dt.date(2025, 11, 1), dt.date(2026, 5, 1), dt.date(2026, 9, 1))])
    spark.createDataFrame(months).write.format("delta").save(cfg.paths.table(schemas.MONTHLY_FEATURES))
    fit_on = labelled(600, 8)
    champion = register(spark, cfg, ["f0", "f1"], fit_on, name="DAICE-time", params=GOOD)
    challenger = register(spark, cfg, ["f0", "f1"], fit_on, name="DAICE-time", params=STUMP)
    return cfg, ts, champion, challenger


def test_the_time_split_judges_both_recipes_on_later_inspections(spark, timed_registry):
    cfg, ts, champ, chall = timed_registry
    client = tracking.setup(cfg)
    tracking.set_alias(client, "DAICE-time", "champion", champ)
    tracking.set_alias(client, "DAICE-time", "candidate", chall)
    out = model.run(spark, cfg)
    m = out["metrics"]
    # the registered boosters are the same: on the random split nothing tells them apart ...
    assert m["challenger.pr_auc"] == pytest.approx(m["champion.pr_auc"])
    # ... but refitted on the inspections before June 2026 and judged on the later ones, the stump falls behind
    assert out["split"] == "time" and not out["blessed"]
    assert m["time.challenger.pr_auc"] < m["time.champion.pr_auc"] - 0.02
    assert any(r.startswith("time split: pr_auc") and "worse than the champion" in r for r in out["reasons"])
    assert str(client.get_registered_model("DAICE-time").aliases["champion"]) == champ
    late = ts[ts.reference_month >= dt.date(2026, 6, 1)]
    assert m["time.challenger.n"] == m["time.champion.n"] == len(late)
    assert m["time.challenger.positives"] == late.label.sum() and m["time.challenger.n_train"] == len(ts) - len(late)
    # never-inspected negatives drawn at the latest month before the cut-off and 6 months before it (the recipes'
    # unlabelled_months), never at the scoring month
    assert m["time.challenger.n_unlabelled"] > 0 and out["time"]["unlabelled_months"] == ["2025-11-01", "2026-05-01"]
    assert 0 < m["time.rule.rule_precision_at_k"] <= 1 and "time.champion.lift_over_rule" in m
    evidence = json.loads(Path(out["report"]).with_name("decision.json").read_text())
    assert evidence["split"] == {"requested": "time", "used": "time", "fallback": None}
    assert evidence["time"]["split"]["cutoff"] == "2026-06-01"
    assert "'max_depth': 1" in evidence["time"]["recipes"]["challenger"]
    html = Path(out["report"]).read_text()
    assert "Deciding split: time" in html and "recipes fitted before the cut-off" in html
    row = decisions(spark, cfg).iloc[-1]
    assert row.split == "time" and "cut-off 2026-06-01" in row.time_split
    assert "never-inspected negatives from monthly_features 2025-11-01, 2026-05-01" in row.time_split
    assert dict(row.time_challenger_metrics)["pr_auc"] == pytest.approx(m["time.challenger.pr_auc"])
    assert dict(row.time_champion_metrics)["pr_auc"] == pytest.approx(m["time.champion.pr_auc"])
    assert client.get_model_version("DAICE-time", chall).tags["validation.split"] == "time"


# ------------------------------------------------------------- compare runs
@pytest.fixture(scope="module")
def logged_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("compare_runs")
    cfg = make_config(root)
    tracking.setup(cfg)
    rng = np.random.default_rng(3)
    for noise in (0.3, 1.0, 3.0):
        y = rng.integers(0, 2, 300)
        s = 1 / (1 + np.exp(-(y * 2 - 1 + rng.normal(scale=noise, size=300))))
        with mlflow.start_run(run_name=f"DAICE-train-noise{noise}"):
            mlflow.log_metric("test_pr_auc", 0.5)
            mlflow.log_text(json.dumps({"label": y.tolist(), "score": s.tolist()}), "evaluation/test_scores.json")
    return root, cfg


def test_compare_runs_job_output(logged_runs):
    _, cfg = logged_runs
    out = runs.run(cfg)
    assert Path(out["png"]).read_bytes()[:4] == b"\x89PNG"
    table = out["table"]
    assert len(table) == 3
    assert table.sort_values("pr_auc", ascending=False)["run"].iloc[0].startswith("DAICE-train-noise0.3")


def test_notebook_runs_with_ntl_spark_only(logged_runs):
    import nbformat
    from nbclient import NotebookClient

    root, _ = logged_runs
    path = REPO / "notebooks" / "compare_runs.ipynb"
    nb = nbformat.read(path, as_version=4)
    imports = [line for cell in nb.cells if cell.cell_type == "code" for line in cell.source.splitlines()
               if line.startswith(("import ", "from "))]
    assert all(" ntl_spark" in line or "IPython" in line for line in imports), imports
    env = {"NTL_ENV": "test", "NTL_SET": f"paths.root={root}", "PYTHONPATH": str(REPO)}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        # the kernel is this interpreter (ipykernel in the same environment): no kernelspec install needed
        NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(REPO)}}).execute()
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs)
    assert sys.executable  # the kernel ran under the test interpreter's environment
