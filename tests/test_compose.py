"""docker-compose.yml is the deployment a small team runs: no Docker engine here, so it is parsed
and its wiring checked (services, health checks, start order, environment between services)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, urlsplit

import yaml

REPO = Path(__file__).resolve().parents[1]


def _compose() -> dict[str, Any]:
    loaded = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def test_services_and_health_checks() -> None:
    services = _compose()["services"]
    assert set(services) == {
        "proxy",
        "app1",
        "app2",
        "migrate",
        "postgres",
        "redis",
        "minio",
        "minio-init",
        "varnish",
        "worker",
        "mailpit",
    }
    for name in ("app1", "app2", "postgres", "redis", "minio"):
        assert services[name]["healthcheck"]["test"], name


def test_start_order() -> None:
    services = _compose()["services"]
    for app in ("app1", "app2"):
        needs = services[app]["depends_on"]
        assert needs["migrate"] == {"condition": "service_completed_successfully"}
        assert needs["minio-init"] == {"condition": "service_completed_successfully"}
        assert needs["redis"] == {"condition": "service_healthy"}
    assert services["migrate"]["depends_on"]["postgres"] == {"condition": "service_healthy"}
    assert services["migrate"]["command"] == ["gesso", "migrate"]
    assert services["minio-init"]["depends_on"]["minio"] == {"condition": "service_healthy"}
    assert "mb --ignore-existing local/gesso-media" in services["minio-init"]["command"][0]
    proxy = services["proxy"]
    assert set(proxy["depends_on"]) == {"app1", "app2", "varnish"}
    assert set(services["varnish"]["depends_on"]) == {"app1", "app2"}
    assert proxy["configs"] == [{"source": "caddyfile", "target": "/etc/caddy/Caddyfile"}]
    assert "reverse_proxy app1:8000 app2:8000 {" in _caddyfile()


def test_workers_protect_images_apart_from_the_api_and_scale() -> None:
    services = _compose()["services"]
    worker, app = services["worker"], services["app1"]
    assert worker["command"] == ["gesso", "worker"]
    # the same database, queue and store as the API processes
    for name in ("DATABASE_URL", "REDIS_URL", "GESSO_SECRET_KEY", "S3_ENDPOINT_URL", "S3_BUCKET"):
        assert worker["environment"][name] == app["environment"][name], name
    assert worker["depends_on"] == app["depends_on"]
    # scalable: no fixed name, port or worker id; no HTTP health check to fail
    assert not {"container_name", "ports"} & set(worker)
    assert "GESSO_WORKER_ID" not in worker["environment"]
    assert worker["healthcheck"] == {"disable": True}
    assert "--appendonly" in services["redis"]["command"]
    assert services["redis"]["command"][services["redis"]["command"].index("--appendonly") + 1] == (
        "yes"
    )


def _caddyfile() -> str:
    content: str = _compose()["configs"]["caddyfile"]["content"]
    return content


def test_the_proxy_sends_traffic_only_to_ready_processes() -> None:
    directives = [line.split() for line in _caddyfile().splitlines() if line.strip()]
    assert ["health_uri", "/readyz"] in directives
    assert ["health_status", "200"] in directives
    assert ["lb_policy", "round_robin"] in directives


def _url(value: str) -> SplitResult:
    """A URL with compose's ${VARIABLE...} references filled in, as compose would."""
    return urlsplit(re.sub(r"\$\{[^}]*\}", "secret", value))


def test_apps_reach_the_other_services_by_name() -> None:
    services = _compose()["services"]
    for app in ("app1", "app2"):
        env = services[app]["environment"]
        assert _url(env["DATABASE_URL"]).hostname == "postgres"
        assert _url(env["REDIS_URL"]).hostname == "redis"
        assert _url(env["S3_ENDPOINT_URL"]).hostname == "minio"
        assert env["S3_BUCKET"] in services["minio-init"]["command"][0]
        assert env["GESSO_ENV"] == "production"
        assert env["GESSO_MIGRATE_ON_START"] == "false"
        assert env["S3_ADDRESSING_STYLE"] == "path"
    assert (
        services["app1"]["environment"]["GESSO_WORKER_ID"]
        != (services["app2"]["environment"]["GESSO_WORKER_ID"])
    )
    database = _url(services["app1"]["environment"]["DATABASE_URL"])
    postgres = services["postgres"]["environment"]
    assert (database.username, database.path.lstrip("/")) == (
        postgres["POSTGRES_USER"],
        postgres["POSTGRES_DB"],
    )


