"""deploy/: every metric the dashboard and the alert rules query is one the gateway exports; promtool accepts the
Prometheus files; the Kubernetes manifests pass the bundled API schemas; a real Prometheus scraping a running
gateway answers every dashboard query with data."""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml  # type: ignore[import-untyped]  # PyYAML ships no stubs

from gateway.app import build_app
from tests.conftest import auth, make_settings
from tests.servers import free_port, serve_in_thread

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "llm-gateway.json"
ALERTS = DEPLOY / "prometheus" / "alerts.yml"
PROMQL_WORDS = frozenset(
    {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool", "offset", "le"}
)
BUILTIN_SERIES = frozenset({"up"})  # made by Prometheus itself
USER = [{"role": "user", "content": "Hello there"}]


def dashboard_queries() -> list[str]:
    doc = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in doc["panels"] for target in panel["targets"]]


def alert_queries() -> list[str]:
    doc = yaml.safe_load(ALERTS.read_text())
    return [rule["expr"] for group in doc["groups"] for rule in group["rules"]]


def metric_names(expr: str) -> set[str]:
    """The series names a PromQL expression reads (strings, label matchers, ranges and groupings removed)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)
    text = re.sub(r"\{[^}]*\}", "", text)
    text = re.sub(r"\[[^\]]*\]", "", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    names = set(re.findall(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()", text))
    return {n for n in names if n not in PROMQL_WORDS and not n.replace("e", "").isdigit()}


def exported_series(exposition: str) -> tuple[set[str], set[str]]:
    """(every series name the exposition declares, those that have at least one sample)."""
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}
    declared: set[str] = set()
    for name, kind in re.findall(r"^# TYPE (\S+) (\S+)$", exposition, re.MULTILINE):
        base = name.removesuffix("_total") if kind == "counter" else name
        declared |= {base + suffix for suffix in suffixes.get(kind, ("",))}
    sampled = {line.split("{")[0].split(" ")[0] for line in exposition.splitlines() if line and line[0] != "#"}
    return declared, sampled


def test_metric_names_of_a_query_are_found() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (le, provider) (rate(llm_request_duration_seconds_bucket{cache!="hit"}[5m])))'
    )
    assert metric_names(expr) == {"llm_request_duration_seconds_bucket"}
    assert metric_names("sum(rate(a_total[1m])) / clamp_min(sum(rate(b_total[1m])), 1e-9) > 0.05") == {
        "a_total",
        "b_total",
    }


@pytest.fixture(scope="module")
def exposition() -> str:
    app = build_app(make_settings())
    with serve_in_thread(app) as base:
        httpx.post(f"{base}/v1/chat/completions", json={"model": "mock/echo", "messages": USER}, headers=auth())
        return httpx.get(f"{base}/metrics").text


def test_dashboard_and_alerts_query_only_exported_metrics(exposition: str) -> None:
    declared, _ = exported_series(exposition)
    queries = dashboard_queries() + alert_queries()
    assert len(queries) >= 20
    used = set().union(*(metric_names(q) for q in queries))
    assert {"llm_requests_total", "llm_cost_total", "gateway_circuit_state", "gateway_budget_used_ratio"} <= used
    assert used - declared - BUILTIN_SERIES == set()


def test_dashboard_has_the_panels_operators_need() -> None:
    titles = " | ".join(p["title"].lower() for p in json.loads(DASHBOARD.read_text())["panels"])
    for topic in (
        "request rate",
        "errors",
        "p50 / p95 / p99",
        "first token",
        "tokens per second",
        "cost per hour by model",
        "cost per hour by user",
        "cache hit ratio",
        "circuit",
        "rate-limit",
    ):
        assert topic in titles, topic


def test_alert_rules_cover_errors_latency_budget_and_circuits() -> None:
    names = {rule["alert"] for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]}
    assert {"GatewayHighErrorRate", "LLMLatencyP95High", "BudgetNearLimit", "CircuitOpen"} <= names


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed (apt-get install prometheus)")
def test_promtool_accepts_config_and_rules() -> None:
    for args in (["check", "config", str(DEPLOY / "prometheus" / "prometheus.yml")], ["check", "rules", str(ALERTS)]):
        result = subprocess.run(["promtool", *args], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr


def test_kubernetes_manifests_pass_the_api_schemas() -> None:
    import kubernetes_validate  # type: ignore[import-untyped]  # no py.typed

    kinds = set()
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)
            kinds.add(doc["kind"])
    assert kinds >= {
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "ConfigMap",
        "Secret",
        "StatefulSet",
    }


def test_kubernetes_probes_use_liveness_and_dependency_health() -> None:
    deployment = yaml.safe_load((DEPLOY / "k8s" / "deployment.yaml").read_text())
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["livenessProbe"]["httpGet"]["path"] == "/api/health"
    assert container["readinessProbe"]["httpGet"]["path"] == "/api/health/dependencies"
    config = yaml.safe_load((DEPLOY / "k8s" / "configmap.yaml").read_text())["data"]
    assert config["REDIS_URL"].startswith("redis://") and config["PROMETHEUS_MULTIPROC_DIR"]
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert config["PROMETHEUS_MULTIPROC_DIR"] in mounts  # writable under readOnlyRootFilesystem


def test_compose_runs_gateway_redis_prometheus_and_provisioned_grafana() -> None:
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) == {"gateway", "redis", "prometheus", "grafana"}
    assert (DEPLOY / services["gateway"]["build"]["context"] / services["gateway"]["build"]["dockerfile"]).is_file()
    assert services["gateway"]["environment"]["REDIS_URL"].startswith("redis://redis:")
    for service in ("prometheus", "grafana"):
        for volume in services[service]["volumes"]:
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (DEPLOY / source).exists(), source
    datasource = yaml.safe_load((DEPLOY / "grafana/provisioning/datasources/prometheus.yml").read_text())
    uid = datasource["datasources"][0]["uid"]
    panels = json.loads(DASHBOARD.read_text())["panels"]
    assert all(panel["datasource"]["uid"] == uid for panel in panels)


# ---- a real Prometheus ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def prometheus_and_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.skip("prometheus not installed (apt-get install prometheus)")
    settings = make_settings(mock_stream_delay_ms=1)
    with serve_in_thread(build_app(settings)) as gateway:
        directory = tmp_path_factory.mktemp("prometheus")
        config = directory / "prometheus.yml"
        target = gateway.removeprefix("http://")
        config.write_text(
            "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
            "scrape_configs: [{job_name: llm-gateway, metrics_path: /metrics, "
            f"static_configs: [{{targets: ['{target}']}}]}}]\n"
        )
        port = free_port()
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={directory / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        api = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(f"{api}/-/ready", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline or process.poll() is not None:
                    pytest.fail("prometheus did not become ready")
                time.sleep(0.2)
            while not _scraped(api):  # target discovery settles a few seconds after start
                if time.monotonic() > deadline:
                    pytest.fail("prometheus never scraped the gateway")
                time.sleep(0.2)
            yield api, gateway
        finally:
            process.terminate()
            process.wait(timeout=10)


def _scraped(api: str) -> bool:
    result = httpx.get(f"{api}/api/v1/query", params={"query": 'up{job="llm-gateway"}'}).json()["data"]["result"]
    return bool(result) and result[0]["value"][1] == "1"


def _traffic(gateway: str, rounds: int) -> None:
    with httpx.Client(base_url=gateway, headers=auth(), timeout=10) as client:
        for _ in range(rounds):
            for body in (
                {"model": "mock/echo", "messages": USER},
                {"model": "mock/echo", "messages": USER, "stream": True},
                {"model": "mock/error-429", "messages": USER},
                {"model": "mock/error-500", "messages": USER},
            ):
                client.post("/v1/chat/completions", json=body)
            time.sleep(0.4)


def _finite(result: list[dict[str, Any]]) -> bool:
    return any(math.isfinite(float(item["value"][1])) for item in result)


@pytest.mark.slow
def test_prometheus_answers_every_dashboard_query_with_data(prometheus_and_gateway: tuple[str, str]) -> None:
    api, gateway = prometheus_and_gateway
    _traffic(gateway, rounds=8)  # ~3 s: several scrapes with traffic between them
    time.sleep(2.5)
    declared, sampled = exported_series(httpx.get(f"{gateway}/metrics").text)
    checked = 0
    for expr in dashboard_queries():
        names = metric_names(expr)
        if not names <= sampled:
            # a metric fed by a part this gateway does not run (budgets, priced calls): declared, no series yet
            assert names <= declared
            continue
        response = httpx.get(f"{api}/api/v1/query", params={"query": expr.replace("$__rate_interval", "30s")})
        body = response.json()
        assert body["status"] == "success", (expr, body)
        assert _finite(body["data"]["result"]), (expr, body["data"])
        checked += 1
    assert checked >= 14
