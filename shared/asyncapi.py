"""The AsyncAPI 3.0 document of every topic lastmeter writes, generated from the pydantic event models.

`python -m shared.asyncapi` (or `lastmeter asyncapi`) writes docs/asyncapi.yaml; `--check` fails
when the committed file is stale. Notify serves the same document at `/asyncapi.json`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

from shared.events import CloudEvent, EventData, known_types
from shared.events.binding import DEAD_LETTER_TYPE, JSON_CONTENT_TYPE, OPAQUE_CONTENT_TYPE, STRUCTURED_CONTENT_TYPE
from shared.events.routing import CatalogueChanged
from shared.settings import REPO_ROOT
from shared.topics import (
    AUDIENCE_PARTITIONS,
    CATALOGUE_EVENTS,
    DEADLETTER,
    DEADLETTER_PARTITIONS,
    INTAKE_EVENTS,
    PARTITIONS,
    ROUTING_EVENTS,
    SLA_EVENTS,
)

DOCUMENT = REPO_ROOT / "docs" / "asyncapi.yaml"
VERSION = "0.1.0"
KAFKA_BINDING = "0.5.0"
REF = "#/components/schemas/{model}"
# Which service topic carries each payload module's events (the catalogue's own event aside).
TOPIC_OF_MODULE = {
    "shared.events.intake": INTAKE_EVENTS,
    "shared.events.routing": ROUTING_EVENTS,
    "shared.events.sla": SLA_EVENTS,
}
SERVICE_TOPICS = {
    INTAKE_EVENTS: ("intakeEvents", "intake", "Needs opened, duplicate reports linked, residents' callbacks."),
    ROUTING_EVENTS: ("routingEvents", "routing", "Routing decisions and every step the assignee takes."),
    SLA_EVENTS: ("slaEvents", "sla", "Deadlines armed, warned, breached, escalated and stopped."),
    CATALOGUE_EVENTS: ("catalogueEvents", "routing", "Every catalogue version; every process applies it live."),
}
AUDIENCES = {
    "deptEvents": ("dept", "department", "A contracted department"),
    "teamEvents": ("team", "volunteer team", "A volunteer team"),
    "streetEvents": ("street", "street office", "A street office (its whole jurisdiction)"),
}


def topic_of(model: type[EventData]) -> str:
    """The service topic an event type is published on."""
    if model is CatalogueChanged:
        return CATALOGUE_EVENTS
    return TOPIC_OF_MODULE[model.__module__]


def document() -> dict[str, Any]:
    """The whole AsyncAPI 3.0 document."""
    schemas: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    by_topic: dict[str, list[str]] = {t: [] for t in SERVICE_TOPICS}
    for event_type, model in sorted(known_types().items()):
        _add_schema(schemas, model)
        messages[event_type] = _event_message(event_type, model)
        by_topic[topic_of(model)].append(event_type)
    messages[DEAD_LETTER_TYPE] = _dead_letter_message()
    schemas.update(_header_schemas())
    case_types = [t for t, m in sorted(known_types().items()) if m is not CatalogueChanged]

    channels: dict[str, Any] = {}
    for topic, (name, service, summary) in SERVICE_TOPICS.items():
        channels[name] = _channel(topic, f"{summary} Written by {service}.", by_topic[topic], PARTITIONS)
    for name, (prefix, what, who) in AUDIENCES.items():
        channel = _channel(
            f"{prefix}.{{code}}",
            f"{who}'s own topic, written by notify: every event of every case it owns, co-handles, "
            f"was just relieved of, or is named in. Read it with your own consumer group (docs/integration.md).",
            case_types,
            AUDIENCE_PARTITIONS,
        )
        channel["parameters"] = {"code": {"description": f"The {what}'s code in the catalogue."}}
        channels[name] = channel
    channels["deadletter"] = _channel(
        DEADLETTER,
        "Messages a consumer can never process, kept byte for byte, with why and where from.",
        [DEAD_LETTER_TYPE],
        DEADLETTER_PARTITIONS,
    )
    operations = {
        f"send{name[0].upper()}{name[1:]}": {
            "action": "send",
            "channel": {"$ref": f"#/channels/{name}"},
            "summary": f"lastmeter writes {channel['address']}.",
            "messages": [{"$ref": f"#/channels/{name}/messages/{m}"} for m in channel["messages"]],
        }
        for name, channel in channels.items()
    }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "lastmeter events",
            "version": VERSION,
            "description": _INFO,
            "license": {"name": "Apache-2.0", "url": "https://www.apache.org/licenses/LICENSE-2.0"},
        },
        "defaultContentType": STRUCTURED_CONTENT_TYPE,
        "servers": {
            "dev": {
                "host": "127.0.0.1:9092",
                "protocol": "kafka",
                "description": "The broker `make run` starts. Topic names carry the deployment's "
                "LASTMETER_TOPIC_PREFIX (empty by default).",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }


_INFO = (
    "Every topic lastmeter writes. Events follow the CloudEvents 1.0 Kafka protocol binding in "
    "structured mode: the body is the JSON envelope (`specversion, id, source, type, time, subject, "
    "datacontenttype, data`, extensions `schemaversion` and `traceid`) and the only header is "
    f"`content-type: {STRUCTURED_CONTENT_TYPE}`. The Kafka key is the case id (= `subject`), so one "
    "case's events stay in order. Delivery is at least once: deduplicate by `id`. Ignore unknown "
    "`type`s; a higher `schemaversion` than you know means fields were added. Dead letters are "
    "binary-mode CloudEvents (their body is the failed message, unchanged)."
)


def _add_schema(schemas: dict[str, Any], model: type[EventData]) -> None:
    """The payload model's JSON Schema, its nested models hoisted beside it."""
    schema = model.model_json_schema(ref_template=REF)
    for name, nested in schema.pop("$defs", {}).items():
        if schemas.setdefault(name, nested) != nested:
            raise ValueError(f"two different payload models are both called {name}")
    schema["title"] = model.__name__
    schema["description"] = (model.__doc__ or "").strip()
    schema["x-schema-version"] = model.VERSION
    if model.__name__ in schemas:
        raise ValueError(f"payload model name {model.__name__} is taken")
    schemas[model.__name__] = schema


