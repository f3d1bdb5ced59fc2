"""The one envelope every event travels in: CloudEvents 1.0, structured JSON mode."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, ClassVar, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.events.upcast import NoUpcastPath, upcast


class EventData(BaseModel):
    """Base of every event payload; subclasses name their CloudEvents type and schema version."""

    model_config = ConfigDict(extra="forbid")

    TYPE: ClassVar[str]
    VERSION: ClassVar[int] = 1


class CloudEvent(BaseModel):
    """A CloudEvents 1.0 envelope; `subject` is the case id and doubles as the Kafka key."""

    model_config = ConfigDict(extra="allow")

    specversion: Literal["1.0"] = "1.0"
    id: str
    source: str
    type: str
    time: datetime
    subject: str
    datacontenttype: Literal["application/json"] = "application/json"
    # CloudEvents extension attributes (lower-case alphanumerics only, per the spec).
    schemaversion: int = 1
    traceid: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)

    def to_bytes(self) -> bytes:
        """Serialise to the structured-mode JSON body."""
        return orjson.dumps(self.model_dump(mode="json", exclude_none=True))


class PoisonMessage(Exception):
    """A message that can never be processed; it goes to the dead-letter topic with `reason`."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


_REGISTRY: dict[str, type[EventData]] = {}


def register(cls: type[EventData]) -> type[EventData]:
    """Class decorator: make an event type known to `parse_event`."""
    if cls.TYPE in _REGISTRY and _REGISTRY[cls.TYPE] is not cls:
        raise RuntimeError(f"event type {cls.TYPE} registered twice")
    _REGISTRY[cls.TYPE] = cls
    return cls


def known_types() -> dict[str, type[EventData]]:
    """Every registered event type and its payload model."""
    return dict(_REGISTRY)


def make_event(
    data: EventData, *, source: str, subject: str, time: datetime, trace_id: str | None = None
) -> CloudEvent:
    """Wrap a payload in a new envelope with a fresh id."""
    return CloudEvent(
        id=str(uuid.uuid4()),
        source=source,
        type=data.TYPE,
        time=time,
        subject=subject,
        schemaversion=data.VERSION,
        traceid=trace_id,
        data=data.model_dump(mode="json"),
    )


def parse_event(raw: bytes | None) -> tuple[CloudEvent, EventData]:
    """Decode and validate a message body, or raise PoisonMessage saying why it never can be."""
    if not raw:
        raise PoisonMessage("empty", "message has no body")
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise PoisonMessage("not-json", str(exc)) from exc
    if not isinstance(doc, dict):
        raise PoisonMessage("not-an-envelope", "body is not a JSON object")
    try:
        envelope = CloudEvent.model_validate(doc)
    except ValidationError as exc:
        raise PoisonMessage("invalid-envelope", _summarise(exc)) from exc
    model = _REGISTRY.get(envelope.type)
    if model is None:
        raise PoisonMessage("unknown-type", envelope.type)
    if envelope.schemaversion > model.VERSION:
        raise PoisonMessage("unsupported-version", f"{envelope.type} v{envelope.schemaversion} > v{model.VERSION}")
    data = envelope.data
    version = max(envelope.schemaversion, 1)  # envelopes from before versioning say 0 or nothing: v1
    if version < model.VERSION:
        try:
            data = upcast(envelope.type, data, version=version, target=model.VERSION)
        except NoUpcastPath as exc:
            raise PoisonMessage("unsupported-version", str(exc)) from exc
    try:
        payload = model.model_validate(data)
    except ValidationError as exc:
        raise PoisonMessage("schema-invalid", _summarise(exc)) from exc
    return envelope, payload


def _summarise(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in err['loc']) or '(root)'}: {err['msg']}" for err in exc.errors())[:1000]
