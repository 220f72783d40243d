"""A tiny lakehouse and MLflow registry for the console tests, written without Spark.

Delta tables are written with ``deltalake`` in the contract's schemas (the
columns the console reads); a small xgboost booster is registered as DAICE v1
with the metadata the train job saves (feature_columns, categories), with the
champion alias, and a DeepDAICE ranking sits beside it in ``scores``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

REGIONS = ["MONTEVIDEO", "NORTE", "ESTE"]
TARIFFS = ["residential", "general"]
MONTHS = 6
SCORED_ON = dt.date(2026, 10, 1)
REFERENCE = dt.date(2026, 9, 1)
N = 90


def customer_ids() -> list[str]:
    return [f"CU{i:05d}" for i in range(N)]


def _write(root: Path, name: str, table: pa.Table, partition_by: list[str] | None = None) -> None:
    from deltalake import write_deltalake

    write_deltalake(str(root / "lakehouse" / name), table, mode="overwrite", partition_by=partition_by)


def build(root: Path) -> dict[str, object]:
    """Write the tables and register the model under ``root``; return facts the tests check against."""
    import mlflow
    import mlflow.xgboost
    import xgboost as xgb
    from mlflow.tracking import MlflowClient

    rng = np.random.default_rng(3)
    ids = customer_ids()
    region = [REGIONS[i % 3] for i in range(N)]
    tariff = [TARIFFS[(i // 3) % 2] for i in range(N)]
    meter_type = ["smart" if i % 4 == 0 else "conventional" for i in range(N)]
    meter_id = [f"M{i:05d}" if meter_type[i] == "smart" else None for i in range(N)]
    customers = pa.table({
        "customer_id": ids, "meter_id": pa.array(meter_id, pa.string()), "meter_type": meter_type,
        "region": region, "tariff": tariff, "contracted_kw": rng.uniform(2, 20, N),
        "activity": pa.array([None] * N, pa.string()),
        "latitude": rng.uniform(-34.9, -34.7, N), "longitude": rng.uniform(-56.3, -56.0, N),
        "connected_on": pa.array([dt.date(2015, 1, 1)] * N, pa.date32()), "status": ["active"] * N,
    })
    _write(root, "customers", customers)

    cons = rng.gamma(4, 60, size=(N, MONTHS))
    feats = {"customer_id": ids, "reference_month": pa.array([REFERENCE] * N, pa.date32())}
    for j in range(MONTHS):
        feats[f"C{j + 1}"] = cons[:, j]
    feats["mean_3"] = cons[:, :3].mean(axis=1)
    feats["contracted_kw"] = customers.column("contracted_kw").to_numpy()
    feats["region"] = region
    feats["tariff"] = tariff
    mf = pa.table(feats)
    # an older month too: the console must take each customer's newest row
    older = mf.set_column(1, "reference_month", pa.array([dt.date(2026, 8, 1)] * N, pa.date32()))
    _write(root, "monthly_features", pa.concat_tables([older, mf]))

    # model: numeric inputs then the vocabulary's encoded columns, as ntl_spark.train lays them out
    numeric = [f"C{j + 1}" for j in range(MONTHS)] + ["mean_3", "contracted_kw"]
    categories = {"format": 1, "columns": [
        {"column": "region", "levels": REGIONS[:2], "features": [f"region_{r}" for r in REGIONS[:2]],
         "other": "region__other", "counts": [30, 30]},
        {"column": "tariff", "levels": TARIFFS, "features": [f"tariff_{t}" for t in TARIFFS],
         "other": "tariff__other", "counts": [45, 45]},
    ]}
    encoded = [f for c in categories["columns"] for f in [*c["features"], c["other"]]]
    columns = numeric + encoded
    x = np.column_stack([cons, feats["mean_3"], feats["contracted_kw"],
                         [[r == "MONTEVIDEO", r == "NORTE", r == "ESTE"] for r in region],
                         [[t == "residential", t == "general", False] for t in tariff]]).astype(np.float32)
    # a label that several inputs explain, so scores spread (few ties) and contributions differ per customer
    drop = cons[:, 0] / cons[:, :6].mean(axis=1)
    y = ((drop + 0.3 * (np.array(region) == "NORTE") + rng.normal(0, 0.25, N)) < 0.9).astype(int)
    booster = xgb.train({"max_depth": 3, "objective": "binary:logistic", "nthread": 1, "eta": 0.3},
                        xgb.DMatrix(x, label=y, feature_names=columns), num_boost_round=20)
    uri = f"sqlite:///{root}/mlflow.db"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    client = MlflowClient(uri, uri)
    exp = client.create_experiment("ntl-daice", artifact_location=(root / "mlartifacts").resolve().as_uri())
    with mlflow.start_run(experiment_id=exp) as run:
        mlflow.log_params({"max_depth": 3, "n_estimators": 20, "data.monthly_features.version": 0})
        mlflow.log_metrics({"test_pr_auc": 0.61, "test_roc_auc": 0.74})
        mlflow.xgboost.log_model(booster, name="model", registered_model_name="DAICE",
                                 metadata={"feature_columns": columns, "categories": categories, "months": MONTHS,
                                           "family": "DAICE"})
    client.set_registered_model_alias("DAICE", "champion", "1")
    scores = booster.inplace_predict(x)
    contribs = booster.predict(xgb.DMatrix(x, feature_names=columns), pred_contribs=True)[:, :-1]

    def ranking(model: str, version: str, s: np.ndarray) -> pd.DataFrame:
        df = pd.DataFrame({"customer_id": ids, "region": region, "score": s.astype(float)})
        df = df.sort_values(["score", "customer_id"], ascending=[False, True]).reset_index(drop=True)
        df["rank"] = np.arange(1, N + 1, dtype=np.int32)
        df["region_rank"] = df.groupby("region").cumcount().astype(np.int32) + 1
        df["model_name"], df["model_version"], df["run_id"] = model, version, run.info.run_id
        df["scored_on"], df["reference_month"] = SCORED_ON, REFERENCE
        pos = {c: i for i, c in enumerate(ids)}
        df["top_features"] = [[{"feature": columns[j], "contribution": float(contribs[pos[c], j])}
                               for j in np.argsort(-np.abs(contribs[pos[c]]))[:3]] for c in df["customer_id"]]
        return df

    daice = ranking("DAICE", "1", scores)
    deep = ranking("DeepDAICE", "2", rng.uniform(0, 1, N))
    # the combined ranking of both (ntl_spark/combine.py): its own model_name, both versions (own draw: the lake's
    # other draws stay as they were)
    combined = ranking("DAICE_DeepDAICE", "1+2", np.random.default_rng(99).uniform(0, 1, N))
    schema = pa.schema([
        ("customer_id", pa.string()), ("region", pa.string()), ("score", pa.float64()), ("rank", pa.int32()),
        ("region_rank", pa.int32()), ("model_name", pa.string()), ("model_version", pa.string()),
        ("run_id", pa.string()), ("scored_on", pa.date32()), ("reference_month", pa.date32()),
        ("top_features", pa.list_(pa.struct([("feature", pa.string()), ("contribution", pa.float32())]))),
    ])
    _write(root, "scores", pa.Table.from_pandas(pd.concat([daice, deep, combined]), schema=schema, preserve_index=False),
           partition_by=["scored_on", "model_name"])

    inspections = pa.table({
        "inspection_id": ["I1", "I2"], "customer_id": [daice["customer_id"][0], ids[5]],
        "inspected_on": pa.array([dt.date(2026, 6, 1), dt.date(2024, 1, 1)], pa.date32()),
        "outcome": ["regular", "irregular"], "irregularity": pa.array([None, "bypass"], pa.string()),
        "recovered_kwh": pa.array([None, 1200.0], pa.float64()), "campaign_id": pa.array([None, None], pa.string()),
    })
    _write(root, "inspections", inspections)

    smart = [m for m in meter_id if m]
    days = [REFERENCE + dt.timedelta(days=d) for d in range(20)]
    kwh = [[float(v) if (k + d) % 37 else None for k, v in enumerate(rng.gamma(2, 0.1, 96))] for _ in smart
           for d in range(20)]
    _write(root, "readings_daily", pa.table({
        "meter_id": [m for m in smart for _ in days], "day": pa.array(days * len(smart), pa.date32()),
        "kwh": pa.array(kwh, pa.list_(pa.float32())),
    }))

    # a campaign of the campaign job: per region 2 model-arm requests (best ranks) and 1 control
    camp = []
    for reg in REGIONS:
        in_region = daice[daice["region"] == reg]
        for rank, (_, r) in enumerate(in_region.iloc[10:12].iterrows(), start=1):
            camp.append((r["customer_id"], reg, "model", rank, r["score"]))
        r = in_region.iloc[-1]
        camp.append((r["customer_id"], reg, "control", 1, r["score"]))
    n = len(camp)
    _write(root, "campaigns", pa.table({
        "campaign_id": ["CMP-2026-10"] * n, "created_on": pa.array([SCORED_ON] * n, pa.date32()),
        "customer_id": [c[0] for c in camp], "region": [c[1] for c in camp], "arm": [c[2] for c in camp],
        "rank": pa.array([c[3] for c in camp], pa.int32()), "score": [float(c[4]) for c in camp],
        "order_by": ["probability"] * n, "model_name": ["DAICE"] * n, "model_version": ["1"] * n,
        "scored_on": pa.array([SCORED_ON] * n, pa.date32()),
    }))

    _write(root, "model_decisions", pa.table({
        "decided_at": pa.array([dt.datetime(2026, 10, 1, 3, 0)], pa.timestamp("us")), "action": ["validate"],
        "model_name": ["DAICE"], "challenger_version": ["1"], "champion_version": pa.array([None], pa.string()),
        "champion_after": ["1"], "blessed": [True], "reasons": [["no champion yet: PR-AUC 0.61 >= 0.2"]],
    }))
    return {"daice": daice, "deep": deep, "combined": combined, "inspected_recently": daice["customer_id"][0],
            "feature_columns": columns, "model_json": bytes(booster.save_raw("json")), "campaign": camp}
