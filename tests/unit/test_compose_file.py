# Validates docker-compose.yml against the Compose Specification JSON schema, and
# checks the promises the deploy files make to each other (ports, health, start order).
#
# Schema source (vendored, no network at test time):
#   PyPI package check-jsonschema 0.39.0, wheel path
#   check_jsonschema/builtin_schemas/vendor/compose-spec.json
#   (check-jsonschema's copy of compose-spec/compose-spec, schema/compose-spec.json,
#   JSON Schema draft 2020-12; Apache-2.0, licence in deploy/compose-spec.schema.LICENSE).
#   Copied byte for byte to deploy/compose-spec.schema.json. To refresh it:
#     pip download --no-deps -d /tmp/cj check-jsonschema   # unzip the wheel
#   then copy that file over and update SCHEMA_SHA256 below.
#
# Test dependencies: jsonschema (>= 4.0: draft 2020-12, unevaluatedProperties) and PyYAML.
"""docker-compose.yml: Compose Specification schema plus the topology's structural promises."""

from __future__ import annotations

import copy
import hashlib
import ipaddress
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from shared.topics import (
    AUDIENCE_PARTITIONS,
    CASE_EVENT_TOPICS,
    CATALOGUE_EVENTS,
    CORE_TOPICS,
    DEADLETTER_PARTITIONS,
    PARTITIONS,
)

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
SCHEMA_FILE = ROOT / "deploy" / "compose-spec.schema.json"
NGINX_CONF = ROOT / "deploy" / "nginx.conf"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
TOPICS_FILE = ROOT / "deploy" / "topics.yaml"

# Pins the vendored schema: a hand edit that loosens it would otherwise go unnoticed.
SCHEMA_SHA256 = "d549057ebc2925f39f62799eab0db7b9e2c18b35b6c00595199116da3ed10e64"

# Each application service and the port it listens on (and the gateway publishes).
SERVICE_PORTS = {"intake": 8001, "routing": 8002, "sla": 8003, "notify": 8004}
INFRA = ("kafka", "postgres")
# The topics the code creates (shared/topics.py) are the truth the plan must describe.
EVENT_TOPICS = (*CASE_EVENT_TOPICS, CATALOGUE_EVENTS)


# --- helpers ------------------------------------------------------------------------------


