"""Benchmark: detection quality of DAICE against the rules baseline and random, on data no one tuned on.

Runs the pipeline's own stages on a fresh generator run (a seed never used
while tuning, the honest look-alikes and the newer theft kinds on, as in
``conf/base.yaml``): generate -> ingest -> features -> train (DAICE learns from
the biased inspection history only) -> score every active customer at the last
billed month. The ranking is judged against the generator's truth
(``_truth/``, which no stage reads): a customer is positive when a theft
episode runs on the last day of the window. In the same run, on the same
customers:

* DAICE: the trained challenger's scores (``validate.model.scores_for``);
* rule: ``ntl_spark.rules`` (drop of the last 6 months against the same months
  a year before, long zero runs first), with ``conf/base.yaml``'s ``rules``;
* random: the mean over 50 seeded random rankings.

With ``--reading-days`` > 0 (default 200) the generator also writes that many
days of 15-minute readings of the smart meters, and the DeepDAICE branch runs
as in the demo: windows -> train_deep (from the inspection history only) ->
score_deep, its windows ending on the last day. A second table then judges
DAICE, DeepDAICE, the rule and random on the smart-meter customers that have
all three scores (DeepDAICE scores no one else), at the same truth day.

With several seeds (``--seed`` repeated; by default three, none used while
tuning), each seed is a utility of its own, run through all of the above on its
own, and the figures are pooled: precision at a depth is the hits over the
places of every seed's top list (each seed ranks its own customers), PR-AUC the
seeds' mean. One seed's top 1 % is 97 customers (31 smart-meter ones), too few
to judge a 2x or a 1x target: one customer moves the ratio by 5-10 %.

Prints precision at the top 1 % and 3 % and PR-AUC, the lift over the rule
(method / rule at the same depth), the share of honest look-alikes in each top
1 %, and recall in the top 3 % per attack kind. Unless ``--dry``, appends the
run to ``benchmarks/detection.jsonl`` (the figures of each method under
``figures.methods``, the smart-meter table under ``figures.smart``) and
regenerates ``benchmarks/RESULTS.md``. Targets: DAICE's precision at the top
1 % >= 10x the base rate and >= 2x the rule's; on smart-meter customers,
DeepDAICE's precision at the top 1 % >= DAICE's and >= 10x the base rate.

    .venv/bin/python benchmarks/detection.py                          # 3 seeds x 10,000 customers, 3 % theft
    .venv/bin/python benchmarks/detection.py --seed 20261130 --dry    # one seed, print only
    .venv/bin/python benchmarks/detection.py --customers 3000 --seed 20261130 --dry   # quick look
    .venv/bin/python benchmarks/detection.py --reading-days 0         # DAICE only (no readings)
    # DeepDAICE retrained with another setting on the lakes of an earlier run (same seeds, customers, DAICE):
    .venv/bin/python benchmarks/detection.py --root /tmp/det --seed 20261209 --reuse --set deep.refit=true
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import platform
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
# The jobs' environment (spark.env: OMP_WAIT_POLICY=PASSIVE, whose spinning default made
# xgboost 20x slower under load) before numpy/xgboost load OpenMP, for both sides.
from results import job_env  # noqa: E402

job_env()

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from results import Headline, publish  # noqa: E402
from sklearn import metrics as skm  # noqa: E402

# Seeds used while building and tuning the features and the generator are
# 42 (default), 7 and 1..20 in tests; the benchmark's own seed is none of them.
DEFAULT_SEEDS = (20261130, 20261201, 20261202)
DEPTHS = (0.01, 0.03)
RANDOM_DRAWS = 50
COMBINED = "combined"  # the ranking of ntl_spark.combine: each customer at the better of its DAICE / DeepDAICE place
ORDER = ("DAICE", "DeepDAICE", COMBINED, "rule", "random")


def positives_at(raw: Path, day: dt.date, customers: pd.Series) -> pd.Series:
    """1 for customers with a theft episode running on ``day`` (from ``_truth/``), aligned with ``customers``."""
    fraud = pd.read_parquet(raw / "_truth" / "fraud.parquet")
    again = pd.read_parquet(raw / "_truth" / "restarts.parquet")
    far = pd.Timestamp.max.normalize()
    day_ts = pd.Timestamp(day)
    first = (pd.to_datetime(fraud.fraud_start) <= day_ts) & (pd.to_datetime(fraud.fraud_end).fillna(far) > day_ts)
    second = (pd.to_datetime(again.restart) <= day_ts) & (pd.to_datetime(again.restart_end).fillna(far) > day_ts)
    stealing = set(fraud.customer_id[first]) | set(again.customer_id[second])
    return customers.isin(stealing).astype(int)


def precision_at(y: np.ndarray, s: np.ndarray, k: int) -> float:
    top = np.argsort(-s, kind="stable")[:k]
    return float(y[top].mean())


def judge(y: np.ndarray, s: np.ndarray, n: int) -> dict[str, float]:
    out = {f"precision_top{round(d * 100)}pct": precision_at(y, s, max(1, math.ceil(d * n))) for d in DEPTHS}
    out["pr_auc"] = float(skm.average_precision_score(y, s))
    return out


def judge_all(frame: pd.DataFrame, columns: dict[str, str], seed: int) -> dict[str, dict[str, float]]:
    """Each method's figures on ``frame`` (``y`` and one score column per method), plus random."""
    y, n = frame["y"].to_numpy(), len(frame)
    results = {name: judge(y, frame[col].to_numpy(), n) for name, col in columns.items()}
    rng = np.random.default_rng(seed)
    draws = [judge(y, rng.random(n), n) for _ in range(RANDOM_DRAWS)]
    results["random"] = {m: float(np.mean([d[m] for d in draws])) for m in draws[0]}
    return results


