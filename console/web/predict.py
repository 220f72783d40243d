"""Online scoring: a registered DAICE version scores customers' latest features now.

Rows come from ``monthly_features`` (the newest reference month of each
customer); categorical columns are encoded with the vocabulary saved with the
model, exactly as ``ntl_spark.encoding`` does in the jobs (a kept level -> its
column 1, an unseen value -> ``<column>__other`` 1, a null -> all 0).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from web.registry import LoadedDaice

MAX_CUSTOMERS = 5000


def encode(rows: pd.DataFrame, model: LoadedDaice) -> np.ndarray:
    """The model's input matrix (float32, NaN = missing) for ``rows``, columns in training order.

    Raises:
        ValueError: a column the model reads is missing from the rows.
    """
    encoded: dict[str, np.ndarray] = {}
    for item in model.categories:
        col = item["column"]
        if col not in rows.columns:
            raise ValueError(f"monthly_features lacks column '{col}' that model {model.name} v{model.version} "
                             f"encodes: rebuild it with the features job")
        values = rows[col].astype("string")
        null = values.isna().to_numpy()
        seen = np.zeros(len(rows), dtype=bool)
        for level, name in zip(item["levels"], item["features"], strict=True):
            hit = (values == level).fillna(False).to_numpy(dtype=bool)
            seen |= hit
            encoded[name] = hit.astype(np.float32)
        encoded[item["other"]] = (~(null | seen)).astype(np.float32)
    missing = [c for c in model.feature_columns if c not in encoded and c not in rows.columns]
    if missing:
        raise ValueError(f"monthly_features lacks column(s) {missing} that model {model.name} v{model.version} "
                         f"reads: rebuild it with the features job (features.months must match the model's)")
    cols = [encoded[c] if c in encoded else pd.to_numeric(rows[c], errors="coerce").to_numpy(dtype=np.float32,
                                                                                            na_value=np.nan)
            for c in model.feature_columns]
    return np.column_stack(cols).astype(np.float32) if cols else np.zeros((len(rows), 0), np.float32)


def score(rows: pd.DataFrame, model: LoadedDaice, top_k: int = 3) -> pd.DataFrame:
    """customer_id, region, reference_month, score and the top ``top_k`` contributions, best first."""
    import xgboost as xgb

    x = encode(rows, model)
    scores = model.booster.inplace_predict(x, missing=np.nan, validate_features=False)
    contribs = model.booster.predict(xgb.DMatrix(x, missing=np.nan, feature_names=model.feature_columns),
                                     pred_contribs=True)[:, : len(model.feature_columns)]
    top = []
    for row in contribs:
        order = np.argsort(-np.abs(row))[:top_k]
        top.append([{"feature": model.feature_columns[j], "contribution": float(row[j])} for j in order])
    out = pd.DataFrame({
        "customer_id": rows["customer_id"].to_numpy(),
        "region": rows["region"].to_numpy() if "region" in rows.columns else None,
        "reference_month": rows["reference_month"].to_numpy() if "reference_month" in rows.columns else None,
        "score": np.asarray(scores, dtype=float),
        "top_features": top,
    })
    return out.sort_values(["score", "customer_id"], ascending=[False, True]).reset_index(drop=True)


def place_in(scores: pd.Series, reference: Sequence[float]) -> pd.Series:
    """Where each score would stand in a ranking of ``reference`` scores (1 = above all of them)."""
    ascending = np.sort(np.asarray(reference, dtype=float))
    # rank = 1 + how many reference scores are strictly higher
    higher = len(ascending) - np.searchsorted(ascending, scores.to_numpy(dtype=float), side="right")
    return pd.Series(higher + 1, index=scores.index)


def customer_ids_from_upload(name: str, data: bytes) -> list[str]:
    """The customer ids of an uploaded list: CSV or Excel, a ``customer_id`` column (else the first column).

    Raises:
        ValueError: not CSV/Excel, unreadable, empty, or more than ``MAX_CUSTOMERS`` ids.
    """
    lower = name.lower()
    try:
        if lower.endswith((".xlsx", ".xlsm")):
            df = pd.read_excel(io.BytesIO(data), dtype=str, engine="openpyxl")
        elif lower.endswith((".csv", ".txt")):
            text = data.decode("utf-8-sig", errors="strict")
            sep = ";" if text.split("\n", 1)[0].count(";") > text.split("\n", 1)[0].count(",") else ","
            df = pd.read_csv(io.StringIO(text), dtype=str, sep=sep)
        else:
            raise ValueError(f"file '{name}': upload a .csv or .xlsx file with a customer_id column")
    except UnicodeDecodeError as e:
        raise ValueError(f"file '{name}' is not UTF-8 text: save the CSV as UTF-8") from e
    except (pd.errors.ParserError, pd.errors.EmptyDataError, OSError, KeyError, ValueError) as e:
        if isinstance(e, ValueError) and str(e).startswith("file '"):
            raise
        raise ValueError(f"file '{name}' could not be read as {'Excel' if 'xls' in lower else 'CSV'}: {e}") from e
    if df.empty or len(df.columns) == 0:
        raise ValueError(f"file '{name}' has no rows")
    col = "customer_id" if "customer_id" in df.columns else df.columns[0]
    ids = [str(v).strip() for v in df[col].dropna() if str(v).strip()]
    if not ids:
        raise ValueError(f"file '{name}': column '{col}' holds no customer ids")
    if len(ids) > MAX_CUSTOMERS:
        raise ValueError(f"file '{name}' lists {len(ids)} customers; at most {MAX_CUSTOMERS} at once")
    return list(dict.fromkeys(ids))


def as_rows(scored: pd.DataFrame) -> list[dict[str, Any]]:
    return scored.to_dict("records")
