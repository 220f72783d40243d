from __future__ import annotations

import pytest

from ntl_spark.config import ConfigError, load_config, parse_override


def test_layers_and_overrides():
    cfg = load_config("test", ["train.params.max_depth=3", "generate.customers=1234", "ingest.tables=bills,customers"])
    assert cfg.env == "test"
    assert cfg.spark.shuffle_partitions == 2          # from test.yaml
    assert cfg.train.params["max_depth"] == 3         # override inside a dict keeps the other keys
    assert cfg.train.params["learning_rate"] == 0.1
    assert cfg.generate.customers == 1234
    assert cfg.ingest.tables == ["bills", "customers"]


@pytest.mark.parametrize(
    "override, message",
    [
        ("train.nope=1", "config key 'train.nope' is unknown"),
        ("train.seed=abc", "config key 'train.seed': expected an integer"),
        ("generate.format=xls", "config key 'generate.format': must be csv, parquet or hdf5"),
        ("train.test_fraction=1.5", "config key 'train.test_fraction'"),
        ("features.reference_month=2026-03-15", "config key 'features.reference_month': must be the first day"),
        ("ingest.tables=bills,meters", "config key 'ingest.tables': unknown table"),
        ("generate.fraud.attacks.h9=1", "generate.fraud.attacks.h9"),
        ("spark=3", "config key 'spark': expected a mapping"),
    ],
)
def test_bad_key_or_value_names_it(override, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        load_config("test", [override])


def test_unknown_env_layer():
    with pytest.raises(ConfigError, match="config layer 'nowhere' not found"):
        load_config("nowhere")


def test_config_is_frozen():
    cfg = load_config("test")
    with pytest.raises(AttributeError):
        cfg.train.seed = 3  # type: ignore[misc]


def test_parse_override_reads_yaml_values():
    assert parse_override("a.b=1") == (["a", "b"], 1)
    assert parse_override("a=[1, 2]") == (["a"], [1, 2])
    assert parse_override("a=true") == (["a"], True)
    with pytest.raises(ConfigError):
        parse_override("novalue")


def test_paths_resolve_under_root(tmp_path):
    cfg = load_config("test", [f"paths.root={tmp_path}"])
    assert cfg.paths.table("scores") == f"{tmp_path}/lakehouse/scores"
    assert cfg.tracking_uri == f"sqlite:///{tmp_path}/mlflow.db"
    assert cfg.raw_dir == f"{tmp_path}/raw"
    assert cfg.publish_path == f"{tmp_path}/warehouse/ntl.db/scores"
