"""Fixtures for the DeepDAICE tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from deep_helpers import deep_config, write_tiny_lake
from pyspark.sql import SparkSession

from ntl_spark.config import Config


@pytest.fixture()
def tiny_lake(spark: SparkSession, tmp_path: Path) -> Callable[..., Config]:
    """Factory: ``tiny_lake(meters, days, *overrides)`` writes the bronze tables and returns the config."""

    def make(meters: int = 3, days: int = 95, *overrides: str) -> Config:
        cfg = deep_config(tmp_path, *overrides)
        write_tiny_lake(spark, cfg, meters, days)
        return cfg

    return make
