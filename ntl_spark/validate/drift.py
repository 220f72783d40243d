"""Skew and drift: population stability index (PSI) between a reference and other data sets.

In: a reference DataFrame (the training split), one or more compared
DataFrames (the validation split, the scoring month's features) and the
columns to compare (:func:`drift_columns`: the model's numeric inputs); or two
numpy arrays (model scores).
Out: per column and compared set, the PSI with its level (``ok``, ``warn``,
``block`` against config thresholds) and the binned shares behind it.

Bins are the reference's approximate deciles (``bins`` quantiles, repeated
edges merged, so a 0/1 column gets two bins); missing values are a bin of
their own, so a column that starts arriving empty drifts too.
PSI = sum over bins of (cur - ref) * ln(cur / ref), on shares with half a count
added to every bin (small samples leave bins empty by chance).
Rule of thumb: < 0.1 stable, 0.1-0.25 moderate shift, > 0.25 major shift.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from ntl_spark import schemas
from ntl_spark.config import Config
from ntl_spark.errors import DataError

EPS = 1e-4


@dataclass(frozen=True)
class Drift:
    """PSI of one column between the reference and one compared set."""

    column: str
    compared: str  # name of the compared set (validation, scoring ...)
    psi: float
    level: str  # ok, warn or block
    edges: list[float]  # interior bin edges (bin i holds edges[i-1] < x <= edges[i])
    reference: list[float]  # shares per bin, the last bin = missing values
    current: list[float]


def psi(reference: Sequence[float] | np.ndarray, current: Sequence[float] | np.ndarray, smoothing: float = 0.5) -> float:
    """PSI of two binned distributions given as counts over the same bins.

    Each bin gets ``smoothing`` extra counts on both sides (additive smoothing),
    so a bin that a small sample leaves empty does not dominate the index.
    """
    r = np.asarray(reference, dtype=float)
    c = np.asarray(current, dtype=float)
    if r.shape != c.shape:
        raise ValueError(f"psi: bins differ ({r.shape} vs {c.shape})")
    r = np.maximum((r + smoothing) / (r.sum() + smoothing * len(r)), EPS)
    c = np.maximum((c + smoothing) / (c.sum() + smoothing * len(c)), EPS)
    return float(np.sum((c - r) * np.log(c / r)))


def level(value: float, warn: float, block: float) -> str:
    """``block`` at or above ``block``, ``warn`` at or above ``warn``, else ``ok``."""
    if value >= block:
        return "block"
    if value >= warn:
        return "warn"
    return "ok"


def _edges(values: Sequence[float] | None) -> list[float]:
    if not values:
        return []
    return sorted({float(v) for v in values if v is not None and not np.isnan(v)})


def reference_edges(reference: DataFrame, columns: Sequence[str], bins: int) -> dict[str, list[float]]:
    """Interior bin edges per column from the reference's approximate quantiles (one Spark job)."""
    probs = [i / bins for i in range(1, bins)]
    row = reference.agg(
        *[F.percentile_approx(F.col(f"`{c}`").cast("double"), probs, 1000).alias(f"e{i}") for i, c in enumerate(columns)]
    ).collect()[0]
    return {c: _edges(row[f"e{i}"]) for i, c in enumerate(columns)}


def binned_counts(df: DataFrame, edges: Mapping[str, list[float]]) -> dict[str, np.ndarray]:
    """Counts per bin of every column in one Spark job; the last bin counts missing values."""
    pairs = []
    for c, e in edges.items():
        x = F.col(f"`{c}`").cast("double")
        b = sum((F.when(x > F.lit(v), 1).otherwise(0) for v in e), F.lit(0))
        b = F.when(x.isNull() | F.isnan(x), F.lit(len(e) + 1)).otherwise(b)
        pairs.append(F.struct(F.lit(c).alias("c"), b.alias("b")))
    out = {c: np.zeros(len(e) + 2) for c, e in edges.items()}
    if not pairs:
        return out
    rows = df.select(F.explode(F.array(*pairs)).alias("p")).groupBy("p.c", "p.b").count().collect()
    for r in rows:
        out[r["c"]][int(r["b"])] += int(r["count"])
    return out


