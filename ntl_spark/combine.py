"""One ranking from both families: each customer at the better of its two places.

DAICE (monthly bills, every customer) and DeepDAICE (15-minute curves, smart
meters) err on different customers: DAICE's honest customers at the top are
mostly look-alikes a curve tells apart (rooftop solar, seasonal homes), and
DeepDAICE's are ordinary customers with an alarm or a flat load that the bills
show as unremarkable; they also find different thefts (docs/deepdaice.md). The
combined ranking gives each customer the better of its relative places
(``rank / customers ranked``) in the two lists, so a campaign drawing its top
takes each family's most confident customers in turn, as if the two lists were
interleaved. Ties (the same relative place in both) go to the customer whose
other place is better, then by customer id. A customer only one family scored
(not a smart meter, or a window below coverage) keeps that family's place.

The rows go into ``scores`` under their own model name (``combine.name``) with
``model_version`` naming both versions (``<DAICE>+<DeepDAICE>``); ``score`` is
the probability given by the family that placed the customer best,
``top_features`` DAICE's. Both score jobs rebuild it after writing their own
rows when the other family has rows for the same ``scored_on``, so whichever
ran last leaves the combination of the two latest lists.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from ntl_spark import lakehouse, models, schemas
from ntl_spark.config import Config
from ntl_spark.sparkutil import scalar

PLACE = "place"  # rank / customers ranked by the family, in (0, 1]
OTHER = "other_place"


def relative_places(ranked: DataFrame) -> DataFrame:
    """``ranked`` (one family's rows with ``rank``) plus :data:`PLACE` = rank / number of rows."""
    return ranked.withColumn(PLACE, F.col("rank").cast("double") / F.lit(max(ranked.count(), 1)))


def best_places(first: DataFrame, second: DataFrame) -> DataFrame:
    """Each customer once, at the better of its places in two rankings.

    Args:
        first, second: one family's rows each: customer_id, region, score, rank,
            and ``top_features`` in ``first`` (DAICE's; optional).

    Returns:
        customer_id, region, score (of the family with the better place; ``first`` on a tie),
        top_features (``first``'s, else empty), :data:`PLACE` (the better place), :data:`OTHER`
        (the other place; 2.0 when only one family ranked the customer), source (1 or 2).
    """
    a = relative_places(first)
    b = relative_places(second)
    features_type = schemas.SCORES_SCHEMA["top_features"].dataType
    # read back from Delta the struct's fields are nullable; the table declares them not null
    a_feats = (F.transform(F.col("a.top_features"), lambda x: F.struct(
        F.coalesce(x["feature"], F.lit("")).alias("feature"),
        F.coalesce(x["contribution"], F.lit(0.0).cast("float")).alias("contribution")))
        if "top_features" in first.columns else F.lit(None).cast(features_type))
    both = a.alias("a").join(b.alias("b"), F.col("a.customer_id") == F.col("b.customer_id"), "full_outer")
    pa_, pb = F.coalesce(F.col(f"a.{PLACE}"), F.lit(2.0)), F.coalesce(F.col(f"b.{PLACE}"), F.lit(2.0))
    from_a = pa_ <= pb
    return both.select(
        F.coalesce(F.col("a.customer_id"), F.col("b.customer_id")).alias("customer_id"),
        F.coalesce(F.col("a.region"), F.col("b.region")).alias("region"),
        F.when(from_a, F.col("a.score")).otherwise(F.col("b.score")).alias("score"),
        F.coalesce(a_feats, F.array().cast(features_type)).alias("top_features"),
        F.least(pa_, pb).alias(PLACE),
        F.greatest(pa_, pb).alias(OTHER),
        F.when(from_a, F.lit(1)).otherwise(F.lit(2)).alias("source"),
    )


def combined_order() -> list[Column]:
    """The combined ranking's order: better place first, then the other place, then customer_id."""
    return [F.col(PLACE).asc(), F.col(OTHER).asc(), F.col("customer_id").asc()]


def rank_combined(first: DataFrame, second: DataFrame) -> DataFrame:
    """:func:`best_places` with ``rank`` and ``region_rank`` in :func:`combined_order`."""
    return models.rank_scores(best_places(first, second), order=combined_order())


def family_rows(scores: DataFrame, name: str, scored_on: dt.date) -> DataFrame:
    """One model's rows of one scoring day."""
    return scores.where((F.col("model_name") == name) & (F.col("scored_on") == F.lit(scored_on)))


def refresh(spark: SparkSession, cfg: Config, scored_on: dt.date, run_id: str) -> dict[str, Any] | None:
    """Rebuild the combined rows of ``scored_on`` from DAICE's and DeepDAICE's rows of that day.

    Returns None (and writes nothing) when ``combine.enabled`` is off or one
    family has no rows that day; else the rows written, the scores version and
    the model version (``<DAICE>+<DeepDAICE>``).
    """
    cc = cfg.combine
    if not cc.enabled:
        return None
    path = cfg.paths.table(schemas.SCORES)
    pinned = lakehouse.read_pinned(spark, path, schemas.SCORES, "score")
    daice = family_rows(pinned.df, cfg.model.name, scored_on)
    deep = family_rows(pinned.df, cfg.deep.model_name, scored_on)
    versions = {}
    for name, rows in ((cfg.model.name, daice), (cfg.deep.model_name, deep)):
        got = [r["model_version"] for r in rows.select("model_version").distinct().collect()]
        if not got:
            print(f"combine: no {name} scores on {scored_on}: the combined ranking ({cc.name}) is left as it was")
            return None
        versions[name] = ",".join(sorted(got))
    model_version = f"{versions[cfg.model.name]}+{versions[cfg.deep.model_name]}"
    month = scalar(daice.agg(F.max("reference_month")), "DAICE scores")
    lineage = lakehouse.merge_lineage(lakehouse.lineage_of(daice), lakehouse.lineage_of(deep),
                                      {schemas.SCORES: pinned.version})
    ranked = rank_combined(daice, deep).select(
        "customer_id", "region", "score", "rank", "region_rank",
        F.lit(cc.name).alias("model_name"),
        F.lit(model_version).alias("model_version"),
        F.lit(run_id).alias("run_id"),
        F.lit(scored_on).alias("scored_on"),
        F.lit(month).alias("reference_month"),
        lakehouse.lineage_column(lineage).alias(schemas.LINEAGE_COLUMN),
        "top_features",
    )
    version = models.write_scores(ranked, path, scored_on, cc.name)
    n = lakehouse.read_pinned(spark, path, schemas.SCORES, "score", version).df.where(
        (F.col("scored_on") == F.lit(scored_on)) & (F.col("model_name") == cc.name)).count()
    print(f"combine: {n:,} customers ranked as {cc.name} v{model_version} (the better place of {cfg.model.name} "
          f"v{versions[cfg.model.name]} and {cfg.deep.model_name} v{versions[cfg.deep.model_name]}), "
          f"scores Delta v{version}")
    return {"rows": n, "version": version, "model_version": model_version}
