"""Shared fixtures: one local[2] Spark session for the whole test run."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from ntl_spark.config import Config, load_config

os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")


@pytest.fixture(scope="session")
def test_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ntl")


@pytest.fixture(scope="session")
def spark_cfg(test_root: Path) -> Config:
    return load_config("test", [f"paths.root={test_root}"])


@pytest.fixture(scope="session")
def spark(spark_cfg: Config) -> Iterator[SparkSession]:
    from ntl_spark.session import build_session

    session = build_session(spark_cfg, app_name="ntl-tests")
    yield session
    session.stop()


def make_config(root: Path, *overrides: str) -> Config:
    """The test configuration rooted at ``root`` with extra overrides."""
    return load_config("test", [f"paths.root={root}", *overrides])
