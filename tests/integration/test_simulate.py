"""A 2-month closed-loop simulation on a small utility: campaigns answered from the truth, retraining when advised."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from ntl_spark import simulate
from tests.conftest import make_config

pytestmark = pytest.mark.integration


def test_two_month_simulation_retrains_between_the_months(tmp_path: Path) -> None:
    cfg = make_config(tmp_path, "simulate.months=2", "campaign.total=60", "campaign.control_share=0.3",
                      "campaign.hive_table=", "monitor.min_new_labels=30", "field_report.log_to_mlflow=false")
    assert [m.isoformat() for m in simulate.simulated_months(cfg)] == ["2026-08-01", "2026-09-01"]
    out = simulate.run(cfg)
    months = json.loads((Path(out["report"]) / "months.json").read_text())
    assert [m["month"] for m in months] == ["2026-08-01", "2026-09-01"]
    for m in months:
        assert m["requests"] == 60
        arms = m["arms"]
        assert set(arms) == {"model", "control"}  # every request answered in its arm
        assert arms["model"]["visits"] + arms["control"]["visits"] == 60
        assert 10 <= arms["control"]["visits"] <= 24  # round(0.3 x each region's budget), summed
        for a in arms.values():
            assert a["labelled"] <= a["visits"] and (a["labelled"] == 0 or not math.isnan(a["hit_rate"]))
    # 60 answers after the first model's last training label >= monitor.min_new_labels: retrained after month 1
    assert months[0]["retrain_advised"] and months[0]["retrained"]
    assert months[1]["model_version"] != months[0]["model_version"]
    assert all(Path(f).stat().st_size > 0 for f in out["figures"])
