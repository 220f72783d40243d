"""Who holds the champion alias, and why: the decisions kept about registered model versions.

Two stages move the champion alias of ``model.name``: the model gate
(``validate_model``, when it blesses a challenger) and ``promote`` (by hand:
a named version, e.g. a rollback to the previous champion). Both keep what
they decided in two places:

- tags on the model version in the MLflow registry (``validation.*`` for the
  gate, ``promotion.*`` for a promotion), next to the model;
- a row in the append-only Delta table ``model_decisions``
  (:data:`ntl_spark.schemas.MODEL_DECISIONS_SCHEMA`): when, which versions,
  blessed or not, the reasons, the headline metrics of both models, the
  held-out rows and customers (and how they were chosen), the split that
  decided and both recipes' metrics on the time split, and the data
  versions they were judged on.

In (promote): ``promote.version`` (a registered version number) and
``promote.reason``. Out: the champion alias on that version, the tags and a
``model_decisions`` row with action ``promote``, champion before and after.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import SparkSession

from ntl_spark import lakehouse, schemas, tracking
from ntl_spark.config import Config
from ntl_spark.errors import ConfigError

ACTION_VALIDATE = "validate"
ACTION_PROMOTE = "promote"
_TAG_TEXT = 5000  # MLflow keeps tag values up to 5000 characters in its SQL stores


@dataclass(frozen=True)
class ModelDecision:
    """One row of ``model_decisions``: a verdict on a model version, or a move of the champion alias."""

    action: str  # validate or promote
    model_name: str
    challenger_version: str  # the version judged (validate) or promoted (promote)
    champion_version: str | None  # champion before the decision; None when there was none
    champion_after: str | None  # champion after the decision
    blessed: bool
    reasons: list[str]
    challenger_metrics: dict[str, float] = field(default_factory=dict)
    champion_metrics: dict[str, float] | None = None
    held_out_rows: int | None = None
    run_id: str | None = None  # the validation run in MLflow
    data_versions: dict[str, int] = field(default_factory=dict)
    held_out_customers: int | None = None  # customers held out by both models (validate)
    held_out: str | None = None  # how those customers were chosen (each model's recorded split)
    split: str | None = None  # the split whose metrics decided: time or random (validate)
    time_split: str | None = None  # the time split's cut-off and rows, or why it judged nothing
    time_challenger_metrics: dict[str, float] | None = None  # the challenger's recipe on the time split
    time_champion_metrics: dict[str, float] | None = None
    decided_at: dt.datetime = field(default_factory=dt.datetime.now)

    def row(self) -> tuple[Any, ...]:
        """The values in :data:`schemas.MODEL_DECISIONS_SCHEMA` order."""
        return (self.decided_at, self.action, self.model_name, self.challenger_version, self.champion_version,
                self.champion_after, self.blessed, list(self.reasons), _finite(self.challenger_metrics),
                _finite(self.champion_metrics) if self.champion_metrics is not None else None,
                self.held_out_rows, self.run_id, lakehouse.merge_lineage(self.data_versions),
                self.held_out_customers, self.held_out, self.split, self.time_split,
                _finite(self.time_challenger_metrics) if self.time_challenger_metrics is not None else None,
                _finite(self.time_champion_metrics) if self.time_champion_metrics is not None else None)


def _finite(metrics: Mapping[str, float]) -> dict[str, float]:
    """Metrics as floats, NaN (undefined, e.g. one class only) left out rather than stored."""
    return {k: float(v) for k, v in metrics.items() if not math.isnan(float(v))}


def record(spark: SparkSession, cfg: Config, decision: ModelDecision) -> int:
    """Append ``decision`` to the ``model_decisions`` Delta table; returns the Delta version written."""
    df = spark.createDataFrame([decision.row()], schemas.MODEL_DECISIONS_SCHEMA)
    # add_columns: a table written before held_out_customers / held_out / split / time_* existed gains them
    # (null in its old rows)
    return lakehouse.write(df, cfg.paths.table(schemas.MODEL_DECISIONS), schemas.MODEL_DECISIONS, mode="append",
                           schema=schemas.MODEL_DECISIONS_SCHEMA, add_columns=True, note=decision.action)


def tag_version(client: Any, name: str, version: str, tags: Mapping[str, object]) -> None:
    """Set ``tags`` on a model version (values as text, cut to what the registry keeps)."""
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, "" if value is None else str(value)[:_TAG_TEXT])


def reasons_text(reasons: Sequence[str]) -> str:
    return "; ".join(reasons)


def promote(spark: SparkSession, cfg: Config) -> dict[str, Any]:
    """Move the champion alias to ``promote.version`` and keep the move (tags, ``model_decisions``).

    Returns:
        model name, version, champion before, whether the alias moved, the Delta version written.

    Raises:
        ConfigError: ``promote.version`` or ``promote.reason`` is empty, or the
            version is not registered (the message lists the versions there are).
    """
    pc, mc = cfg.promote, cfg.model
    if not pc.version:
        raise ConfigError("config key 'promote.version': name the version to make champion "
                          "(--set promote.version=N)")
    if not pc.reason.strip():
        raise ConfigError("config key 'promote.reason': say why (--set promote.reason=\"rollback after ...\")")
    client = tracking.setup(cfg)
    if not tracking.version_exists(client, mc.name, pc.version):
        known = sorted(int(v.version) for v in client.search_model_versions(f"name = '{mc.name}'"))
        raise ConfigError(f"config key 'promote.version': registered model '{mc.name}' has no version "
                          f"{pc.version!r}; versions: {known}")
    before = tracking.alias_version(client, mc.name, mc.champion)
    if before == pc.version:
        print(f"promote: {mc.name} v{pc.version} already holds @{mc.champion}; nothing to do")
        return {"model_name": mc.name, "version": pc.version, "champion_before": before, "moved": False,
                "delta_version": None}
    decision = ModelDecision(ACTION_PROMOTE, mc.name, pc.version, before, pc.version, True, [pc.reason])
    delta_version = record(spark, cfg, decision)
    tag_version(client, mc.name, pc.version, {
        "promotion.reason": pc.reason, "promotion.previous_champion": before or "",
        "promotion.at": decision.decided_at.isoformat(timespec="seconds"),
    })
    tracking.set_alias(client, mc.name, mc.champion, pc.version)
    print(f"promote: {mc.name} @{mc.champion} v{before or '-'} -> v{pc.version} ({pc.reason}); "
          f"{schemas.MODEL_DECISIONS} Delta v{delta_version}")
    return {"model_name": mc.name, "version": pc.version, "champion_before": before, "moved": True,
            "delta_version": delta_version}
