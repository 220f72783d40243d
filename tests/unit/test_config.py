from __future__ import annotations

import dataclasses
import datetime as dt
import re
import shutil
import typing
from pathlib import Path

import pytest
import yaml

from ntl_spark.config import CONF_DIR, Config, ConfigError, RuleConf, as_dict, load_config, parse_override


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
        ("generate.lookalikes.solar=0.99", "config key 'generate.lookalikes': shares must add up to at most 1"),
        ("generate.fraud.restart=2", "config key 'generate.fraud.restart': must be in"),
        ("spark=3", "config key 'spark': expected a mapping"),
        ("validation.blessing.split=later", "config key 'validation.blessing.split': must be time or random"),
        ("validation.blessing.min_lift_over_rule=-1", "config key 'validation.blessing.min_lift_over_rule'"),
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


# ----------------------------------------------- defaults live only in base.yaml
# List items, not sections: their defaults fill optional fields of one item.
ITEM_CLASSES = {RuleConf}


def _section_classes(cls: type, seen: set[type] | None = None) -> set[type]:
    """``cls`` and every dataclass reachable through its fields (list elements included)."""
    seen = set() if seen is None else seen
    seen.add(cls)
    for tp in typing.get_type_hints(cls).values():
        for candidate in (tp, *typing.get_args(tp)):
            if dataclasses.is_dataclass(candidate) and candidate not in seen:
                _section_classes(candidate, seen)
    return seen


def test_section_dataclasses_have_no_defaults():
    classes = _section_classes(Config)
    assert classes >= ITEM_CLASSES and len(classes) > 15  # the walk reached the leaves
    with_default = [
        f"{cls.__name__}.{f.name}"
        for cls in classes - ITEM_CLASSES
        for f in dataclasses.fields(cls)
        if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
    ]
    assert with_default == [], "defaults belong in conf/base.yaml, not in the dataclass"


def _key_drift(cls: type, data: object, prefix: str) -> list[str]:
    """Keys that one of (dataclass ``cls``, YAML mapping ``data``) has and the other lacks, by full path."""
    if not isinstance(data, dict):
        return [f"{prefix or '<top>'}: YAML value is not a mapping"]
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls)}
    keys = set(data)
    if not prefix:
        fields.discard("env")  # set by the loader from the layer name
    out = [f"{prefix}{k}: field without a YAML key" for k in sorted(fields - keys)]
    out += [f"{prefix}{k}: YAML key without a field" for k in sorted(keys - fields)]
    for name in sorted(fields & keys):
        tp = hints[name]
        if dataclasses.is_dataclass(tp):
            out += _key_drift(tp, data[name], f"{prefix}{name}.")
        elif typing.get_origin(tp) is list and dataclasses.is_dataclass(item := typing.get_args(tp)[0]):
            # List items (RuleConf) may leave optional fields out, but every key they set must exist.
            allowed = {f.name for f in dataclasses.fields(item)}
            for i, element in enumerate(data[name]):
                out += [f"{prefix}{name}[{i}].{k}: YAML key without a field" for k in sorted(set(element) - allowed)]
    return out


def test_base_yaml_and_dataclasses_have_the_same_keys():
    base = yaml.safe_load((CONF_DIR / "base.yaml").read_text())
    assert _key_drift(Config, base, "") == []


def test_key_drift_is_detected():
    base = yaml.safe_load((CONF_DIR / "base.yaml").read_text())
    del base["validation"]["drift"]["bins"]
    base["ingest"]["no_such_key"] = 1
    base["validation"]["rules"][0]["severity"] = "high"
    assert sorted(_key_drift(Config, base, "")) == [
        "ingest.no_such_key: YAML key without a field",
        "validation.drift.bins: field without a YAML key",
        "validation.rules[0].severity: YAML key without a field",
    ]


@pytest.fixture()
def conf_copy(tmp_path: Path) -> Path:
    shutil.copy(CONF_DIR / "base.yaml", tmp_path / "base.yaml")
    (tmp_path / "empty.yaml").write_text("")
    return tmp_path


def test_base_yaml_alone_gives_every_value(conf_copy: Path):
    """With an empty env layer, the loaded config is base.yaml, value for value."""
    base = yaml.safe_load((CONF_DIR / "base.yaml").read_text())
    loaded = as_dict(load_config("empty", conf_dir=conf_copy))
    assert loaded.pop("env") == "empty"
    # A rule item gains its optional fields' defaults when loaded; compare the keys the YAML sets.
    loaded["validation"]["rules"] = [
        {k: v for k, v in rule.items() if k in item}
        for rule, item in zip(loaded["validation"]["rules"], base["validation"]["rules"], strict=True)
    ]
    assert _normalise(loaded) == _normalise(base)


