"""Static checks of the deployment files; fast, no Docker or cluster needed.

The shape of the files is left to maintained validators, whose schemas ship inside their
wheels (pinned in pyproject's `dev` extras), so nothing is downloaded at test time:

- docker-compose.yml: check-jsonschema with its vendored copy of the official Compose
  Specification schema (`--builtin-schema vendor.compose-spec`);
- every Kubernetes object under deploy/k8s/: kubernetes-validate, strict (unknown fields
  fail), against the API schemas of KUBERNETES_VERSION.

The tests here check what no schema can: the wiring of compose (healthchecks, start
order, secrets, ports, Kafka settings), the conventions of deploy/Dockerfile, .dockerignore
and deploy/postgres/init.sql, and what the Kubernetes manifests must say for this system.
"""

from __future__ import annotations

import base64
import binascii
import copy
import re
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from pydantic import AliasChoices
from pydantic_settings import BaseSettings

from booking.app import service as booking_service
from booking.web.settings import WebSettings
from notify.app import service as notify_service
from plans.app import service as plans_service
from shared.fhir import FhirSettings
from shared.service import Service

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
INIT_SQL = ROOT / "deploy" / "postgres" / "init.sql"
DEPLOY_README = ROOT / "deploy" / "README.md"
K8S_DIR = ROOT / "deploy" / "k8s"

APP_PORTS = {"plans": 8001, "booking": 8002, "notify": 8003}
APPS = sorted(APP_PORTS)
DISPATCHER = "notify-dispatcher"
TOPICS = [f"{s}.events{dlq}" for s in APPS for dlq in ("", ".dlq")]

Doc = dict[str, Any]

# Names of variables that hold a secret, and the only acceptable way to fill them in
# compose: a required interpolation `${NAME:?message}` (fails loudly when missing).
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|_SID$|API_KEY|PRIVATE_KEY")
REQUIRED_VAR = re.compile(r"^\$\{[A-Z][A-Z0-9_]*:\?[^}]+\}$")
URL_PASSWORD = re.compile(r"://[^:/@\s]+:(?P<password>[^@\s]*)@")


def hardcoded_secrets(env: Mapping[str, str]) -> list[str]:
    """The variables of `env` whose secret is written in the file instead of required."""
    bad = []
    for name, value in env.items():
        if SECRET_NAME.search(name) and not REQUIRED_VAR.match(value):
            bad.append(name)
            continue
        match = URL_PASSWORD.search(value)
        if match and not REQUIRED_VAR.match(match["password"]):
            bad.append(name)
    return bad


# ---- compose helpers -------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> Doc:
    doc: Doc = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    return doc


@pytest.fixture(scope="module")
def services(compose: Doc) -> dict[str, Doc]:
    svcs: dict[str, Doc] = compose["services"]
    return svcs


def env_of(service: Doc) -> dict[str, str]:
    """A service's environment as a dict of strings (both Compose syntaxes)."""
    raw = service.get("environment", {})
    if isinstance(raw, list):
        return dict(item.split("=", 1) for item in raw)
    return {
        k: "" if v is None else str(v).lower() if isinstance(v, bool) else str(v)
        for k, v in raw.items()
    }


def depends_on(service: Doc) -> dict[str, str]:
    """Dependency name -> condition (the list syntax means service_started)."""
    raw = service.get("depends_on", {})
    if isinstance(raw, list):
        return dict.fromkeys(raw, "service_started")
    return {name: spec["condition"] for name, spec in raw.items()}


def command_text(value: str | list[str] | None) -> str:
    return " ".join(value) if isinstance(value, list) else (value or "")


def one_shot_services(services: dict[str, Doc]) -> set[str]:
    """Services others wait for with service_completed_successfully."""
    return {
        dep
        for svc in services.values()
        for dep, condition in depends_on(svc).items()
        if condition == "service_completed_successfully"
    }


def published_ports(service: Doc) -> set[tuple[int, int]]:
    """(host, container) pairs of the short and the long port syntax."""
    pairs = set()
    for port in service.get("ports", []):
        if isinstance(port, dict):
            pairs.add((int(port["published"]), int(port["target"])))
        else:
            host, _, container = str(port).rpartition(":")
            container = container.split("/")[0]
            pairs.add((int(host.rpartition(":")[2] or container), int(container)))
    return pairs


# ---- compose: schema and shape ---------------------------------------------------------


