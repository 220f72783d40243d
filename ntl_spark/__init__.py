"""ntl-spark: non-technical loss detection pipelines on Spark, Delta and MLflow."""

from __future__ import annotations

__version__ = "0.1.0"
