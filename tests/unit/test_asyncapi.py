"""docs/asyncapi.yaml: generated from the event models, current, and valid AsyncAPI 3.0."""

from __future__ import annotations

import copy
import json
from typing import Any

import jsonschema
import pytest
import yaml

from shared.asyncapi import DOCUMENT, document, render, topic_of
from shared.events import known_types
from shared.events.binding import DEAD_LETTER_TYPE, DLQ_HEADERS, STRUCTURED_CONTENT_TYPE
from shared.events.routing import CatalogueChanged
from shared.settings import REPO_ROOT
from shared.topics import CORE_TOPICS

# schemas/3.0.0-without-$id.json of the npm package @asyncapi/specs, vendored (see its README).
SCHEMA = REPO_ROOT / "tests" / "data" / "asyncapi" / "asyncapi-3.0.0.schema.json"


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(json.loads(SCHEMA.read_text(encoding="utf-8")))


@pytest.fixture(scope="module")
def committed() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(DOCUMENT.read_text(encoding="utf-8"))
    return loaded


def test_the_committed_document_is_what_the_models_generate() -> None:
    assert DOCUMENT.read_text(encoding="utf-8") == render(), "stale: run `python -m shared.asyncapi`"


def test_the_document_is_valid_asyncapi_3(validator: jsonschema.Draft7Validator, committed: dict[str, Any]) -> None:
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(committed)]
    assert errors == []


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("operations", "sendIntakeEvents", "action"), "publish"),  # AsyncAPI 2's verb
        (("channels", "deptEvents", "bindings", "kafka", "partitions"), "three"),
        (("components", "schemas", "CaseRouted", "type"), 5),
    ],
)
def test_the_schema_catches_a_broken_document(
    validator: jsonschema.Draft7Validator, committed: dict[str, Any], path: tuple[str, ...], value: Any
) -> None:
    broken = copy.deepcopy(committed)
    target = broken
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    assert not validator.is_valid(broken)


def test_every_topic_is_a_channel_and_every_event_type_a_message(committed: dict[str, Any]) -> None:
    channels = committed["channels"]
    addresses = {c["address"] for c in channels.values()}
    assert addresses == {*CORE_TOPICS, "dept.{code}", "team.{code}", "street.{code}"}
    by_address = {c["address"]: set(c["messages"]) for c in channels.values()}
    for event_type, model in known_types().items():
        assert event_type in committed["components"]["messages"]
        holders = {a for a, types in by_address.items() if event_type in types and "{" not in a}
        assert holders == {topic_of(model)}
    case_types = {t for t, m in known_types().items() if m is not CatalogueChanged}
    for audience in ("dept.{code}", "team.{code}", "street.{code}"):
        assert by_address[audience] == case_types
        channel = next(c for c in channels.values() if c["address"] == audience)
        assert set(channel["parameters"]) == {"code"}
    assert by_address["deadletter"] == {DEAD_LETTER_TYPE}
    sent = {op["channel"]["$ref"] for op in committed["operations"].values() if op["action"] == "send"}
    assert sent == {f"#/channels/{name}" for name in channels}


def test_each_message_carries_its_envelope_key_and_headers(committed: dict[str, Any]) -> None:
    components = committed["components"]
    for event_type, model in known_types().items():
        message = components["messages"][event_type]
        assert message["contentType"] == STRUCTURED_CONTENT_TYPE
        assert message["headers"] == {"$ref": "#/components/schemas/StructuredHeaders"}
        assert message["bindings"]["kafka"]["key"]["type"] == "string"
        envelope = message["payload"]
        assert envelope["properties"]["type"]["const"] == event_type
        assert {"specversion", "id", "source", "type", "time", "subject", "data"} <= set(envelope["required"])
        assert envelope["properties"]["data"] == {"$ref": f"#/components/schemas/{model.__name__}"}
        data = components["schemas"][model.__name__]
        generated = model.model_json_schema(ref_template="#/components/schemas/{model}")
        assert data["properties"] == generated["properties"]
        assert data.get("required") == generated.get("required")
        for name in generated.get("$defs", {}):
            assert name in components["schemas"]  # nested models are hoisted, so every $ref resolves
    headers = components["schemas"]["StructuredHeaders"]
    assert headers["properties"]["content-type"]["const"] == STRUCTURED_CONTENT_TYPE
    assert not any(name.startswith("ce_") for name in headers["properties"])
    dead = components["schemas"]["DeadLetterHeaders"]
    assert set(DLQ_HEADERS) <= set(dead["required"])
    assert {"ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time", "content-type"} <= set(dead["required"])


def test_every_ref_resolves(committed: dict[str, Any]) -> None:
    refs: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                refs.append(node["$ref"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(committed)
    assert refs
    for ref in refs:
        target: Any = committed
        for part in ref.removeprefix("#/").split("/"):
            target = target[part]
        assert isinstance(target, dict), ref


async def test_notify_serves_the_same_document() -> None:
    import httpx
    from fastapi import FastAPI

    from services.notify.asyncapi.api import router

    app = FastAPI()
    app.include_router(router)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        resp = await client.get("/asyncapi.json")
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/json"
    assert resp.json() == json.loads(json.dumps(document()))