def _load_compose() -> dict[str, Any]:
    """The compose file as Compose reads it (anchors and `<<` merges resolved)."""
    with COMPOSE_FILE.open(encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    assert isinstance(doc, dict), "docker-compose.yml must be a mapping"
    return doc


def _load_schema() -> dict[str, Any]:
    """The vendored Compose Specification schema."""
    return json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return _load_compose()


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    return compose["services"]


def _env(service: dict[str, Any]) -> dict[str, str]:
    """A service's environment as a dict, whether written as a mapping or a list."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {key: "" if value is None else str(value) for key, value in env.items()}


def _healthcheck_command(service: dict[str, Any]) -> str:
    """The healthcheck test as one string (Compose accepts a string or a list)."""
    test = service["healthcheck"]["test"]
    return test if isinstance(test, str) else " ".join(test)


def _published_ports(service: dict[str, Any]) -> dict[int, int]:
    """Host port -> container port for short ("[ip:]host:container") and long syntax."""
    published: dict[int, int] = {}
    for port in service.get("ports", []):
        if isinstance(port, dict):
            published[int(port["published"])] = int(port["target"])
        else:
            *_, host, container = str(port).split("/")[0].split(":")
            published[int(host)] = int(container)
    return published


def _dockerfile_instructions() -> list[tuple[str, str]]:
    """(KEYWORD, arguments) per Dockerfile instruction, continuation lines joined."""
    lines = [line for line in DOCKERFILE.read_text(encoding="utf-8").splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n\s*", " ", "\n".join(lines))
    return [(keyword.upper(), args.strip()) for keyword, args in re.findall(r"^(\w+)\s+(.*)$", joined, re.M)]


def _nginx_servers(conf: str) -> list[str]:
    """The bodies of the top-level `server { ... }` blocks of an nginx config."""
    text = re.sub(r"#[^\n]*", "", conf)  # no quoted '#' in our config
    bodies = []
    for match in re.finditer(r"\bserver\s*\{", text):
        depth, i = 1, match.end()
        while depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        bodies.append(text[match.end() : i - 1])
    return bodies


# --- the schema itself --------------------------------------------------------------------


def test_vendored_schema_is_the_recorded_one() -> None:
    digest = hashlib.sha256(SCHEMA_FILE.read_bytes()).hexdigest()
    assert digest == SCHEMA_SHA256, "deploy/compose-spec.schema.json changed; see header"
    Draft202012Validator.check_schema(_load_schema())


def test_compose_file_matches_the_compose_specification(compose: dict[str, Any]) -> None:
    validator = Draft202012Validator(_load_schema())
    errors = sorted(validator.iter_errors(compose), key=lambda e: list(e.absolute_path))
    report = "\n".join(f"  {'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in errors)
    assert not errors, f"docker-compose.yml violates the Compose Specification:\n{report}"


def test_schema_rejects_an_unknown_service_key(compose: dict[str, Any]) -> None:
    """Guards the test above: the schema must be strict enough to catch a typo."""
    broken = copy.deepcopy(compose)
    broken["services"]["intake"]["comand"] = ["python", "-m", "services.intake"]
    assert list(Draft202012Validator(_load_schema()).iter_errors(broken))


# --- the four application services --------------------------------------------------------


def test_every_expected_service_is_defined(services: dict[str, Any]) -> None:
    expected = {*SERVICE_PORTS, *INFRA, "init", "gateway"}
    assert expected <= set(services), f"missing: {sorted(expected - set(services))}"


@pytest.mark.parametrize(("name", "port"), SERVICE_PORTS.items())
def test_service_runs_its_module_from_the_shared_image(services: dict[str, Any], name: str, port: int) -> None:
    service = services[name]
    assert service["command"] == ["python", "-m", f"services.{name}"]
    build = service["build"]
    assert build["context"] == "."
    assert build["dockerfile"] == "deploy/Dockerfile"
    assert (ROOT / build["dockerfile"]).is_file()


@pytest.mark.parametrize("name", SERVICE_PORTS)
def test_service_can_be_scaled(services: dict[str, Any], name: str) -> None:
    """Host ports or a fixed container name would make `--scale` fail."""
    assert "ports" not in services[name], f"{name} must be reached through the gateway"
    assert "container_name" not in services[name]


@pytest.mark.parametrize("name", SERVICE_PORTS)
def test_service_has_an_http_healthcheck(services: dict[str, Any], name: str) -> None:
    healthcheck = services[name]["healthcheck"]
    assert not healthcheck.get("disable", False)
    command = _healthcheck_command(services[name])
    assert "/healthz" in command
    assert "LASTMETER_PORT" in command, "probe must follow the port the service listens on"


@pytest.mark.parametrize("name", SERVICE_PORTS)
def test_service_starts_after_infrastructure_and_init(services: dict[str, Any], name: str) -> None:
    depends_on = services[name]["depends_on"]
    assert isinstance(depends_on, dict), "use the long form so conditions are explicit"
    for infra in INFRA:
        assert depends_on[infra]["condition"] == "service_healthy"
    assert depends_on["init"]["condition"] == "service_completed_successfully"


@pytest.mark.parametrize(("name", "port"), SERVICE_PORTS.items())
def test_service_environment(services: dict[str, Any], name: str, port: int) -> None:
    env = _env(services[name])
    assert env["LASTMETER_PORT"] == str(port)
    assert env["LASTMETER_HOST"] == "0.0.0.0"
    assert env["LASTMETER_ENV"] == "prod"
    assert env["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
    assert env["LASTMETER_LOG_JSON"] == "true"
    # Secrets come only as Docker secrets (files), never as values in the environment.
    assert env["LASTMETER_SECRETS_DIR"] == "/run/secrets"
    assert not {"LASTMETER_TOKEN_SECRET", "DATABASE_URL"} & set(env)
    assert set(services[name]["secrets"]) == {"lastmeter_token_secret", "database_url"}


# --- infrastructure and init --------------------------------------------------------------


def test_kafka_is_a_single_node_kraft_broker(services: dict[str, Any]) -> None:
    kafka = services["kafka"]
    assert kafka["image"] == "apache/kafka:3.9.0"
    env = _env(kafka)
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert env["KAFKA_LISTENERS"] == "PLAINTEXT://:9092,CONTROLLER://:9093"
    assert env["KAFKA_ADVERTISED_LISTENERS"] == "PLAINTEXT://kafka:9092"
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == f"{env['KAFKA_NODE_ID']}@kafka:9093"
    assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "1"
    assert env["KAFKA_NUM_PARTITIONS"] == "6"
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert "kafka-broker-api-versions.sh --bootstrap-server localhost:9092" in (_healthcheck_command(kafka))


def test_postgres_is_health_checked_and_persistent(compose: dict[str, Any], services: dict[str, Any]) -> None:
    postgres = services["postgres"]
    assert postgres["image"] == "postgres:16"
    assert _env(postgres) == {"POSTGRES_PASSWORD_FILE": "/run/secrets/postgres_password"}
    assert postgres["secrets"] == ["postgres_password"]
    assert "pg_isready" in _healthcheck_command(postgres)
    volume = postgres["volumes"][0].split(":")[0]
    assert volume in compose["volumes"], "data must live in a named volume"


def test_init_prepares_the_system_once_infrastructure_is_healthy(
    services: dict[str, Any],
) -> None:
    init = services["init"]
    assert init["command"] == ["lastmeter", "init"]
    for infra in INFRA:
        assert init["depends_on"][infra]["condition"] == "service_healthy"
    assert init.get("restart", "no") == "no", "a one-shot job must not be restarted"
    # The services wait for init to exit 0; they must share its image and settings.
    assert init["build"] == services["intake"]["build"]
    assert init["image"] == services["intake"]["image"]
    env = _env(init)
    shared_env = {k: v for k, v in _env(services["intake"]).items() if k != "LASTMETER_PORT"}
    assert env.items() >= shared_env.items(), "init must see the broker, database and secrets the services see"
    # prod: init registers the admin key from its secret and mints no demo keys.
    assert env["LASTMETER_ENV"] == "prod"
    assert env["LASTMETER_ADMIN_KEY_FILE"] == "/run/secrets/lastmeter_admin_key"
    assert set(init["secrets"]) == {"lastmeter_token_secret", "database_url", "lastmeter_admin_key"}


# --- gateway ------------------------------------------------------------------------------


def test_gateway_is_the_only_service_publishing_ports(services: dict[str, Any]) -> None:
    publishing = {name for name, service in services.items() if service.get("ports")}
    assert publishing == {"gateway"}
    gateway = services["gateway"]
    assert gateway["image"] == "nginx:1.27-alpine"
    assert _published_ports(gateway) == {port: port for port in SERVICE_PORTS.values()}
    assert "./deploy/nginx.conf:/etc/nginx/nginx.conf:ro" in gateway["volumes"]
    assert gateway["healthcheck"]["test"]


def test_gateway_routes_each_port_to_its_service() -> None:
    conf = NGINX_CONF.read_text(encoding="utf-8")
    # Docker's DNS, re-asked every 10 s, so scaled replicas join the rotation.
    assert re.search(r"^\s*resolver\s+127\.0\.0\.11\b[^;]*\bvalid=10s", conf, re.M)
    routes: dict[int, str] = {}
    for body in _nginx_servers(conf):
        listen = int(re.search(r"^\s*listen\s+(\d+)\s*;", body, re.M).group(1))  # type: ignore[union-attr]
        variable, url = re.search(r"^\s*set\s+(\$\w+)\s+(\S+)\s*;", body, re.M).groups()  # type: ignore[union-attr]
        # proxy_pass must go through the variable: a literal host is resolved only once.
        assert re.search(rf"proxy_pass\s+\{variable}\s*;", body), f"server {listen}"
        routes[listen] = url
    assert routes == {port: f"http://{name}:{port}" for name, port in SERVICE_PORTS.items()}


def test_gateway_streams_notify_events_unbuffered() -> None:
    servers = _nginx_servers(NGINX_CONF.read_text(encoding="utf-8"))
    (notify,) = [b for b in servers if re.search(r"listen\s+8004\s*;", b)]
    assert re.search(r"proxy_buffering\s+off\s*;", notify)
    assert re.search(r"proxy_read_timeout\s+1h\s*;", notify)


# --- image and topic plan the compose file relies on --------------------------------------


def test_image_is_slim_non_root_and_health_checked() -> None:
    instructions = _dockerfile_instructions()

    def args_of(keyword: str) -> list[str]:
        return [args for kw, args in instructions if kw == keyword]

    assert "PYTHON_IMAGE=python:3.11-slim" in args_of("ARG")
    assert all(base.startswith("${PYTHON_IMAGE}") for base in args_of("FROM"))
    users = args_of("USER")
    assert users, "the image must switch to a non-root user"
    assert users[-1].split(":")[0] not in {"root", "0"}
    # The project itself as a non-editable wheel (its dependencies: tests/unit/test_dependencies.py).
    assert any("pip install --no-deps --no-index /tmp/dist/lastmeter-" in run for run in args_of("RUN"))
    assert "catalogue/ catalogue/" in args_of("COPY")
    # Installed into site-packages, the package cannot find the repo's catalogue/.
    assert any("LASTMETER_CATALOGUE_PATH=/app/catalogue/" in env for env in args_of("ENV"))
    assert "/app" in args_of("WORKDIR")
    (healthcheck,) = args_of("HEALTHCHECK")
    assert "LASTMETER_PORT" in healthcheck
    assert "/healthz" in healthcheck
    assert args_of("CMD")[-1] == '["python", "-m", "services.intake"]'


def test_dockerignore_keeps_local_state_out_of_the_build_context() -> None:
    patterns = {
        line.strip()
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    required = {".venv", ".lastmeter", ".git", "tests/artifacts", "bench/results", "**/__pycache__"}
    assert required <= patterns, f"missing: {sorted(required - patterns)}"


def test_topic_plan_matches_the_broker_settings(services: dict[str, Any]) -> None:
    plan = yaml.safe_load(TOPICS_FILE.read_text(encoding="utf-8"))
    topics = {topic["name"]: topic for topic in plan["topics"]}
    default_partitions = int(_env(services["kafka"])["KAFKA_NUM_PARTITIONS"])
    assert set(topics) == set(CORE_TOPICS)
    for name in EVENT_TOPICS:
        assert topics[name]["partitions"] == default_partitions == PARTITIONS, name
    assert topics["deadletter"]["partitions"] == DEADLETTER_PARTITIONS
    assert {entry["partitions"] for entry in plan["audience_topics"]} == {AUDIENCE_PARTITIONS}
    patterns = {entry["pattern"] for entry in plan["audience_topics"]}
    assert patterns == {"dept.<code>", "team.<code>", "street.<code>"}


# --- what an operator relies on: secrets, restarts, limits, logs, state -------------------


def test_secrets_are_docker_secrets_from_files_outside_the_image(compose: dict[str, Any]) -> None:
    declared = compose["secrets"]
    assert set(declared) == {"lastmeter_token_secret", "lastmeter_admin_key", "postgres_password", "database_url"}
    for name, secret in declared.items():
        assert secret == {"file": f"./secrets/{name}"}, name
    used = {s for service in compose["services"].values() for s in service.get("secrets", [])}
    assert used == set(declared), "every secret is used, and only declared ones"
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    assert "secrets" in ignored, "the secrets must never be part of a build context"
    assert "secrets/" in (ROOT / ".gitignore").read_text(encoding="utf-8").split()
    script = (ROOT / "deploy" / "compose-secrets.sh").read_text(encoding="utf-8")
    assert all(f"write {name} " in script for name in declared), "deploy/compose-secrets.sh makes every secret"


def test_no_secret_value_is_in_any_environment(services: dict[str, Any]) -> None:
    """Secret-looking settings may only point at a secret file, never carry the value."""
    for name, service in services.items():
        for var, value in _env(service).items():
            if re.search(r"PASSWORD|SECRET|TOKEN|_KEY|DATABASE_URL", var) and not var.startswith("KAFKA_"):
                assert value.startswith("/run/secrets"), f"{name}: {var}={value!r} is not a secret file"
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    assert "${POSTGRES_PASSWORD" not in text
    assert "${LASTMETER_TOKEN_SECRET" not in text


def test_long_running_containers_restart_and_the_one_shot_does_not(services: dict[str, Any]) -> None:
    for name, service in services.items():
        expected = "no" if name == "init" else "unless-stopped"
        assert service.get("restart", "no") == expected, name


def test_every_container_has_resource_limits(services: dict[str, Any]) -> None:
    for name, service in services.items():
        limits = service["deploy"]["resources"]["limits"]
        assert float(limits["cpus"]) > 0, name
        assert re.fullmatch(r"\d+[MG]", limits["memory"]), name
    for name in SERVICE_PORTS:
        assert services[name]["deploy"]["resources"]["reservations"]["memory"], name


def test_logs_are_json_on_the_container_output_and_rotated(services: dict[str, Any]) -> None:
    for name, service in services.items():
        assert service["logging"]["driver"] == "json-file", name
        assert service["logging"]["options"]["max-size"], name
    for name in (*SERVICE_PORTS, "init"):
        assert _env(services[name])["LASTMETER_LOG_JSON"] == "true", name


def test_state_lives_in_named_volumes_so_down_and_up_keep_every_case(
    compose: dict[str, Any], services: dict[str, Any]
) -> None:
    mounts = {name: [str(v).split(":") for v in services[name]["volumes"]] for name in INFRA}
    assert ["postgres-data", "/var/lib/postgresql/data"] in mounts["postgres"]
    assert ["kafka-data", "/var/lib/kafka/data"] in mounts["kafka"]
    assert _env(services["kafka"])["KAFKA_LOG_DIRS"] == "/var/lib/kafka/data"
    assert {"postgres-data", "kafka-data"} <= set(compose["volumes"])
    # Nothing of ours keeps state in its container: no volumes, and a read-only root filesystem.
    for name in (*SERVICE_PORTS, "init"):
        assert "volumes" not in services[name], name
        assert services[name]["read_only"] is True, name
        assert services[name]["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in services[name]["security_opt"], name


def _service_body_limits() -> dict[tuple[int, str], int]:
    """(port, path prefix) -> the largest body the service itself accepts, from the settings classes."""
    from services.intake.settings import IntakeSettings
    from services.intake.survey.api import PATH as SURVEY_PATH
    from services.routing.settings import RoutingSettings
    from shared.settings import ServiceSettings

    default = ServiceSettings.model_fields["max_body_bytes"].default
    limits = {(port, "/"): default for port in SERVICE_PORTS.values()}
    limits[(SERVICE_PORTS["intake"], SURVEY_PATH)] = IntakeSettings.model_fields["survey_max_bytes"].default
    limits[(SERVICE_PORTS["routing"], "/v1/catalogue")] = RoutingSettings.model_fields["max_catalogue_bytes"].default
    return limits


def _nginx_size(value: str) -> int:
    number, unit = re.fullmatch(r"(\d+)([kKmM]?)", value).groups()  # type: ignore[union-attr]
    return int(number) * {"": 1, "k": 1024, "m": 1024 * 1024}[unit.lower()]


def _nginx_body_limits() -> dict[tuple[int, str], int]:
    """(port, location prefix) -> client_max_body_size in force there (http level, else the location's)."""
    conf = re.sub(r"#[^\n]*", "", NGINX_CONF.read_text(encoding="utf-8"))
    (http_level,) = re.findall(r"^\s{4}client_max_body_size\s+(\w+)\s*;", conf, re.M)
    limits: dict[tuple[int, str], int] = {}
    for body in _nginx_servers(conf):
        port = int(re.search(r"listen\s+(\d+)\s*;", body).group(1))  # type: ignore[union-attr]
        for path, block in re.findall(r"location\s+(/[\w/.-]*)\s*\{([^}]*)\}", body):
            size = re.search(r"client_max_body_size\s+(\w+)\s*;", block)
            limits[(port, path)] = _nginx_size(size.group(1) if size else http_level)
    return limits


def test_gateway_body_limits_follow_each_services_own() -> None:
    """Each location lets through a little more than its service accepts, so the service's JSON 413 answers."""
    service, gateway = _service_body_limits(), _nginx_body_limits()
    for (port, path), accepted in service.items():
        assert (port, path) in gateway, f"nginx has no location {path} on {port}"
        allowed = gateway[(port, path)]
        assert accepted < allowed <= accepted + 2 * 1024 * 1024, f"{port}{path}: service {accepted}, nginx {allowed}"
    survey = gateway[(SERVICE_PORTS["intake"], "/v1/surveys")]
    assert survey > 20 * 1024 * 1024, "survey uploads of 20 MiB must pass the gateway"


def test_gateway_answers_its_own_413_in_the_services_error_format() -> None:
    for body in _nginx_servers(NGINX_CONF.read_text(encoding="utf-8")):
        assert re.search(r"error_page\s+413\s+@too_large\s*;", body)
        text = re.search(r"return\s+413\s+'([^']*)'\s*;", body).group(1)  # type: ignore[union-attr]
        assert json.loads(text)["error"] == "payload_too_large"


def test_intake_believes_forwarded_addresses_from_the_gateway_alone(compose: dict[str, Any]) -> None:
    """Behind the gateway every client shares its address: intake's per-address limits need the gateway
    trusted, and only its one fixed address (a whole network would let clients forge X-Forwarded-For)."""
    services = compose["services"]
    gateway_address = services["gateway"]["networks"]["default"]["ipv4_address"]
    trusted = json.loads(_env(services["intake"])["LASTMETER_TRUSTED_PROXIES"])
    assert trusted == [gateway_address]
    subnet = compose["networks"]["default"]["ipam"]["config"][0]["subnet"]
    assert ipaddress.ip_address(gateway_address) in ipaddress.ip_network(subnet)