def _envelope(event_type: str, model: type[EventData]) -> dict[str, Any]:
    """The CloudEvents envelope of one event type, its `data` the type's payload schema."""
    schema = CloudEvent.model_json_schema()
    props = schema["properties"]
    props["type"] = {"type": "string", "const": event_type}
    subject = "`catalogue`" if model is CatalogueChanged else "The case id"
    props["subject"] = {"type": "string", "description": f"{subject}; equal to the Kafka key."}
    props["schemaversion"] = {"type": "integer", "minimum": 1, "maximum": model.VERSION}
    props["traceid"] = {"type": "string", "description": "Trace id of the request that caused it."}
    props["data"] = {"$ref": REF.format(model=model.__name__)}
    # What is always written (to_bytes dumps defaults), not merely what a reader requires.
    schema["required"] = ["specversion", *schema["required"], "datacontenttype", "schemaversion", "data"]
    schema["title"] = f"{event_type} (CloudEvents envelope)"
    schema.pop("description", None)
    return schema


def _event_message(event_type: str, model: type[EventData]) -> dict[str, Any]:
    catalogue = model is CatalogueChanged
    key = "`catalogue` (one key: versions stay in order)" if catalogue else "the case id"
    message: dict[str, Any] = {
        "name": event_type,
        "title": model.__name__,
        "summary": (model.__doc__ or "").strip(),
        "contentType": STRUCTURED_CONTENT_TYPE,
        "headers": {"$ref": REF.format(model="StructuredHeaders")},
        "payload": _envelope(event_type, model),
        "bindings": {
            "kafka": {
                "key": {"type": "string", "description": f"Kafka key: {key}, equal to `subject`."},
                "bindingVersion": KAFKA_BINDING,
            }
        },
    }
    if not catalogue:
        message["correlationId"] = {"description": "The case id.", "location": "$message.payload#/subject"}
    return message


