"""MLflow plumbing: tracking URI, experiments, input data versions, registry aliases.

The registry uses aliases (``champion``, ``candidate`` ...), never stages.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
from mlflow.tracking import MlflowClient

from ntl_spark.config import Config
from ntl_spark.errors import ConfigError

log = logging.getLogger(__name__)


def setup(cfg: Config, experiment: str | None = None) -> MlflowClient:
    """Point MLflow at the configured tracking/registry store and select the experiment.

    Returns:
        A client bound to the same URIs.
    """
    uri = cfg.tracking_uri
    if uri.startswith("sqlite:///"):
        Path(uri[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(cfg.registry_uri)
    name = experiment or cfg.mlflow.experiment
    client = MlflowClient(tracking_uri=uri, registry_uri=cfg.registry_uri)
    if client.get_experiment_by_name(name) is None:
        if uri.startswith(("http://", "https://")) and "://" not in cfg.mlflow.artifact_root:
            # A tracking server (several processes, several machines): its proxied artifact
            # store (mlflow server --serve-artifacts) holds the artifacts, not a folder that only
            # this machine sees. An explicit URI in mlflow.artifact_root still wins.
            client.create_experiment(name)
        else:
            location = cfg.artifact_location
            if "://" not in location:
                Path(location).mkdir(parents=True, exist_ok=True)
                location = Path(location).resolve().as_uri()
            client.create_experiment(name, artifact_location=f"{location}/{name}")
    mlflow.set_experiment(name)
    return client


def log_data_versions(versions: Mapping[str, int | None]) -> None:
    """Record the Delta version of every input table on the active run."""
    mlflow.log_params({f"data.{t}.version": v for t, v in versions.items()})


@dataclass(frozen=True)
class ModelRef:
    """A resolved registered model version."""

    name: str
    version: str
    run_id: str
    source: str
    tags: dict[str, str]

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"


def resolve(client: MlflowClient, name: str, ref: str) -> ModelRef:
    """Find a registered model version by alias or version number.

    Args:
        client: MLflow client.
        name: registered model name.
        ref: alias (``champion``) or version (``3``).

    Raises:
        ValueError: no such model, alias or version (the message says which).
    """
    try:
        mv = client.get_model_version(name, ref) if str(ref).isdigit() else client.get_model_version_by_alias(name, ref)
    except mlflow.exceptions.MlflowException as e:
        raise ConfigError(f"registered model '{name}' has no version or alias '{ref}': {e.message}") from e
    return ModelRef(name, str(mv.version), mv.run_id or "", mv.source or "", dict(mv.tags or {}))


def alias_version(client: MlflowClient, name: str, alias: str) -> str | None:
    """The version ``alias`` points at, or None when the model is not registered or the alias is not set."""
    if not client.search_registered_models(filter_string=f"name = '{name}'"):
        return None
    version = (client.get_registered_model(name).aliases or {}).get(alias)
    return str(version) if version is not None else None


def version_exists(client: MlflowClient, name: str, version: str) -> bool:
    """Whether ``name`` has a registered version ``version`` (a version number)."""
    if not str(version).isdigit():
        return False
    versions = client.search_model_versions(filter_string=f"name = '{name}' and version_number = {int(version)}")
    return bool(versions)


def set_alias(client: MlflowClient, name: str, alias: str, version: str) -> None:
    """Point ``alias`` at ``version`` (moves it if it pointed elsewhere)."""
    client.set_registered_model_alias(name, alias, version)
    log.info("alias %s@%s -> version %s", name, alias, version)


def run_params(prefix: str, values: dict[str, Any]) -> dict[str, Any]:
    """Flatten a mapping into MLflow params ``prefix.key``."""
    return {f"{prefix}.{k}": v for k, v in values.items()}
