"""docker-compose.yml, Prometheus and Grafana files: checked here because no Docker engine runs them here."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from agents.metrics import Metrics
from tests.harness import REPO

SPEC = REPO / "var" / "cache" / "compose_spec.json"  # fetched by scripts/test.sh from the docker-compose wheel
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())


def test_compose_file_follows_the_compose_specification() -> None:
    if not SPEC.is_file():
        pytest.fail(f"{SPEC} is missing: run ./scripts/test.sh, which fetches the Compose Specification schema")
    validator = jsonschema.Draft201909Validator(json.loads(SPEC.read_text()))
    validator.validate(COMPOSE)
    broken = dict(COMPOSE, services={**COMPOSE["services"], "worker": {**COMPOSE["services"]["worker"], "restart_policy": "x"}})
    with pytest.raises(jsonschema.ValidationError):  # the schema is strict enough to catch a typo
        validator.validate(broken)


def test_services_and_mounts() -> None:
    services = COMPOSE["services"]
    assert set(services) == {"kafka", "slack-sink", "worker", "prometheus", "grafana"}
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft, no ZooKeeper
    worker_env = services["worker"]["environment"]
    assert worker_env["WIREWATCH_HTTP_HOST"] == "0.0.0.0"
    for service in services.values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (REPO / source).exists(), f"compose mounts {source}, which is not in the repo"
    prometheus = yaml.safe_load((REPO / "deploy" / "prometheus.yml").read_text())
    targets = [t for job in prometheus["scrape_configs"] for sc in job["static_configs"] for t in sc["targets"]]
    assert targets == [f"worker:{worker_env['WIREWATCH_HTTP_PORT']}"]


def test_dashboard_queries_only_metrics_the_worker_exports() -> None:
    suffixes = {"counter": ["_total"], "gauge": [""], "histogram": ["_bucket", "_sum", "_count"]}
    exported = {family.name + s for family in Metrics().registry.collect() for s in suffixes[family.type]}
    dashboard = json.loads((REPO / "deploy" / "grafana" / "dashboards" / "wirewatch.json").read_text())
    used = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"wirewatch_[a-z_]+", target["expr"])
    }
    assert used, "the dashboard has no queries"
    assert used <= exported, f"dashboard queries unknown metrics: {sorted(used - exported)}"
    assert len(dashboard["panels"]) >= 10
