"""Every registered event type is wired everywhere it must be: status, schema, template, AsyncAPI."""

from __future__ import annotations

import json

import pytest
import yaml

from services.notify.schemas import schemas as generated_schemas
from services.notify.templates import TEMPLATES
from shared.asyncapi import DOCUMENT
from shared.events import EventData, known_types
from shared.events.routing import CatalogueChanged
from shared.events.status import STATUS_OF
from shared.settings import REPO_ROOT

SCHEMAS = REPO_ROOT / "docs" / "schemas"
# Not shown to residents or staff as a case update: the catalogue's own event.
NO_TEMPLATE: frozenset[type[EventData]] = frozenset({CatalogueChanged})
TYPES = sorted(known_types().items())


@pytest.mark.parametrize(("event_type", "model"), TYPES, ids=[t for t, _ in TYPES])
def test_every_event_type_has_a_status_mapping(event_type: str, model: type[EventData]) -> None:
    assert model in STATUS_OF, f"{event_type}: add it to STATUS_OF in shared/events/status.py (None if no status)"


def test_status_mapping_names_only_registered_types() -> None:
    assert set(STATUS_OF) == set(known_types().values())


@pytest.mark.parametrize(("event_type", "model"), TYPES, ids=[t for t, _ in TYPES])
def test_every_event_type_has_its_committed_json_schema(event_type: str, model: type[EventData]) -> None:
    path = SCHEMAS / f"{event_type}.json"
    assert path.is_file(), f"run: .venv/bin/python -m services.notify.schemas (missing {path.name})"
    assert json.loads(path.read_text()) == generated_schemas()[path.name], f"{path.name} is stale"


@pytest.mark.parametrize(("event_type", "model"), TYPES, ids=[t for t, _ in TYPES])
def test_every_case_event_type_has_a_notify_template(event_type: str, model: type[EventData]) -> None:
    if model in NO_TEMPLATE:
        assert event_type not in TEMPLATES
        return
    zh, en = TEMPLATES[event_type]
    assert zh.strip()
    assert en.strip()


@pytest.mark.parametrize(("event_type", "model"), TYPES, ids=[t for t, _ in TYPES])
def test_every_event_type_has_an_asyncapi_message(event_type: str, model: type[EventData]) -> None:
    doc = yaml.safe_load(DOCUMENT.read_text())
    assert event_type in doc["components"]["messages"], "run: .venv/bin/python -m shared.asyncapi"
    assert model.__name__ in doc["components"]["schemas"]
