"""deploy/: the alert rules and the Grafana dashboard parse, and use only metrics PipelineMetrics exports."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from cassandra_cdc.observability.metrics import PipelineMetrics
from tests.observability.conftest import T0, FakeClock

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "cassandra-cdc-dashboard.json"

# Metric names in a PromQL expression (ours all start with cdc_).
_CDC_NAME = re.compile(r"\bcdc_[a-z0-9_]+\b")


def exported_names() -> set[str]:
    """Every sample name the metrics class exposes once each of its methods has been called."""
    m = PipelineMetrics(clock=FakeClock(T0), process_metrics=False)
    m.batch_committed("pg", {("ks.t", "insert"): 1}, [int(T0) * 1_000_000], [T0], positions={"n1": (1, 2)})
    m.error("pg", "decode")
    m.backlog("pg", 10)
    m.source_position("n1", 1, 2)
    m.cdc_raw_usage("n1", 1, 2)
    # The disk guard's metrics live in the same registry, registered by the pipeline's observer.
    from cassandra_cdc.commitlog.follower import GapDetected
    from cassandra_cdc.commitlog.model import CommitLogPosition
    from cassandra_cdc.pipeline.observe import MetricsObserver

    observer = MetricsObserver(m)
    observer.on_gap("pg", "n1", GapDetected("n1", "segment_removed_unread", (1,), "gap", CommitLogPosition(1, 0)))
    observer.on_resync("pg", "gap", "gap")
    text = generate_latest(m.registry).decode()
    return {s.name for family in text_string_to_metric_families(text) for s in family.samples}


def rules() -> list[dict[str, Any]]:
    data = yaml.safe_load(ALERTS.read_text())
    return [rule for group in data["groups"] for rule in group["rules"]]


def dashboard_exprs(dashboard: dict[str, Any]) -> list[str]:
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    exprs += [v["definition"] for v in dashboard["templating"]["list"] if "definition" in v]
    return exprs


def balanced(expr: str) -> bool:
    pairs = {")": "(", "]": "[", "}": "{"}
    stack: list[str] = []
    in_string = False
    for ch in expr:
        if ch == '"':
            in_string = not in_string
        elif in_string:
            continue
        elif ch in "([{":
            stack.append(ch)
        elif ch in pairs and (not stack or stack.pop() != pairs[ch]):
            return False
    return not stack and not in_string


def test_alert_rules_parse_and_cover_the_brief() -> None:
    all_rules = rules()
    names = {r["alert"] for r in all_rules}
    assert {
        "CassandraCdcReplicationLagHigh",
        "CassandraCdcErrors",
        "CassandraCdcSinkStalled",
        "CassandraCdcRawNearlyFull",
    } <= names
    for rule in all_rules:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule["alert"]
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
        assert balanced(rule["expr"]), rule["alert"]
        if "for" in rule:
            assert re.fullmatch(r"\d+[smh]", rule["for"])
    by_name = {r["alert"]: r for r in all_rules}
    assert "0.8" in by_name["CassandraCdcRawNearlyFull"]["expr"]
    assert "cdc_backlog_depth" in by_name["CassandraCdcSinkStalled"]["expr"]
    assert "cdc_batches_committed_total" in by_name["CassandraCdcSinkStalled"]["expr"]


def test_dashboard_parses_and_has_the_panels() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    panels = dashboard["panels"]
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids))
    for p in panels:
        assert {"x", "y", "w", "h"} <= set(p["gridPos"]) and p["gridPos"]["x"] + p["gridPos"]["w"] <= 24
        if p["type"] != "row":
            assert p["targets"], p["title"]
            refs = [t["refId"] for t in p["targets"]]
            assert len(refs) == len(set(refs))
    exprs = " ".join(dashboard_exprs(dashboard))
    for wanted in (
        "cdc_replication_lag_seconds",
        "cdc_events_per_second",
        "cdc_errors_total",
        "cdc_backlog_depth",
        "cdc_raw_bytes",
        "cdc_raw_capacity_bytes",
        "cdc_source_segment_id",
        "cdc_source_position",
        "cdc_committed_position",
    ):
        assert wanted in exprs, wanted
    for metric in ("cdc_end_to_end_latency_seconds", "cdc_pipeline_latency_seconds"):
        for q in ("0.5", "0.95", "0.99"):
            assert f"histogram_quantile({q}, sum by (destination, le) (rate({metric}_bucket" in exprs
    assert all(balanced(e) for e in dashboard_exprs(dashboard))
    assert {v["name"] for v in dashboard["templating"]["list"]} == {"datasource", "destination"}


@pytest.mark.parametrize("source", ["alerts", "dashboard"])
def test_every_metric_used_is_exported(source: str) -> None:
    exprs = [r["expr"] for r in rules()] if source == "alerts" else dashboard_exprs(json.loads(DASHBOARD.read_text()))
    used = {name for expr in exprs for name in _CDC_NAME.findall(expr)}
    assert used
    missing = used - exported_names()
    assert not missing, f"{source} uses metrics PipelineMetrics does not export: {sorted(missing)}"
