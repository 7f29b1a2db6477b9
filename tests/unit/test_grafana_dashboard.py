"""docs/grafana-dashboard.json queries only metrics the site exports, so the dashboard cannot drift from chat/metrics.py."""

import json
import re
from pathlib import Path

from prometheus_client import Metric
from prometheus_client.metrics import MetricWrapperBase

from chat import metrics

DASHBOARD = Path(__file__).resolve().parents[2] / "docs" / "grafana-dashboard.json"


def _exported_samples() -> set[str]:
    """Every sample name the site's metrics can expose (`_total`, `_bucket`, `_count`, ...)."""
    names: set[str] = set()
    for value in vars(metrics).values():
        if not isinstance(value, MetricWrapperBase):
            continue
        family: Metric
        for family in value.describe():
            if family.type == "counter":
                names.add(family.name + "_total")
            elif family.type == "histogram":
                names.update(family.name + suffix for suffix in ("_bucket", "_count", "_sum"))
            else:
                names.add(family.name)
    return names


def test_every_dashboard_query_names_a_metric_the_site_exports():
    dashboard = json.loads(DASHBOARD.read_text())
    queries = [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]
    used = {name for query in queries for name in re.findall(r"\bchat_[a-z_]+", query)}
    assert used and used <= _exported_samples(), f"unknown metrics: {sorted(used - _exported_samples())}"
    assert len({panel["id"] for panel in dashboard["panels"]}) == len(dashboard["panels"])