def test_secrets_come_from_the_operator() -> None:
    text = (REPO / "docker-compose.yml").read_text()
    for variable in (
        "GESSO_SECRET_KEY",
        "GESSO_PUBLIC_URL",
        "POSTGRES_PASSWORD",
        "MINIO_ROOT_PASSWORD",
    ):
        assert f"${{{variable}:?" in text  # compose refuses to start without it


def test_every_production_process_names_its_public_origin() -> None:
    # production settings refuse to load without GESSO_PUBLIC_URL (the migrations too)
    services = _compose()["services"]
    for name in ("app1", "app2", "migrate"):
        env = services[name]["environment"]
        assert env["GESSO_ENV"] == "production"
        assert env["GESSO_PUBLIC_URL"].startswith("${GESSO_PUBLIC_URL:?"), name


def test_dockerfile_runs_as_a_user_and_caches_dependencies() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    assert "FROM python:3.11-slim" in dockerfile
    assert "USER gesso" in dockerfile
    lock_copy = dockerfile.index("COPY pyproject.toml requirements.lock")
    assert lock_copy < dockerfile.index("COPY server ./server")
    assert "pip install -c requirements.lock '.[c2pa]'" in dockerfile  # can sign C2PA


def test_apps_are_healthy_only_when_their_dependencies_answer() -> None:
    services = _compose()["services"]
    for app in ("app1", "app2"):
        check = " ".join(services[app]["healthcheck"]["test"])
        assert "http://127.0.0.1:8000/readyz" in check, app
        env = services[app]["environment"]
        assert env["GESSO_LOG_FORMAT"] == "json"
        assert env["DATABASE_REPLICA_URL"] == "${DATABASE_REPLICA_URL:-}"  # off unless set


def test_apps_see_client_addresses_through_the_proxy() -> None:
    # per-address rate limits need the client's address, which only the proxy's header carries
    services = _compose()["services"]
    for app in ("app1", "app2"):
        assert services[app]["environment"]["FORWARDED_ALLOW_IPS"] == "*"
        assert "ports" not in services[app]  # so nobody but the proxy can set that header
    assert "reverse_proxy app1:8000 app2:8000" in _caddyfile()  # Caddy sets X-Forwarded-For


def _varnish_listeners() -> dict[str, str]:
    command = _compose()["services"]["varnish"]["command"]
    values = [command[i + 1] for i, part in enumerate(command) if part == "-a"]
    return {value.split("=")[0]: value.split("=")[1].split(",")[0] for value in values}


def test_images_go_through_the_media_cache() -> None:
    services = _compose()["services"]
    varnish = services["varnish"]
    assert varnish["image"].startswith("varnish:7")  # the official image, with varnish-modules
    assert "./deploy/varnish:/etc/varnish:ro" in varnish["volumes"]
    command = varnish["command"]
    assert command[command.index("-f") + 1] == "/etc/varnish/default.vcl"
    listeners = _varnish_listeners()
    assert set(listeners) == {"http", "purge"}
    assert "ports" not in varnish  # reached only through the proxy and by the apps
    # the proxy sends only GET and HEAD of /media/ to the cache's client listener
    caddyfile = _caddyfile()
    media = caddyfile[caddyfile.index("@media {") : caddyfile.index("handle @media")]
    assert [line.split() for line in media.splitlines()[1:] if line.strip() not in ("}", "")] == [
        ["path", "/media/*"],
        ["method", "GET", "HEAD"],
    ]
    assert f"reverse_proxy varnish{listeners['http']}" in caddyfile
    # and the apps purge it on its purge listener
    for app in ("app1", "app2"):
        purge = _url(services[app]["environment"]["GESSO_MEDIA_PURGE_URL"])
        assert (purge.hostname, f":{purge.port}") == ("varnish", listeners["purge"])


def test_the_cache_reaches_the_apps_it_is_configured_with() -> None:
    backends = (REPO / "deploy" / "varnish" / "backends.vcl").read_text()
    hosts = re.findall(r'\.host = "([^"]+)";\s*\.port = "(\d+)";', backends)
    assert hosts == [("app1", "8000"), ("app2", "8000")]
    assert '.url = "/readyz";' in backends
    default = (REPO / "deploy" / "varnish" / "default.vcl").read_text()
    assert 'include "backends.vcl";' in default
    assert 'include "ai_crawlers.vcl";' in default
    assert "import xkey;" in default
