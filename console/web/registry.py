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
_loaded: dict[tuple[str, str, str], LoadedDaice] = {}


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
    key = (pipeline.config().registry_uri, name, str(mv.version))
    if key in _loaded:  # a version never changes; an alias is resolved afresh above on every call
        return _loaded[key]
    uri = f"models:/{name}/{mv.version}"
    meta = mlflow.models.get_model_info(uri).metadata or {}
    cols = meta.get("feature_columns")
    cats = meta.get("categories")
    if not cols or cats is None or int(cats.get("format", 0)) != 1:
        raise ValueError(f"model {name} v{mv.version} is not a DAICE model with its categorical vocabulary "
                         f"(feature_columns and categories metadata): online scoring needs one")
    model = mlflow.xgboost.load_model(uri)
    booster = model.get_booster() if hasattr(model, "get_booster") else model
    loaded = LoadedDaice(name, str(mv.version), booster, list(cols), list(cats["columns"]))
    if len(_loaded) >= 4:
        _loaded.clear()
    _loaded[key] = loaded
    return loaded


def register_file(name: str, data: bytes, filename: str, base_ref: str, note: str, user: str) -> str:
    """Register an XGBoost model file as a new version of DAICE model ``name``, as the train job registers one.

    The file takes the inputs and categorical vocabulary (and held-out split)
    of the version ``base_ref``, so it must have been trained on the same
    columns. Checks before anything is written: the file loads as an XGBoost
    binary classifier (``binary:logistic``), its inputs are the base version's
    in the same order (by name when the file carries names, else by count),
    and it scores the newest ``monthly_features`` rows to probabilities in
    [0, 1]. The new version gets the challenger alias (``model.challenger``)
    and the split tags, so the model gate (validate_model) judges it on the
    held-out split exactly like a trained version before it can become champion.

    Returns:
        The new version number.

    Raises:
        ValueError: the file or its inputs fail a check (the message says which).
    """
    import hashlib
    import json
    import tempfile

    import mlflow
    import mlflow.xgboost
    import numpy as np
    import xgboost as xgb

    from web import predict

    base = load_daice(name, base_ref)
    booster = xgb.Booster()
    try:
        booster.load_model(bytearray(data))
    except xgb.core.XGBoostError as e:
        raise ValueError(f"file '{filename}' is not an XGBoost model (JSON or UBJSON): {str(e)[:200]}") from e
    objective = json.loads(booster.save_config())["learner"]["objective"]["name"]
    if objective != "binary:logistic":
        raise ValueError(f"file '{filename}': objective {objective!r}; a DAICE model is a binary:logistic classifier")
    names = booster.feature_names
    if names is not None and list(names) != base.feature_columns:
        missing = [c for c in base.feature_columns if c not in names]
        extra = [c for c in names if c not in base.feature_columns]
        raise ValueError(f"file '{filename}': its inputs differ from {name} v{base.version}'s (missing {missing[:10]}, "
                         f"extra {extra[:10]}{', or another order' if not missing and not extra else ''})")
    if booster.num_features() != len(base.feature_columns):
        raise ValueError(f"file '{filename}' reads {booster.num_features()} inputs; {name} v{base.version} has "
                         f"{len(base.feature_columns)}")
    booster.feature_names = list(base.feature_columns)
    candidate = LoadedDaice(name, "new", booster, base.feature_columns, base.categories)
    rows = pipeline.read(pipeline.MONTHLY_FEATURES).slice(0, 2000).to_pandas()
    if rows.empty:
        raise ValueError("monthly_features has no rows to check the model on: run the features job")
    scores = predict.score(rows, candidate, top_k=1)["score"].to_numpy()
    if not np.all(np.isfinite(scores)) or scores.min() < 0 or scores.max() > 1:
        raise ValueError(f"file '{filename}' gives scores outside [0, 1] on monthly_features rows")

    c = client()
    cfg = pipeline.config()
    base_mv = c.get_model_version(name, base.version)
    meta = dict(mlflow.models.get_model_info(f"models:/{name}/{base.version}").metadata or {})
    experiment = c.get_experiment_by_name(cfg.mlflow.experiment)
    if experiment is None:
        raise ValueError(f"MLflow experiment '{cfg.mlflow.experiment}' does not exist: run the train job once")
    digest = hashlib.sha256(data).hexdigest()
    with mlflow.start_run(experiment_id=experiment.experiment_id, run_name=f"upload {filename}") as run:
        mlflow.set_tags({"source": "console upload", "uploaded_by": user, "file": filename, "sha256": digest,
                         "base_version": base.version, "note": note[:500]})
        mlflow.log_params({"base_version": base.version, "file_sha256": digest[:16],
                           **{k: v for k, v in c.get_run(base_mv.run_id).data.params.items()
                              if k.startswith("data.")}} if base_mv.run_id else {"base_version": base.version})
        with tempfile.TemporaryDirectory() as tmp:
            path = f"{tmp}/{filename.replace('/', '_')}"
            with open(path, "wb") as f:
                f.write(data)
            mlflow.log_artifact(path, artifact_path="upload")
        info = mlflow.xgboost.log_model(booster, name="model", registered_model_name=name, metadata=meta)
    version = str(info.registered_model_version)
    for key, value in (base_mv.tags or {}).items():
        if key.startswith("split."):
            c.set_model_version_tag(name, version, key, value)
    c.set_model_version_tag(name, version, "source", f"console upload by {user} ({filename}), run {run.info.run_id}")
    c.set_registered_model_alias(name, cfg.model.challenger, version)
    return version