def _normalise(value: object) -> object:
    """YAML dates and ints as the loader stores them (str, float) so values compare."""
    if isinstance(value, dict):
        return {k: _normalise(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalise(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return float(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


@pytest.mark.parametrize("path", ["train.campaign_size", "spark.deploy_mode", "validation.drift.bins", "ingest"])
def test_missing_key_names_it(conf_copy: Path, path: str):
    base = yaml.safe_load((conf_copy / "base.yaml").read_text())
    *parents, leaf = path.split(".")
    node = base
    for part in parents:
        node = node[part]
    del node[leaf]
    (conf_copy / "base.yaml").write_text(yaml.safe_dump(base))
    with pytest.raises(ConfigError, match=rf"config key '{re.escape(path)}' is missing: every key needs a value"):
        load_config("empty", conf_dir=conf_copy)


def test_chosen_values_where_dataclass_and_yaml_disagreed():
    cfg = load_config("local")
    assert cfg.train.campaign_size == 50
    assert cfg.deep.campaign_size == 50
    assert cfg.jdbc.partition_columns == {"customers": "customer_id"}
    assert len(cfg.validation.rules) == 10
    assert cfg.spark.deploy_mode == "client"
    assert cfg.ingest.csv_timestamp_format == ""  # ISO 8601; a pattern only when an export needs one


def test_ingest_keys_are_validated():
    with pytest.raises(ConfigError, match="ingest.extra_columns"):
        load_config("test", ["ingest.extra_columns=ignore"])
    with pytest.raises(ConfigError, match="ingest.encoding"):
        load_config("test", ["ingest.encoding=klingon-8"])
    with pytest.raises(ConfigError, match="ingest.allow_empty"):
        load_config("test", ["ingest.allow_empty=[payments]"])
    with pytest.raises(ConfigError, match="ingest.bbox"):
        load_config("test", ["ingest.bbox.lat_min=-20"])
    cfg = load_config("test", ["ingest.regions=[]", "ingest.bbox.lon_max=-50"])
    assert cfg.ingest.regions == [] and cfg.ingest.bbox.lon_max == -50.0


def test_conf_folder_in_a_container_is_the_working_directory(tmp_path, monkeypatch):
    """Under YARN/Oozie the package is a zip and the YAML layers are localized into the working directory."""
    import shutil

    from ntl_spark import config

    for name in ("base.yaml", "test.yaml"):
        shutil.copy(config.CONF_DIR / name, tmp_path / name)
    monkeypatch.setattr(config, "CONF_DIR", tmp_path / "ntl_spark.zip" / "conf")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NTL_CONF_DIR", raising=False)
    assert config.conf_folder() == tmp_path
    assert config.load_config("test").env == "test"
    other = tmp_path / "elsewhere"
    other.mkdir()
    monkeypatch.setenv("NTL_CONF_DIR", str(other))
    with pytest.raises(config.ConfigError, match="elsewhere"):
        config.load_config("test")


def test_model_identity_is_one_section():
    cfg = load_config("test")
    assert (cfg.model.name, cfg.model.challenger, cfg.model.champion) == ("DAICE", "candidate", "champion")
    assert cfg.score.model_ref == "" and cfg.validation.segments.model_ref == ""  # champion / challenger
    for old in ("train.model_name=X", "train.alias=x", "score.model_name=X",
                "validation.blessing.challenger=x", "validation.blessing.champion_alias=x"):
        with pytest.raises(ConfigError, match="is unknown"):
            load_config("test", [old])
    with pytest.raises(ConfigError, match="model.champion"):
        load_config("test", ["model.champion=candidate"])
    with pytest.raises(ConfigError, match="model.challenger"):
        load_config("test", ["model.challenger=3"])


def test_spark_conf_overrides_keep_the_dots_of_spark_keys():
    assert parse_override("spark.conf.spark.kerberos.keytab=/etc/ntl.keytab") == (
        ["spark", "conf", "spark.kerberos.keytab"], "/etc/ntl.keytab")
    assert parse_override("spark.conf.spark.sql.shuffle.partitions=8") == (
        ["spark", "conf", "spark.sql.shuffle.partitions"], 8)
    assert parse_override("spark.master=yarn") == (["spark", "master"], "yarn")
    cfg = load_config("local", ["spark.conf.spark.kerberos.principal=ntl@EXAMPLE.COM"])
    assert cfg.spark.conf["spark.kerberos.principal"] == "ntl@EXAMPLE.COM"