def drift_columns(cfg: Config, *frames: DataFrame, inputs: Sequence[str] | None = None) -> list[str]:
    """The model inputs compared for drift, in training order, that every frame holds.

    ``validation.drift.features`` when set; else ``inputs``, the numeric inputs a
    registered model records (``models.recorded_numeric_inputs``: the monitor's
    champion); else the numeric inputs the train job builds now
    (``schemas.numeric_feature_columns`` with ``train.raw_consumption``, so
    C1..C<months> only when the model reads them). Less ``validation.drift.exclude``.

    Args:
        cfg: the configuration (``validation.drift``, ``features.months``, ``train.raw_consumption``).
        frames: the data sets compared; a column missing from any of them is left out.
        inputs: the numeric inputs of the model whose inputs drift is judged for, if known.
    """
    dc = cfg.validation.drift
    wanted = dc.features or (list(inputs) if inputs is not None else
                             schemas.numeric_feature_columns(cfg.features.months, cfg.train.raw_consumption))
    return [c for c in wanted if c not in dc.exclude and all(c in f.columns for f in frames)]


def feature_drift(
    reference: DataFrame,
    compared: Mapping[str, DataFrame],
    columns: Sequence[str],
    bins: int,
    warn: float,
    block: float,
) -> list[Drift]:
    """PSI of every column of each compared set against the reference.

    Args:
        reference: the data the model learnt from (training split).
        compared: name -> data (e.g. ``validation`` split, ``scoring`` month).
        columns: numeric columns to compare.
        bins: quantile bins of the reference.
        warn: PSI at which a column warns.
        block: PSI at which a column blocks.

    Returns:
        One :class:`Drift` per compared set and column.

    Raises:
        ValueError: a column is missing from the reference or a compared set.
    """
    for name, df in {"reference": reference, **compared}.items():
        missing = [c for c in columns if c not in df.columns]
        if missing:
            raise DataError(f"drift: column(s) {missing} missing from the {name} data")
    edges = reference_edges(reference, columns, bins)
    ref_counts = binned_counts(reference, edges)
    out = []
    for name, df in compared.items():
        cur_counts = binned_counts(df, edges)
        for c in columns:
            r, k = ref_counts[c], cur_counts[c]
            value = psi(r, k)
            out.append(Drift(c, name, value, level(value, warn, block), edges[c],
                             (r / max(r.sum(), 1)).tolist(), (k / max(k.sum(), 1)).tolist()))
    return out


def array_drift(
    reference: np.ndarray, current: np.ndarray, bins: int, warn: float, block: float, name: str = "score",
    compared: str = "scoring",
) -> Drift:
    """PSI of two samples held on the driver (e.g. model scores), binned on the reference's quantiles."""
    ref = np.asarray(reference, dtype=float)
    cur = np.asarray(current, dtype=float)
    edges = _edges(np.quantile(ref[~np.isnan(ref)], [i / bins for i in range(1, bins)]).tolist()) if ref.size else []

    def counts(x: np.ndarray) -> np.ndarray:
        out = np.zeros(len(edges) + 2)
        ok = ~np.isnan(x)
        np.add.at(out, np.searchsorted(edges, x[ok], side="left"), 1)
        out[-1] = (~ok).sum()
        return out

    r, k = counts(ref), counts(cur)
    value = psi(r, k)
    return Drift(name, compared, value, level(value, warn, block), edges,
                 (r / max(r.sum(), 1)).tolist(), (k / max(k.sum(), 1)).tolist())


def label_rates(sets: Mapping[str, DataFrame], label_col: str = "label") -> dict[str, tuple[int, float]]:
    """Rows and share of label 1 per labelled set."""
    out = {}
    for name, df in sets.items():
        row = df.agg(F.count(F.lit(1)).alias("n"), F.avg(F.col(label_col).cast("double")).alias("rate")).collect()[0]
        out[name] = (int(row["n"]), float(row["rate"]) if row["rate"] is not None else float("nan"))
    return out
