"""Old event versions are upcast to the current model before validation; no path up is poison."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, ClassVar

import orjson
import pytest

from shared.events import PoisonMessage, parse_event
from shared.events import envelope as envelope_module
from shared.events.envelope import EventData
from shared.events.upcast import unregister, upcaster

TYPE = "lastmeter.test.renamed"


class Renamed(EventData):
    """v2 renamed `at` to `noted_at`."""

    TYPE: ClassVar[str] = TYPE
    VERSION: ClassVar[int] = 2

    case_id: str
    noted_at: datetime


@pytest.fixture
def renamed(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setitem(envelope_module._REGISTRY, TYPE, Renamed)

    @upcaster(TYPE, from_version=1)
    def _v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
        data["noted_at"] = data.pop("at")
        return data

    yield
    unregister(TYPE, from_version=1)


def _raw(version: int, data: dict[str, Any]) -> bytes:
    return orjson.dumps(
        {
            "specversion": "1.0",
            "id": "e1",
            "source": "/test",
            "type": TYPE,
            "time": datetime(2026, 1, 1, tzinfo=UTC).isoformat(),
            "subject": "c1",
            "schemaversion": version,
            "data": data,
        }
    )


@pytest.mark.usefixtures("renamed")
def test_a_v1_event_is_upcast_before_validation() -> None:
    _, payload = parse_event(_raw(1, {"case_id": "c1", "at": "2026-01-01T08:00:00Z"}))
    assert isinstance(payload, Renamed)
    assert payload.noted_at == datetime(2026, 1, 1, 8, tzinfo=UTC)


@pytest.mark.usefixtures("renamed")
def test_a_current_event_is_not_touched() -> None:
    _, payload = parse_event(_raw(2, {"case_id": "c1", "noted_at": "2026-01-01T08:00:00Z"}))
    assert isinstance(payload, Renamed)


def test_an_old_version_without_upcaster_is_poison(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(envelope_module._REGISTRY, TYPE, Renamed)
    with pytest.raises(PoisonMessage) as caught:
        parse_event(_raw(1, {"case_id": "c1", "at": "2026-01-01T08:00:00Z"}))
    assert caught.value.reason == "unsupported-version"


def test_registering_two_upcasters_for_one_step_fails() -> None:
    upcaster(TYPE, from_version=5)(lambda data: data)
    try:
        with pytest.raises(RuntimeError, match="registered twice"):
            upcaster(TYPE, from_version=5)(lambda data: data)
    finally:
        unregister(TYPE, from_version=5)