def deep_scores(spark: Any, cfg: Any, seconds: dict[str, float]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Run windows -> train_deep -> score_deep; DeepDAICE's scores (customer_id, deep_score) and what they rest on."""
    from ntl_spark import deep, deep_score, schemas, tracking, windows

    t = time.time()
    built = windows.run(spark, cfg)
    seconds["windows"] = time.time() - t
    t = time.time()
    trained = deep.run(spark, cfg)
    seconds["train_deep"] = time.time() - t
    t = time.time()
    deep_score.run(spark, cfg)
    scores = (spark.read.format("delta").load(cfg.paths.table(schemas.SCORES))
              .where(f"model_name = '{deep.FAMILY}' AND model_version = '{trained.model_version}'")
              .select("customer_id", "score").toPandas().rename(columns={"score": "deep_score"}))
    seconds["score_deep"] = time.time() - t
    m = trained.metrics
    params = tracking.setup(cfg).get_run(trained.run_id).data.params
    return scores, {"scoring_end": str(built["scoring_end"]), "train_windows": built["train_windows"],
                    "train_unlabelled": built.get("train_unlabelled", 0),
                    "train_windowless": int(params.get("n_windowless", 0)),
                    "score_windows": built["score_windows"], "epochs": len(trained.history.get("loss", [])),
                    "held_out": {k: round(float(m[k]), 4) for k in ("n", "positives", "roc_auc", "pr_auc")}}


def combined_scores(spark: Any, daice: pd.DataFrame, deep: pd.DataFrame) -> pd.DataFrame:
    """The product's combined ranking (``combine.rank_combined``) of DAICE's and DeepDAICE's scores, as a score
    column (minus the combined rank: higher = inspect first) for every customer either scored."""
    from ntl_spark import combine, models

    def ranked(pdf: pd.DataFrame) -> Any:
        return models.rank_scores(spark.createDataFrame(pdf[["customer_id", "score"]].assign(region="ALL")))

    out = combine.rank_combined(ranked(daice), ranked(deep.rename(columns={"deep_score": "score"}))).select(
        "customer_id", "rank").toPandas()
    return pd.DataFrame({"customer_id": out.customer_id, COMBINED: -out["rank"].astype(float)})


def run(args: argparse.Namespace, seed: int) -> dict[str, Any]:
    """One generator run (``seed``) through the pipeline, judged against its truth."""
    from pyspark.sql import functions as F

    from ntl_spark import features, generate, ingest, rules, schemas, tracking, train
    from ntl_spark.config import load_config
    from ntl_spark.session import build_session
    from ntl_spark.sparkutil import scalar
    from ntl_spark.validate import model as validate_model

    root = Path(args.root) / f"seed-{seed}" if args.root else Path(tempfile.mkdtemp(prefix=f"ntl-detection-{seed}-"))
    tables = "customers,bills,readings,events,inspections" if args.reading_days else "customers,bills,events,inspections"
    overrides = [
        f"paths.root={root}", f"generate.seed={seed}", f"generate.customers={args.customers}",
        f"generate.fraud.rate={args.fraud_rate}", f"generate.reading_days={args.reading_days}",
        f"ingest.tables={tables}", "train.register=true", "deep.register=true",
        *args.set,
    ]
    cfg = load_config("local", overrides)
    seconds: dict[str, float] = {}
    if args.reuse and not (Path(cfg.paths.root) / "lakehouse").is_dir():
        raise SystemExit(f"--reuse: {cfg.paths.root} holds no lake of an earlier run")
    if not args.reuse:
        t = time.time()
        generate.run(cfg)
        seconds["generate"] = time.time() - t
    spark = build_session(cfg, app_name="ntl-detection")
    try:
        # --reuse: the lake and DAICE's registered challenger of the earlier run
        stages = () if args.reuse else (("ingest", ingest), ("features", features), ("train", train))
        for name, stage in stages:
            t = time.time()
            stage.run(spark, cfg)
            seconds[name] = time.time() - t
        t = time.time()
        mf = spark.read.format("delta").load(cfg.paths.table(schemas.MONTHLY_FEATURES))
        month = scalar(mf.agg(F.max("reference_month")), "latest monthly_features month")
        mf = mf.where(mf.reference_month == month)
        client = tracking.setup(cfg)
        ref = tracking.resolve(client, cfg.model.name, cfg.model.challenger)
        daice = validate_model.scores_for(spark, mf, ref, ["customer_id"], schemas.MONTHLY_FEATURES)
        rc = cfg.rules
        rule: Any = (rules.rule_scores(mf, rc.recent_months, rc.zero_kwh, rc.min_zero_run)
                     .select("customer_id", rules.RULE_SCORE).toPandas())
        smart_ids = {r.customer_id for r in spark.read.format("delta").load(cfg.paths.table(schemas.CUSTOMERS))
                     .where("meter_type = 'smart'").select("customer_id").collect()}
        seconds["score"] = time.time() - t
        deep_frame, deep_info = deep_scores(spark, cfg, seconds) if args.reading_days else (None, {})
        combined = combined_scores(spark, daice, deep_frame) if deep_frame is not None else None
    finally:
        spark.stop()

    raw = Path(cfg.raw_dir)
    frame = daice.merge(rule, on="customer_id", how="inner")
    if combined is not None:
        frame = frame.merge(combined, on="customer_id", how="left")
    last_day = (pd.Timestamp(month) + pd.offsets.MonthEnd(0)).date()
    frame["y"] = positives_at(raw, last_day, frame["customer_id"]).to_numpy()
    y, n = frame["y"].to_numpy(), len(frame)
    methods = {"DAICE": "score", **({"combined": COMBINED} if combined is not None else {}), "rule": rules.RULE_SCORE}
    results = judge_all(frame, methods, seed)
    smart: dict[str, Any] | None = None
    if deep_frame is not None:
        if deep_info["scoring_end"] != str(last_day):
            raise SystemExit(f"DeepDAICE windows end on {deep_info['scoring_end']}, the truth day is {last_day}")
        both = frame[frame.customer_id.isin(smart_ids)].merge(deep_frame, on="customer_id", how="inner")
        smart = {"customers": len(both), "smart_customers_scored_by_daice": int(frame.customer_id.isin(smart_ids).sum()),
                 "positives": int(both.y.sum()), "base_rate": float(both.y.mean()) if len(both) else 0.0,
                 "results": judge_all(both, {"DAICE": "score", "DeepDAICE": "deep_score", COMBINED: COMBINED,
                                             "rule": rules.RULE_SCORE}, seed),
                 **deep_info}

    # who fills the top of each ranking
    look = pd.read_parquet(raw / "_truth" / "lookalikes.parquet")
    fraud = pd.read_parquet(raw / "_truth" / "fraud.parquet")
    diag = who_is_on_top(frame, {"DAICE": "score", "rule": rules.RULE_SCORE}, look, fraud)
    if smart is not None:
        smart["diagnostics"] = who_is_on_top(both, {"DAICE": "score", "DeepDAICE": "deep_score"}, look, fraud)
    return {"seed": seed, "customers_scored": n, "positives": int(y.sum()), "base_rate": float(y.mean()), "results": results,
            "diagnostics": diag, "seconds": {k: round(v, 1) for k, v in seconds.items()},
            "reference_month": str(month), "root": str(root), "smart": smart}


def who_is_on_top(frame: pd.DataFrame, columns: dict[str, str], look: pd.DataFrame,
                  fraud: pd.DataFrame) -> dict[str, Any]:
    """Per ranking (name -> score column of ``frame``, which holds ``customer_id`` and the truth ``y``): the honest
    customers of its top 1 % by look-alike kind (``look``: customer_id, kind; none = "other honest") and, per theft
    kind (``fraud``: customer_id, attack), how many of the stealing customers its top 3 % holds, of how many."""
    n = len(frame)
    k1, k3 = max(1, math.ceil(0.01 * n)), max(1, math.ceil(0.03 * n))
    kind_of = look.drop_duplicates("customer_id").set_index("customer_id").kind
    pos = frame[frame.y == 1].merge(fraud[["customer_id", "attack"]].drop_duplicates("customer_id"),
                                    on="customer_id", how="left")
    out: dict[str, Any] = {}
    for name, col in columns.items():
        ranked = frame.sort_values(col, ascending=False, kind="stable")
        top1 = ranked.head(k1)
        kinds = kind_of.reindex(top1[top1.y == 0].customer_id).fillna("other honest")
        top3 = set(ranked.head(k3).customer_id)
        out[name] = {"top1pct": k1, "honest_top1pct_by_kind": {str(k): int(v) for k, v in kinds.value_counts().items()},
                     "found_top3pct_by_attack": {str(a): [int(g.customer_id.isin(top3).sum()), len(g)]
                                                 for a, g in pos.groupby("attack")}}
    return out


def table(res: dict[str, dict[str, float]], base_rate: float, names: tuple[str, ...] | None = None) -> str:
    """One row per method (``names``, default: those of ``res`` in :data:`ORDER`)."""
    names = names or tuple(n for n in ORDER if n in res)
    rule = res["rule"]
    lines = ["| method | precision top 1% | precision top 3% | PR-AUC | lift over the rule (1% / 3%) | x base rate (1%) |",
             "|---|---|---|---|---|---|"]
    for name in names:
        r = res[name]
        lift = " / ".join(f"{r[m] / rule[m]:.2f}x" if rule[m] else "n/a"
                          for m in ("precision_top1pct", "precision_top3pct"))
        times = f"{r['precision_top1pct'] / base_rate:.1f}x" if base_rate else "n/a"
        lines.append(f"| {name} | {r['precision_top1pct']:.3f} | {r['precision_top3pct']:.3f} | {r['pr_auc']:.3f} | "
                     f"{lift} | {times} |")
    return "\n".join(lines)


def headlines(results: dict[str, dict[str, float]], base_rate: float,
              smart: dict[str, Any] | None = None) -> list[Headline]:
    """DAICE's precision at the top 1 % against the base rate (target 10x) and against the rule's (target 2x);
    with readings, DeepDAICE's on smart-meter customers against the base rate (10x) and against DAICE's (1x)."""
    daice, rule = results["DAICE"]["precision_top1pct"], results["rule"]["precision_top1pct"]
    out = [Headline("DAICE precision top 1% / base rate", daice / base_rate if base_rate else None, 10.0, "higher"),
           Headline("DAICE / rule precision top 1%", daice / rule if rule else None, 2.0, "higher")]
    if smart is not None:
        deep_p = smart["results"]["DeepDAICE"]["precision_top1pct"]
        daice_p, base = smart["results"]["DAICE"]["precision_top1pct"], smart["base_rate"]
        out += [Headline("DeepDAICE precision top 1% / base rate (smart meters)", deep_p / base if base else None,
                         10.0, "higher"),
                Headline("DeepDAICE / DAICE precision top 1% (smart meters)", deep_p / daice_p if daice_p else None,
                         1.0, "higher")]
    if COMBINED in results:  # the combined ranking against DAICE alone, on every customer
        comb = results[COMBINED]["precision_top1pct"]
        out.append(Headline("combined / DAICE precision top 1%", comb / daice if daice else None, 1.0, "higher"))
    return out


def smart_section(smart: dict[str, Any] | None, reading_days: int) -> str:
    """The smart-meter table (DAICE, DeepDAICE, rule, random on the same customers), or '' without readings."""
    if smart is None:
        return ""
    h = smart["held_out"]
    return (
        f"Smart-meter customers ({reading_days} days of readings; DeepDAICE trained on "
        f"{smart['train_windows'] - smart.get('train_unlabelled', 0):,} windows of the inspection history"
        + (f", {smart['train_windowless']:,} inspections without a window (train and validation)"
           if smart.get("train_windowless") else "")
        + f" and {smart.get('train_unlabelled', 0):,} of never-inspected customers, {smart['epochs']} epochs, "
        f"held-out windows: ROC-AUC {h['roc_auc']:.3f}, "
        f"PR-AUC {h['pr_auc']:.3f}, n={int(h['n'])}, {int(h['positives'])} irregular): {smart['customers']:,} "
        f"customers with DAICE, DeepDAICE and rule scores (of {smart['smart_customers_scored_by_daice']:,} smart-meter "
        f"customers DAICE scored), {smart['positives']} stealing on {smart['scoring_end']} "
        f"(base rate {smart['base_rate']:.3%}).\n\n"
        f"{table(smart['results'], smart['base_rate'])}\n\n"
    )


def pool(parts: list[tuple[dict[str, dict[str, float]], int]]) -> dict[str, dict[str, float]]:
    """Figures over several runs: precision at a depth = hits over places (each run ranks its own customers at its
    own depth, ceil(depth x n)); PR-AUC = the runs' mean. ``parts``: (a run's results, its number of customers)."""
    out: dict[str, dict[str, float]] = {}
    for name in parts[0][0]:
        out[name] = {}
        for d in DEPTHS:
            m = f"precision_top{round(d * 100)}pct"
            places = [max(1, math.ceil(d * n)) for _, n in parts]
            out[name][m] = sum(r[name][m] * k for (r, _), k in zip(parts, places, strict=True)) / sum(places)
        out[name]["pr_auc"] = float(np.mean([r[name]["pr_auc"] for r, _ in parts]))
    return out


def pool_diagnostics(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Several runs' :func:`who_is_on_top` as one: the places, honest kinds and found / stealing counts summed."""
    diag: dict[str, Any] = {}
    for name in parts[0]:
        top1 = 0
        kinds: dict[str, int] = {}
        found: dict[str, list[int]] = {}
        for part in parts:
            dg = part[name]
            top1 += dg["top1pct"]
            for k, v in dg["honest_top1pct_by_kind"].items():
                kinds[k] = kinds.get(k, 0) + v
            for a, (f, t) in dg["found_top3pct_by_attack"].items():
                found[a] = [found.get(a, [0, 0])[0] + f, found.get(a, [0, 0])[1] + t]
        diag[name] = {"top1pct": top1,
                      "honest_top1pct_by_kind": dict(sorted(kinds.items(), key=lambda kv: -kv[1])),
                      "found_top3pct_by_attack": dict(sorted(found.items()))}
    return diag


def pooled(outs: list[dict[str, Any]]) -> dict[str, Any]:
    """The runs of several seeds as one: figures pooled (``pool``), base rates and diagnostics from the summed counts."""
    n = sum(o["customers_scored"] for o in outs)
    positives = sum(o["positives"] for o in outs)
    diag = pool_diagnostics([o["diagnostics"] for o in outs])
    smart = None
    smarts = [o["smart"] for o in outs if o["smart"] is not None]
    if smarts and len(smarts) == len(outs):
        customers, pos = sum(s["customers"] for s in smarts), sum(s["positives"] for s in smarts)
        smart = {"customers": customers, "positives": pos, "base_rate": pos / customers if customers else 0.0,
                 "results": pool([(s["results"], s["customers"]) for s in smarts])}
        if all("diagnostics" in s for s in smarts):  # runs recorded before the smart-meter diagnostics lack them
            smart["diagnostics"] = pool_diagnostics([s["diagnostics"] for s in smarts])
    return {"customers_scored": n, "positives": positives, "base_rate": positives / n if n else 0.0,
            "results": pool([(o["results"], o["customers_scored"]) for o in outs]), "diagnostics": diag,
            "smart": smart}


def diagnostics_text(d: dict[str, Any], names: tuple[str, str] = ("DAICE", "rule"), where: str = "") -> str:
    """Who fills the top 1 % (honest customers by kind) and recall in the top 3 % by attack, for two rankings."""
    def honest(name: str) -> str:
        kinds = d[name]["honest_top1pct_by_kind"]
        return f"{sum(kinds.values()) / d[name]['top1pct']:.0%} ({kinds})"

    def recall(name: str) -> str:
        found = d[name]["found_top3pct_by_attack"]
        return str({a: round(f / t, 2) if t else None for a, (f, t) in found.items()})

    a, b = names
    return (f"Honest customers in the top 1%{where}: {a} {honest(a)}, {b} {honest(b)}.\n\n"
            f"Recall in the top 3% by attack{where}, {a}: {recall(a)}; {b}: {recall(b)}.\n")


def seed_text(o: dict[str, Any], args: argparse.Namespace) -> str:
    """One seed's population, its tables and (with readings) its smart-meter table."""
    return (f"Generator seed {o['seed']} (never used while tuning), {args.customers:,} customers, theft rate "
            f"{args.fraud_rate:.0%}, look-alikes and theft kinds of conf/base.yaml; DAICE trained on the generated "
            f"inspection history only; {o['customers_scored']:,} active customers scored at "
            f"{o['reference_month']}, {o['positives']} stealing on the last day (base rate {o['base_rate']:.3%}).\n\n"
            f"{table(o['results'], o['base_rate'])}\n\n"
            f"{smart_section(o['smart'], args.reading_days)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--fraud-rate", type=float, default=0.03)
    parser.add_argument("--reading-days", type=int, default=200,
                        help="days of smart-meter readings generated; > 0 runs and judges DeepDAICE too (0 = DAICE only)")
    parser.add_argument("--seed", type=int, action="append", default=None,
                        help=f"a generator seed; repeat for several runs pooled into one figure (default: "
                             f"{', '.join(map(str, DEFAULT_SEEDS))})")
    parser.add_argument("--root", default="", help="working folder, a sub-folder per seed (default: new temporary ones)")
    parser.add_argument("--set", action="append", default=[], help="extra config override key=value")
    parser.add_argument("--dry", action="store_true", help="print only; write neither detection.jsonl nor RESULTS.md")
    parser.add_argument("--note", default="", help="a line saying what changed since the last section")
    parser.add_argument("--reuse", action="store_true",
                        help="the seeds' lakes under --root come from an earlier run: skip generate, ingest, features "
                             "and train (DAICE's registered challenger is judged again), rebuild the windows and "
                             "retrain DeepDAICE with the --set overrides")
    args = parser.parse_args(argv)
    if args.reuse and not args.root:
        parser.error("--reuse needs --root (the folder of the earlier run)")
    seeds = args.seed or list(DEFAULT_SEEDS)
    if len(set(seeds)) != len(seeds):
        parser.error(f"--seed given twice: {seeds}")
    started = time.time()
    load_start = os.getloadavg()
    outs = [run(args, seed) for seed in seeds]
    out = outs[0] if len(outs) == 1 else pooled(outs)
    command = "benchmarks/detection.py " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    seconds: dict[str, float] = {}
    for o in outs:
        for k, v in o["seconds"].items():
            seconds[k] = seconds.get(k, 0.0) + v
    head = (
        f"\n## Detection quality (benchmarks/detection.py), {dt.date.today().isoformat()}\n\n"
        f"Command: `.venv/bin/python {command.strip()}`. Machine: {os.cpu_count()} cores, {platform.machine()}, "
        f"Python {platform.python_version()}; Spark local[2]; load average {load:.1f} at the end; "
        f"{time.time() - started:.0f} s in all ({', '.join(f'{k} {v:.0f}s' for k, v in seconds.items())}).\n"
        f"{args.note + chr(10) if args.note else ''}"
    )
    if len(outs) == 1:
        body = seed_text(out, args)
    else:
        sm = out["smart"]
        body = (
            f"Pooled over {len(outs)} generator seeds ({', '.join(str(o['seed']) for o in outs)}, none used while "
            f"tuning): each seed is a separate utility, generated, trained and scored on its own; precision at a depth "
            f"is the hits over the places of all the seeds' top lists, PR-AUC the seeds' mean. "
            f"{out['customers_scored']:,} customers scored, {out['positives']} stealing (base rate "
            f"{out['base_rate']:.3%}).\n\n{table(out['results'], out['base_rate'])}\n\n"
            + (f"Smart-meter customers, pooled: {sm['customers']:,} customers, {sm['positives']} stealing (base rate "
               f"{sm['base_rate']:.3%}).\n\n"
               f"{table(sm['results'], sm['base_rate'])}\n\n" if sm else "")
            + "".join(f"### Seed {o['seed']}\n\n{seed_text(o, args)}" for o in outs)
        )
    text = head + body + diagnostics_text(out["diagnostics"])
    if out["smart"] is not None and "diagnostics" in out["smart"]:
        text += "\n" + diagnostics_text(out["smart"]["diagnostics"], ("DAICE", "DeepDAICE"), " of smart meters")
    publish("detection", text, figures={
        "base_rate": out["base_rate"], "methods": out["results"], "customers_scored": out["customers_scored"],
        "positives": out["positives"], "diagnostics": out["diagnostics"], "seconds": seconds, "smart": out["smart"],
        "seeds": {str(o["seed"]): {k: o[k] for k in ("base_rate", "results", "customers_scored", "positives",
                                                       "reference_month", "seconds", "smart", "diagnostics")}
                  for o in outs},
    }, params={"seeds": seeds, "customers": args.customers, "fraud_rate": args.fraud_rate,
               "reading_days": args.reading_days, "overrides": args.set, "note": args.note,
               # model settings changed or an earlier run's data: RESULTS.md never shows it as the benchmark's run
               "variant": " ".join([*(f"--set {o}" for o in args.set), *(["--reuse"] if args.reuse else [])])},
       headlines=headlines(out["results"], out["base_rate"], out["smart"]), load_start=load_start, dry=args.dry)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
