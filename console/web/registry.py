"""The MLflow registry as the console reads it: models, versions, aliases, runs,
and loading a DAICE version for online scoring.

The tracking and registry URIs are the ones the jobs compute
(``Config.tracking_uri`` / ``registry_uri``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from web import pipeline

_clients: dict[tuple[str, str], Any] = {}


def client() -> Any:
    """An MLflow client on the configured URIs (one per process: opening a SQLite store is slow)."""
    import mlflow
    from mlflow.tracking import MlflowClient

    cfg = pipeline.config()
    key = (cfg.tracking_uri, cfg.registry_uri)
    if key not in _clients:
        _clients.clear()
        _clients[key] = MlflowClient(tracking_uri=cfg.tracking_uri, registry_uri=cfg.registry_uri)
    mlflow.set_tracking_uri(cfg.tracking_uri)
    mlflow.set_registry_uri(cfg.registry_uri)
    return _clients[key]


def families() -> list[tuple[str, str]]:
    """(registered model name, champion alias) of each model family the jobs register."""
    cfg = pipeline.config()
    return [(cfg.model.name, cfg.model.champion), (cfg.deep.model_name, cfg.deep.model_ref)]


def alias_version(name: str, alias: str) -> str | None:
    """The version holding ``alias`` of model ``name``, or None (no model, no alias, no registry yet)."""
    import mlflow

    if alias.isdigit():
        return alias
    try:
        return str(client().get_model_version_by_alias(name, alias).version)
    except mlflow.exceptions.MlflowException:
        return None


def models() -> list[dict[str, Any]]:
    """Every registered model with its versions: aliases, run metrics, parameters and data versions."""
    c = client()
    out = []
    for rm in c.search_registered_models():
        aliases: dict[str, list[str]] = {}
        for alias, v in (rm.aliases or {}).items():
            aliases.setdefault(str(v), []).append(alias)
        versions = []
        for mv in sorted(c.search_model_versions(f"name='{rm.name}'"), key=lambda m: -int(m.version)):
            metrics: dict[str, float] = {}
            params: dict[str, str] = {}
            if mv.run_id:
                try:
                    run = c.get_run(mv.run_id)
                    metrics, params = dict(run.data.metrics), dict(run.data.params)
                except Exception:  # noqa: BLE001 - a deleted run leaves the version readable
                    pass
            data_versions = {k[len("data."):-len(".version")]: v for k, v in params.items()
                             if k.startswith("data.") and k.endswith(".version")}
            hyper = {k: v for k, v in params.items() if not k.startswith("data.")}
            versions.append({
                "version": str(mv.version), "run_id": mv.run_id, "created": mv.creation_timestamp,
                "aliases": sorted(aliases.get(str(mv.version), [])), "tags": dict(mv.tags or {}),
                "metrics": dict(sorted(metrics.items())), "params": dict(sorted(hyper.items())),
                "data_versions": dict(sorted(data_versions.items())),
            })
        out.append({"name": rm.name, "description": rm.description or "", "versions": versions})
    return sorted(out, key=lambda m: m["name"])


@dataclass(frozen=True)
class LoadedDaice:
    """A registered DAICE version ready to score pandas rows."""

    name: str
    version: str
    booster: Any
    feature_columns: list[str]
    categories: list[dict[str, Any]]  # the vocabulary as saved: column, levels, features, other

    @property
    def raw_columns(self) -> list[str]:
        return [c["column"] for c in self.categories]


def load_daice(name: str, ref: str) -> LoadedDaice:
    """Load model ``name`` at version or alias ``ref`` from the registry (booster, inputs, vocabulary).

    Raises:
        ValueError: no such version or alias, or the version is not a DAICE model with its vocabulary.
    """
    import mlflow
    import mlflow.xgboost

    c = client()
    try:
        mv = c.get_model_version(name, ref) if ref.isdigit() else c.get_model_version_by_alias(name, ref)
    except mlflow.exceptions.MlflowException as e:
        raise ValueError(f"registered model '{name}' has no version or alias '{ref}'") from e
    uri = f"models:/{name}/{mv.version}"
    meta = mlflow.models.get_model_info(uri).metadata or {}
    cols = meta.get("feature_columns")
    cats = meta.get("categories")
    if not cols or cats is None or int(cats.get("format", 0)) != 1:
        raise ValueError(f"model {name} v{mv.version} is not a DAICE model with its categorical vocabulary "
                         f"(feature_columns and categories metadata): online scoring needs one")
    model = mlflow.xgboost.load_model(uri)
    booster = model.get_booster() if hasattr(model, "get_booster") else model
    return LoadedDaice(name, str(mv.version), booster, list(cols), list(cats["columns"]))
