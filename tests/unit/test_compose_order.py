"""The compose test starts services in depends_on order and reads each condition as Compose does."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bench.compose_stack import ComposeError, conditions, start_order
from shared.settings import REPO_ROOT


def test_dependencies_come_first_and_a_cycle_is_refused() -> None:
    services = {
        "gateway": {"depends_on": {"intake": {"condition": "service_healthy"}}},
        "intake": {"depends_on": ["init", "kafka"]},
        "init": {"depends_on": {"kafka": {"condition": "service_healthy"}}},
        "kafka": {},
    }
    assert start_order(services) == ["kafka", "init", "intake", "gateway"]
    with pytest.raises(ComposeError, match="cycle"):
        start_order({"a": {"depends_on": ["b"]}, "b": {"depends_on": ["a"]}})


def test_short_depends_on_means_started() -> None:
    assert conditions({"depends_on": ["kafka"]}) == {"kafka": "service_started"}
    assert conditions({"depends_on": {"init": {"condition": "service_completed_successfully"}}}) == {
        "init": "service_completed_successfully"
    }
    assert conditions({}) == {}


def test_the_project_file_starts_infrastructure_then_init_then_services_then_the_gateway() -> None:
    services = yaml.safe_load(Path(REPO_ROOT / "docker-compose.yml").read_text())["services"]
    order = start_order(services)
    assert order.index("init") > max(order.index("kafka"), order.index("postgres"))
    assert all(order.index(s) > order.index("init") for s in ("intake", "routing", "sla", "notify"))
    assert order[-1] == "gateway"
