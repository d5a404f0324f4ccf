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
    [job] = prometheus["scrape_configs"]
    [discovery] = job["dns_sd_configs"]  # every worker of `--scale worker=N`, by DNS on the compose network
    assert discovery["names"] == ["worker"] and discovery["port"] == int(worker_env["WIREWATCH_HTTP_PORT"])


def _published(service: dict) -> list[str]:
    return [str(p) for p in service.get("ports", [])]


def test_nothing_is_published_beyond_loopback_and_kafka_stays_on_the_compose_network() -> None:
    services = COMPOSE["services"]
    assert not _published(services["kafka"]) and not _published(services["worker"]) and not _published(services["slack-sink"])
    for name, service in services.items():
        assert all(p.startswith("127.0.0.1:") for p in _published(service)), name
    overlay = yaml.safe_load((REPO / "deploy" / "compose.kafka-host.yml").read_text())
    assert _published(overlay["services"]["kafka"]) == ["127.0.0.1:29092:29092"]
    assert "HOST://127.0.0.1:29092" in services["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"]


def test_grafana_needs_a_password_and_no_anonymous_access_and_the_sink_is_opt_in() -> None:
    services = COMPOSE["services"]
    grafana = services["grafana"]
    assert grafana["environment"]["GF_SECURITY_ADMIN_PASSWORD"].startswith("${GRAFANA_ADMIN_PASSWORD:?")  # no default
    assert grafana["environment"]["GF_AUTH_ANONYMOUS_ENABLED"] == "false"
    major = int(grafana["image"].rsplit(":", 1)[1].split(".")[0])
    assert major >= 12, grafana["image"]
    assert services["slack-sink"]["profiles"] == ["dev-slack"]
    assert "slack-sink" not in services["worker"].get("depends_on", {})
    assert services["worker"]["environment"]["SLACK_API_URL"].endswith("https://slack.com/api/}")


def test_every_service_restarts_and_every_image_is_pinned() -> None:
    for name, service in COMPOSE["services"].items():
        assert service.get("restart") == "unless-stopped", name
        if "image" in service:
            tag = service["image"].rsplit(":", 1)[1]
            assert re.fullmatch(r"v?\d+\.\d+\.\d+", tag), f"{name}: {service['image']} is not an exact version"
    dockerfile = (REPO / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11\.\d+-slim-\w+$", dockerfile, re.M)
    assert re.search(r"^HEALTHCHECK ", dockerfile, re.M) and re.search(r"^USER wirewatch$", dockerfile, re.M)


def test_the_kafka_host_overlay_follows_the_compose_specification() -> None:
    if not SPEC.is_file():
        pytest.fail(f"{SPEC} is missing: run ./scripts/test.sh")
    jsonschema.Draft201909Validator(json.loads(SPEC.read_text())).validate(yaml.safe_load((REPO / "deploy" / "compose.kafka-host.yml").read_text()))


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


def _color_at(panel: dict, value: float) -> str:
    """The colour Grafana gives a value under the panel's absolute thresholds."""
    color = ""
    for step in panel["fieldConfig"]["defaults"]["thresholds"]["steps"]:
        if step["value"] is None or value >= step["value"]:
            color = step["color"]
    return color


def test_not_ready_dead_man_and_lag_show_red() -> None:
    panels = {p["title"]: p for p in json.loads((REPO / "deploy" / "grafana" / "dashboards" / "wirewatch.json").read_text())["panels"]}
    assert _color_at(panels["Ready"], 0) == "red" and _color_at(panels["Ready"], 1) == "green"
    assert _color_at(panels["Dead-man firing"], 1) == "red" and _color_at(panels["Dead-man firing"], 0) == "green"
    assert _color_at(panels["Consumer lag (total)"], 5000) == "red" and _color_at(panels["Consumer lag (total)"], 0) == "green"