def check_compose_file(path: Path) -> subprocess.CompletedProcess[str]:
    """check-jsonschema's verdict on `path` against the Compose Specification it ships."""
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec", path],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_compose_file_is_valid_against_the_compose_specification() -> None:
    result = check_compose_file(COMPOSE_FILE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_compose_validator_rejects_an_invalid_compose_file(
    compose: Doc, tmp_path: Path
) -> None:
    broken = copy.deepcopy(compose)
    broken["services"]["plans"]["restart_policy"] = "always"  # `restart` is the key
    path = tmp_path / "compose.yaml"
    path.write_text(yaml.safe_dump(broken), encoding="utf-8")
    result = check_compose_file(path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "restart_policy" in result.stdout


def test_compose_has_no_obsolete_version_key(compose: Doc) -> None:
    assert "version" not in compose


def test_compose_defines_every_piece(services: dict[str, Doc]) -> None:
    expected = {"kafka", "postgres", "migrate", *APPS, DISPATCHER}
    assert expected <= set(services)


def test_long_running_services_have_a_healthcheck_and_a_restart_policy(
    services: dict[str, Doc],
) -> None:
    one_shots = one_shot_services(services)
    assert one_shots == {"migrate"}
    for name, svc in services.items():
        if name in one_shots:
            assert svc.get("restart", "no") == "no", name
            continue
        check = svc.get("healthcheck", {})
        assert check.get("test"), f"{name} has no healthcheck"
        assert not check.get("disable"), f"{name} disables its healthcheck"
        assert svc.get("restart") in {"always", "unless-stopped", "on-failure"}, name


def test_service_healthy_dependencies_have_a_healthcheck(services: dict[str, Doc]) -> None:
    for name, svc in services.items():
        for dep, condition in depends_on(svc).items():
            assert dep in services, f"{name} depends on unknown {dep}"
            if condition == "service_healthy":
                assert services[dep].get("healthcheck", {}).get("test"), f"{name} -> {dep}"


@pytest.mark.parametrize("name", [*APPS, DISPATCHER])
def test_services_wait_for_migrations_kafka_and_postgres(
    services: dict[str, Doc], name: str
) -> None:
    deps = depends_on(services[name])
    assert deps.get("migrate") == "service_completed_successfully"
    assert deps.get("kafka") == "service_healthy"
    assert deps.get("postgres") == "service_healthy"


def test_migrate_runs_every_migration_once_postgres_is_healthy(
    services: dict[str, Doc],
) -> None:
    migrate = services["migrate"]
    assert depends_on(migrate).get("postgres") == "service_healthy"
    command = command_text(migrate.get("command"))
    for app in APPS:
        assert f"python -m {app} migrate" in command
    env = env_of(migrate)
    for app in APPS:
        assert env[f"{app.upper()}_DATABASE_URL"].endswith(f"@postgres:5432/mesocycle_{app}")


@pytest.mark.parametrize(("name", "port"), sorted(APP_PORTS.items()))
def test_app_service_port_command_readiness_and_database(
    services: dict[str, Doc], name: str, port: int
) -> None:
    svc = services[name]
    assert (port, port) in published_ports(svc)
    assert command_text(svc.get("command")) == f"python -m {name} serve"
    check = command_text(svc["healthcheck"]["test"])
    assert f"127.0.0.1:{port}/readyz" in check
    # the slim image has neither curl nor wget
    assert "curl" not in check
    assert "wget" not in check
    env = env_of(svc)
    assert env[f"{name.upper()}_DATABASE_URL"].endswith(f"@postgres:5432/mesocycle_{name}")
    other_databases = {f"{a.upper()}_DATABASE_URL" for a in APPS if a != name}
    assert not other_databases & set(env), "a service must not know another's database"
    assert env.get(f"{name.upper()}_RUN_WORKERS", "true") != "false"


def test_app_services_share_one_image_built_from_deploy_dockerfile(
    services: dict[str, Doc],
) -> None:
    images = set()
    for name in [*APPS, DISPATCHER, "migrate"]:
        svc = services[name]
        images.add(svc["image"])
        build = svc["build"]
        assert build["context"] == "."
        assert build["dockerfile"] == "deploy/Dockerfile"
    assert len(images) == 1


@pytest.mark.parametrize(
    ("env", "offenders"),
    [
        ({"JWT_SECRET": "${JWT_SECRET:?set it}"}, []),
        ({"JWT_SECRET": "hunter2"}, ["JWT_SECRET"]),
        ({"JWT_SECRET": "${JWT_SECRET:-hunter2}"}, ["JWT_SECRET"]),
        ({"TWILIO_ACCOUNT_SID": "AC123"}, ["TWILIO_ACCOUNT_SID"]),
        ({"DB_URL": "postgresql://u:${PG:?set PG}@db:5432/x"}, []),
        ({"DB_URL": "postgresql://u:hunter2@db:5432/x"}, ["DB_URL"]),
        ({"DB_URL": "postgresql://u:${PG:-hunter2}@db:5432/x"}, ["DB_URL"]),
        ({"LOG_LEVEL": "INFO", "KAFKA_BOOTSTRAP_SERVERS": "kafka:9092"}, []),
    ],
)
def test_the_hardcoded_secret_check_itself(env: dict[str, str], offenders: list[str]) -> None:
    assert hardcoded_secrets(env) == offenders


def test_no_service_has_a_hard_coded_secret(services: dict[str, Doc]) -> None:
    found = {name: hardcoded_secrets(env_of(svc)) for name, svc in services.items()}
    assert {name: bad for name, bad in found.items() if bad} == {}


def test_every_kafka_client_uses_the_idempotent_producer(services: dict[str, Doc]) -> None:
    clients = {n: env_of(s) for n, s in services.items() if "KAFKA_BOOTSTRAP_SERVERS" in env_of(s)}
    assert {*APPS, DISPATCHER, "migrate"} <= set(clients)
    for name, env in clients.items():
        assert env["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092", name
        assert env.get("KAFKA_IDEMPOTENT_PRODUCER", "").lower() == "true", name


def test_kafka_is_a_single_kraft_node_reachable_at_kafka_9092(services: dict[str, Doc]) -> None:
    kafka = services["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    env = env_of(kafka)
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert "PLAINTEXT://kafka:9092" in env["KAFKA_ADVERTISED_LISTENERS"].split(",")
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == f"{env['KAFKA_NODE_ID']}@kafka:9093"
    assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "1"
    # Erasure: contact data leaves the log within 8 days (7 days kept, daily segments).
    assert (env["KAFKA_LOG_RETENTION_HOURS"], env["KAFKA_LOG_ROLL_HOURS"]) == ("168", "24")
    # CLUSTER_ID must be a base64url-encoded 16-byte UUID, or storage formatting fails.
    try:
        raw = base64.urlsafe_b64decode(env["CLUSTER_ID"] + "==")
    except binascii.Error:
        raw = b""
    assert len(raw) == 16
    check = command_text(kafka["healthcheck"]["test"])
    assert "/opt/kafka/bin/kafka-broker-api-versions.sh" in check or "kafka-topics.sh" in check
    assert any(str(v).endswith(":/var/lib/kafka/data") for v in kafka["volumes"])


def test_postgres_creates_the_three_databases_and_btree_gist(services: dict[str, Doc]) -> None:
    postgres = services["postgres"]
    assert postgres["image"] == "postgres:16-alpine"
    mounts = [str(v) for v in postgres["volumes"]]
    assert any(
        m.startswith("./deploy/postgres/init.sql:/docker-entrypoint-initdb.d/") for m in mounts
    )
    sql = INIT_SQL.read_text(encoding="utf-8")
    for app in APPS:
        assert re.search(rf"^CREATE DATABASE mesocycle_{app};", sql, re.MULTILINE)
    booking_part = sql.split("\\connect mesocycle_booking", 1)
    assert len(booking_part) == 2, "init.sql must \\connect to mesocycle_booking"
    assert re.search(r"CREATE EXTENSION IF NOT EXISTS btree_gist;", booking_part[1])
    assert "mesocycle_notify" in command_text(postgres["healthcheck"]["test"])


def test_the_dispatcher_is_its_own_service_with_replicas(services: dict[str, Doc]) -> None:
    dispatcher = services[DISPATCHER]
    assert command_text(dispatcher.get("command")) == "python -m notify dispatch --health-port 9000"
    assert int(dispatcher["deploy"]["replicas"]) >= 2
    # replicas cannot share a container name or a host port
    assert "container_name" not in dispatcher
    assert not dispatcher.get("ports")
    assert env_of(dispatcher) == env_of(services["notify"])


def test_twilio_is_the_real_one_and_notify_has_its_settings(services: dict[str, Doc]) -> None:
    for name, svc in services.items():
        assert "TWILIO_API_BASE_URL" not in env_of(svc), name
    for name in ("notify", DISPATCHER):
        env = env_of(services[name])
        for var in (
            "TWILIO_ACCOUNT_SID",
            "TWILIO_AUTH_TOKEN",
            "TWILIO_FROM_NUMBER",
            "NOTIFY_PUBLIC_URL",
        ):
            assert REQUIRED_VAR.match(env[var]), (name, var)
    assert REQUIRED_VAR.match(env_of(services["booking"])["BOOKING_SELF_BOOKING_URL"])
    assert not {"TWILIO_AUTH_TOKEN", "TWILIO_ACCOUNT_SID"} & set(env_of(services["plans"]))


def strings_in(node: Any) -> Iterator[str]:
    """Every string value nested in `node`."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from strings_in(value)
    elif isinstance(node, list):
        for item in node:
            yield from strings_in(item)


def test_every_required_variable_is_documented_in_the_deploy_readme(compose: Doc) -> None:
    required = {
        var for text in strings_in(compose) for var in re.findall(r"\$\{([A-Z][A-Z0-9_]*):\?", text)
    }
    assert {"JWT_SECRET", "POSTGRES_PASSWORD", "TWILIO_AUTH_TOKEN"} <= required
    readme = DEPLOY_README.read_text(encoding="utf-8")
    assert {var for var in required if not re.search(rf"^{var}=", readme, re.MULTILINE)} == set()


# ---- image -----------------------------------------------------------------------------


def test_dockerfile_builds_a_slim_non_root_image_with_pinned_dependencies() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11-slim$", text, re.MULTILINE)
    stages = re.split(r"^FROM ", text, flags=re.MULTILINE)[1:]
    assert stages
    assert all(s.startswith("${PYTHON_IMAGE}") for s in stages)
    runtime = stages[-1]
    users = re.findall(r"^USER (\S+)", runtime, re.MULTILINE)
    assert users, "the runtime stage must switch USER"
    assert users[-1].split(":")[0] not in {"root", "0"}
    assert re.search(r"pip (install|wheel)\b[^\n]*-c [^\n]*constraints\.txt", text)
    assert "pip install" in runtime
    assert "constraints.txt" in runtime
    for path in ("pyproject.toml", "constraints.txt", "shared", "services"):
        assert re.search(rf"^COPY [^\n]*\b{re.escape(path)}\b", text, re.MULTILINE), path


def test_dockerignore_keeps_local_state_and_secrets_out() -> None:
    patterns = {
        line.strip()
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {
        ".git",
        ".venv",
        ".env",
        "**/__pycache__",
        ".pytest_cache",
        "test-artifacts",
    } <= patterns
    # what the Dockerfile copies must stay in the context
    assert not {"shared", "services", "pyproject.toml", "constraints.txt"} & patterns


# ---- Kubernetes ------------------------------------------------------------------------

# The Kubernetes release whose API schemas the manifests must satisfy. kubernetes-validate
# 1.37.0 ships those of 1.25 to 1.37; this is two minors behind its newest, as clusters
# lag: raise it with the clusters the system runs on.
KUBERNETES_VERSION = "1.35"
# The one file of deploy/k8s/ that is no Kubernetes object: kustomize reads it client-side,
# so there is no API schema for it; test_kustomization_* checks it instead.
KUSTOMIZATION = "kustomization.yaml"


def load_k8s() -> list[tuple[str, Doc]]:
    """(file name, document) of every Kubernetes object under deploy/k8s/."""
    docs = []
    for path in sorted(K8S_DIR.glob("*.y*ml")):
        if path.name == KUSTOMIZATION:
            continue
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if doc is not None:
                docs.append((path.name, doc))
    return docs


@pytest.fixture(scope="module")
def k8s() -> list[tuple[str, Doc]]:
    docs = load_k8s()
    assert docs, "no manifests under deploy/k8s/"
    return docs


def of_kind(k8s: list[tuple[str, Doc]], kind: str) -> dict[str, Doc]:
    return {d["metadata"]["name"]: d for _, d in k8s if d["kind"] == kind}


def walk(node: Any) -> Iterator[Doc]:
    """Every mapping nested in `node`, itself included."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from walk(item)


def validate_k8s(doc: Doc) -> None:
    """Raise unless `doc` is valid for KUBERNETES_VERSION, unknown fields included."""
    kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def k8s_id(item: tuple[str, Doc]) -> str:
    filename, doc = item
    return f"{filename}:{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"


@pytest.mark.parametrize("item", load_k8s(), ids=k8s_id)
def test_k8s_object_is_valid_against_the_kubernetes_schemas(item: tuple[str, Doc]) -> None:
    filename, doc = item
    try:
        validate_k8s(doc)
    except kubernetes_validate.ValidationError as error:
        where = ".".join(map(str, error.path)) or "<root>"
        pytest.fail(f"{filename}: {where}: {error.message}")
    # the schema lets metadata.name out (generateName), `kubectl apply` does not
    assert doc.get("metadata", {}).get("name"), f"{filename}: {doc['kind']} has no name"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        pytest.param(("spec", "replicas"), "2", id="string-for-an-integer"),
        pytest.param(
            ("spec", "template", "spec", "containers", 0, "imagePullPolicyy"),
            "Always",
            id="misspelled-container-field",
        ),
        pytest.param(
            ("spec", "template", "spec", "containers", 0, "readinessProbe", "httpGet", "paht"),
            "/readyz",
            id="misspelled-probe-field",
        ),
    ],
)
def test_the_kubernetes_validator_rejects_a_broken_deployment(
    k8s: list[tuple[str, Doc]], field: tuple[str | int, ...], value: str
) -> None:
    deployment = of_kind(k8s, "Deployment")["plans"]
    validate_k8s(deployment)
    broken = copy.deepcopy(deployment)
    node: Any = broken
    for key in field[:-1]:
        node = node[key]
    node[field[-1]] = value
    with pytest.raises(kubernetes_validate.ValidationError) as refused:
        validate_k8s(broken)
    # refused at the broken field (or at its parent, for an unknown one)
    path = list(refused.value.path)
    assert path == list(field[: len(path)]), refused.value.message


def test_kustomization_lists_existing_files_and_not_the_secret_example() -> None:
    kustomization = yaml.safe_load((K8S_DIR / KUSTOMIZATION).read_text("utf-8"))
    assert kustomization["apiVersion"] == "kustomize.config.k8s.io/v1beta1"
    assert kustomization["kind"] == "Kustomization"
    resources = kustomization["resources"]
    missing = [r for r in resources if not (K8S_DIR / r).is_file()]
    assert missing == []
    manifests = {p.name for p in K8S_DIR.glob("*.yaml")} - {KUSTOMIZATION}
    examples = {name for name in manifests if ".example." in name}
    assert examples == {"secret.example.yaml"}
    assert set(resources) == manifests - examples
    assert any(image["name"] == "mesocycle" for image in kustomization["images"])


def pod_specs(k8s: list[tuple[str, Doc]]) -> dict[str, Doc]:
    """`Kind/name` -> pod spec, for every Deployment and Job."""
    return {
        f"{d['kind']}/{d['metadata']['name']}": d["spec"]["template"]["spec"]
        for _, d in k8s
        if d["kind"] in {"Deployment", "Job"}
    }


def test_every_workload_runs_as_non_root_with_resources(k8s: list[tuple[str, Doc]]) -> None:
    specs = pod_specs(k8s)
    assert len(specs) >= 8  # 4 Deployments, 3 migration Jobs, the topic Job
    for workload, spec in specs.items():
        assert spec["securityContext"]["runAsNonRoot"] is True, workload
        assert spec["securityContext"]["runAsUser"] != 0, workload
        for container in spec["containers"]:
            # the API schema lets the image out, for controllers to fill in; ours must not
            assert container.get("image"), workload
            ctx = container["securityContext"]
            assert ctx["allowPrivilegeEscalation"] is False, workload
            assert ctx["capabilities"]["drop"] == ["ALL"], workload
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(container["resources"][bound]), workload


def test_deployments_have_probes_and_replicas(k8s: list[tuple[str, Doc]]) -> None:
    deployments = of_kind(k8s, "Deployment")
    assert set(deployments) == {*APPS, DISPATCHER, *(f"{app}-workers" for app in APPS)}
    for name, deployment in deployments.items():
        assert deployment["spec"]["replicas"] >= 2, name
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items(), name
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            for probe in ("readinessProbe", "livenessProbe"):
                assert container.get(probe), f"{name}/{container['name']} lacks {probe}"


@pytest.mark.parametrize(("name", "port"), sorted(APP_PORTS.items()))
def test_each_service_has_a_deployment_a_service_and_a_migration_job(
    k8s: list[tuple[str, Doc]], name: str, port: int
) -> None:
    deployment = of_kind(k8s, "Deployment")[name]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["python", "-m", name, "serve"]
    assert {"name": "http", "containerPort": port} in container["ports"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    refs = {ref["name"] for item in container["envFrom"] for ref in item.values()}
    assert refs == {"mesocycle-config", "mesocycle-shared", f"{name}-secrets"}

    service = of_kind(k8s, "Service")[name]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert {"name": "http", "port": port, "targetPort": "http"} in service["spec"]["ports"]

    job = of_kind(k8s, "Job")[f"{name}-migrate"]
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] in {"Never", "OnFailure"}
    (migrate,) = pod["containers"]
    assert migrate["command"] == ["python", "-m", name, "migrate"]
    assert migrate["image"] == container["image"] == "mesocycle"
    assert migrate["envFrom"] == container["envFrom"]


def test_notify_dispatcher_is_separate_from_the_notify_service(
    k8s: list[tuple[str, Doc]],
) -> None:
    dispatcher = of_kind(k8s, "Deployment")[DISPATCHER]
    (container,) = dispatcher["spec"]["template"]["spec"]["containers"]
    assert container["command"][:4] == ["python", "-m", "notify", "dispatch"]
    labels = dispatcher["spec"]["template"]["metadata"]["labels"]
    notify_selector = of_kind(k8s, "Service")["notify"]["spec"]["selector"]
    assert not notify_selector.items() <= labels.items(), "notify's Service would hit dispatchers"


@pytest.mark.parametrize("app", APPS)
def test_every_worker_runs_once_apart_from_the_api_with_probes_on_its_health_port(
    k8s: list[tuple[str, Doc]], app: str
) -> None:
    services: dict[str, Callable[[], Service[Any]]] = {
        "plans": plans_service, "booking": booking_service, "notify": notify_service,
    }  # fmt: skip
    deployments = [
        d for d in of_kind(k8s, "Deployment").values()
        if d["metadata"]["labels"]["app.kubernetes.io/name"] == app
    ]  # fmt: skip
    run: list[str] = []
    for deployment in deployments:
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        command = container["command"]
        if command[3] == "serve":
            env = {e["name"]: e["value"] for e in container.get("env", [])}
            assert env[f"{app.upper()}_RUN_WORKERS"] == "false", "the API runs no workers"
            continue
        health_port = int(command[command.index("--health-port") + 1])
        assert {"name": "health", "containerPort": health_port} in container["ports"]
        for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
            assert container[probe]["httpGet"] == {"path": path, "port": "health"}, probe
        names = (
            command[4 : command.index("--health-port")] if command[3] == "work" else command[3:4]
        )
        run += names
    assert sorted(run) == sorted(services[app]().worker_names())


def test_config_and_secret_references_resolve_and_secrets_stay_out_of_config(
    k8s: list[tuple[str, Doc]],
) -> None:
    configmaps = of_kind(k8s, "ConfigMap")
    secrets = of_kind(k8s, "Secret")
    config = configmaps["mesocycle-config"]["data"]
    assert config["KAFKA_IDEMPOTENT_PRODUCER"] == "true"
    assert "TWILIO_API_BASE_URL" not in config
    assert [key for key in config if SECRET_NAME.search(key)] == []
    assert not [v for v in config.values() if URL_PASSWORD.search(v)]
    for _, doc in k8s:
        for node in walk(doc):
            for key, known in (
                ("configMapRef", configmaps),
                ("configMapKeyRef", configmaps),
                ("secretRef", secrets),
                ("secretKeyRef", secrets),
            ):
                if key in node:
                    ref = node[key]
                    assert ref["name"] in known, f"{doc['metadata']['name']}: {ref}"
                    if "key" in ref:
                        obj = known[ref["name"]]
                        assert ref["key"] in {**obj.get("data", {}), **obj.get("stringData", {})}


def test_secret_example_holds_only_marked_placeholders(k8s: list[tuple[str, Doc]]) -> None:
    secrets = [d for f, d in k8s if d["kind"] == "Secret"]
    assert {f for f, d in k8s if d["kind"] == "Secret"} == {"secret.example.yaml"}
    keys = set()
    for secret in secrets:
        assert "data" not in secret  # stringData only, so the placeholders stay readable
        for key, value in secret["stringData"].items():
            keys.add(key)
            assert "CHANGE-ME" in value, f"{secret['metadata']['name']}.{key}"
    expected = {"JWT_SECRET", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"}
    assert expected | {f"{a.upper()}_DATABASE_URL" for a in APPS} <= keys


def test_kafka_topics_job_creates_every_topic_replicated(k8s: list[tuple[str, Doc]]) -> None:
    job = of_kind(k8s, "Job")["kafka-topics"]
    (container,) = job["spec"]["template"]["spec"]["containers"]
    script = command_text(container["command"]) + " " + command_text(container["args"])
    for topic in TOPICS:
        assert re.search(rf"(?<![\w.]){re.escape(topic)}(?![\w.])", script), topic
    assert "--partitions 6" in script
    assert "--replication-factor 3" in script
    assert "--if-not-exists" in script
    # Erasure: contact data leaves the log within 8 days (7 days kept, daily segments).
    assert "--config retention.ms=604800000" in script
    assert "--config segment.ms=86400000" in script


def test_the_pre_deploy_selector_picks_config_topics_and_migrations_only(
    k8s: list[tuple[str, Doc]],
) -> None:
    # deploy/README.md applies `-l 'app.kubernetes.io/component in (config,setup,migration)'`
    # first and waits for the Jobs, before the Deployments start.
    picked = {
        f"{d['kind']}/{d['metadata']['name']}"
        for f, d in k8s
        if f != "secret.example.yaml"
        and d["metadata"].get("labels", {}).get("app.kubernetes.io/component")
        in {"config", "setup", "migration"}
    }
    jobs = {"Job/kafka-topics", *(f"Job/{app}-migrate" for app in APPS)}
    assert picked == {"Namespace/mesocycle", "ConfigMap/mesocycle-config", *jobs}
    readme = DEPLOY_README.read_text(encoding="utf-8")
    assert "-l 'app.kubernetes.io/component in (config,setup,migration)'" in readme


# ---- every setting given is one a service reads ----------------------------------------

#: Read by OpenTelemetry itself (shared/tracing.py), not by our settings classes.
READ_BY_LIBRARIES = re.compile(r"^OTEL_[A-Z0-9_]+$")


def env_names(settings: type[BaseSettings]) -> set[str]:
    """The environment variables a settings class reads (pydantic-settings' rules: the
    aliases a field names, else its prefix and name)."""
    prefix = str(settings.model_config.get("env_prefix", ""))
    names = set()
    for name, field in settings.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names |= {choice for choice in alias.choices if isinstance(choice, str)}
        elif isinstance(alias, str):
            names.add(alias)
        else:
            names.add(f"{prefix}{name}".upper())
    return names


def read_by(app: str) -> set[str]:
    """Every variable ``app``'s processes read."""
    extra: dict[str, list[type[BaseSettings]]] = {
        "plans": [FhirSettings],
        "booking": [FhirSettings, WebSettings],
        "notify": [],
    }
    classes = [type(services_of[app]().settings), *extra[app]]
    return set().union(*(env_names(c) for c in classes))


services_of: dict[str, Callable[[], Service[Any]]] = {
    "plans": plans_service,
    "booking": booking_service,
    "notify": notify_service,
}


def test_every_variable_compose_gives_a_service_is_one_it_reads(services: dict[str, Doc]) -> None:
    """A misspelt or retired name is silently ignored, leaving the default (a self-booking
    link to 127.0.0.1, say): every name set must be read."""
    for name, app in [*((a, a) for a in APPS), (DISPATCHER, "notify")]:
        unread = {
            var for var in env_of(services[name])
            if var not in read_by(app) and not READ_BY_LIBRARIES.match(var)
        }  # fmt: skip
        assert unread == set(), name


def test_every_variable_the_k8s_config_sets_is_read_by_some_service(
    k8s: list[tuple[str, Doc]],
) -> None:
    read = set().union(*(read_by(app) for app in APPS))
    config = of_kind(k8s, "ConfigMap")["mesocycle-config"]["data"]
    secrets = [d["stringData"] for d in of_kind(k8s, "Secret").values()]
    given = set(config) | {key for secret in secrets for key in secret}
    assert {var for var in given if var not in read and not READ_BY_LIBRARIES.match(var)} == set()