def _dead_letter_message() -> dict[str, Any]:
    return {
        "name": DEAD_LETTER_TYPE,
        "title": "DeadLetter",
        "summary": "A message a consumer can never process, as a binary-mode CloudEvent.",
        "description": "The body is the failed message's bytes, unchanged (`lastmeter dlq replay` "
        "publishes it again). Its CloudEvents attributes are `ce_` headers; `content-type` is "
        f"`{JSON_CONTENT_TYPE}` when those bytes are JSON (usually a whole envelope), else "
        f"`{OPAQUE_CONTENT_TYPE}`; the `dlq_*` headers say why and where it came from.",
        "contentType": OPAQUE_CONTENT_TYPE,
        "headers": {"$ref": REF.format(model="DeadLetterHeaders")},
        "payload": {"description": "The failed message's value, byte for byte."},
        "bindings": {
            "kafka": {
                "key": {"type": "string", "description": "The failed message's key (usually a case id)."},
                "bindingVersion": KAFKA_BINDING,
            }
        },
    }


def _header_schemas() -> dict[str, Any]:
    text = {"type": "string"}
    dlq = {
        "dlq_reason": "Why: not-json, empty, not-an-envelope, invalid-envelope, unknown-type, "
        "unsupported-version, schema-invalid, handler-error, or a business reason (e.g. unknown-street).",
        "dlq_detail": "What exactly was wrong (at most 500 characters).",
        "dlq_consumer": "The consumer that gave up on it.",
        "dlq_topic": "The topic it was read from (with the deployment's prefix).",
        "dlq_partition": "Its partition there.",
        "dlq_offset": "Its offset there.",
    }
    ce = {
        "ce_specversion": {"type": "string", "const": "1.0"},
        "ce_id": {"type": "string", "description": "<topic>:<partition>:<offset> of the failed message."},
        "ce_source": {"type": "string", "description": "/lastmeter/<consumer group>"},
        "ce_type": {"type": "string", "const": DEAD_LETTER_TYPE},
        "ce_time": {"type": "string", "format": "date-time"},
        "ce_subject": {"type": "string", "description": "The failed message's key, when it had one."},
    }
    return {
        "StructuredHeaders": {
            "type": "object",
            "description": "Kafka headers of every event: the binding's structured mode, no `ce_` header.",
            "properties": {"content-type": {"type": "string", "const": STRUCTURED_CONTENT_TYPE}},
            "required": ["content-type"],
        },
        "DeadLetterHeaders": {
            "type": "object",
            "description": "Kafka headers of a dead letter: the binding's binary mode plus the `dlq_*` coordinates.",
            "properties": {
                "content-type": {"type": "string", "enum": [JSON_CONTENT_TYPE, OPAQUE_CONTENT_TYPE]},
                **ce,
                **{name: {**text, "description": about} for name, about in dlq.items()},
            },
            "required": ["content-type", *[n for n in ce if n != "ce_subject"], *dlq],
        },
    }


def _channel(address: str, description: str, types: list[str], partitions: int) -> dict[str, Any]:
    return {
        "address": address,
        "description": description,
        "messages": {t: {"$ref": f"#/components/messages/{t}"} for t in types},
        "bindings": {"kafka": {"partitions": partitions, "bindingVersion": KAFKA_BINDING}},
    }


def render() -> str:
    """The document as the committed YAML text."""
    header = "# Generated by `python -m shared.asyncapi` from shared/events/ - do not edit by hand.\n"
    return header + yaml.safe_dump(document(), sort_keys=False, allow_unicode=True, width=100)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.asyncapi", description=__doc__)
    parser.add_argument("--output", type=Path, default=DOCUMENT)
    parser.add_argument("--check", action="store_true", help="exit 1 if the file differs from what would be written")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is stale: run `python -m shared.asyncapi`", file=sys.stderr)
            return 1
        return 0
    args.output.write_text(text, encoding="utf-8")
    print(args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
