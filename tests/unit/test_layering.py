"""The layering rules TID251 cannot express hold, and the checker catches each kind of break."""

from __future__ import annotations

from pathlib import Path

from shared.layering import check, violations


def test_the_services_keep_the_layering_rules() -> None:
    assert check() == []


def test_a_service_importing_another_is_caught() -> None:
    found = list(violations(Path("services/sla/rules.py"), "sla", "from services.routing.rules import x\n"))
    assert len(found) == 1
    assert "no service imports another" in found[0]


def test_own_service_and_shared_imports_pass() -> None:
    source = "from services.sla import store\nimport shared.events\nfrom fastapi import APIRouter\n"
    assert list(violations(Path("services/sla/api.py"), "sla", source)) == []


def test_sql_in_api_and_http_in_store_are_caught() -> None:
    assert list(violations(Path("services/sla/api.py"), "sla", "import asyncpg\n"))
    assert list(violations(Path("services/sla/store.py"), "sla", "from fastapi import HTTPException\n"))
