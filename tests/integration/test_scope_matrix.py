"""The scope matrix: every operation of the four services, called by every kind of caller outside a case's scope.

Real cases exist (a department case and a volunteer-team case in Nanyingmen, another resident's case in
Wanxing). Each operation is classified below or by its path: public ones are listed with a reason (public
reads must show no personal data); collections must not change for an out-of-scope caller when the cases
appear; everything that names a case, subscription or delivery must answer 401, 403 or 404 to each
out-of-scope caller. An operation nobody classified fails the test, so a new route needs a check.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from typing import Any

import pytest
from fastapi import FastAPI

from services.intake.main import create_app as create_intake
from services.intake.settings import IntakeSettings
from services.notify.main import create_app as create_notify
from services.notify.settings import NotifySettings
from services.routing.main import create_app as create_routing
from services.routing.settings import RoutingSettings
from services.sla.main import create_app as create_sla
from services.sla.settings import SlaSettings
from tests.helpers import bearer, eventually
from tests.scope_matrix_checks import (
    Case,
    World,
    call,
    check_filtered,
    check_public,
    check_stream,
    closed_port,
    fillers,
    refused,
    session_of,
    settled,
    submit,
    survey_refused,
    take_baseline,
)
from tests.scope_matrix_support import (
    Op,
    body_example,
    fill_path,
    hidden_routes,
    mentions,
    operations,
    path_params,
    running,
)

SERVICES = ("intake", "routing", "sla", "notify")

# Public by design, each with why. GETs among them are read by every caller and must show no personal data.
PUBLIC: dict[Op, str] = {
    **{Op(s, "GET", "/healthz"): "liveness probe, no data" for s in SERVICES},
    **{Op(s, "GET", "/readyz"): "readiness probe, names failing checks only" for s in SERVICES},
    Op("intake", "GET", "/v1/categories"): "the catalogue's public category list",
    Op("intake", "GET", "/v1/communities"): "the catalogue's public community list",
    Op("intake", "POST", "/v1/classify"): "classifies free text against the catalogue; stores nothing",
    Op("intake", "POST", "/v1/needs"): "residents submit without an account (rate-limited)",
    Op("intake", "GET", "/open311/v2/services.{format_}"): "Open311 service list",
    Op("intake", "GET", "/open311/v2/services/{service_code}.{format_}"): "Open311 service definition",
    Op("intake", "POST", "/open311/v2/requests.{format_}"): "Open311 submission (api_key in the form)",
    Op("intake", "GET", "/open311/v2/requests.{format_}"): "Open311 public feed (coarse, no personal data)",
    Op("intake", "GET", "/open311/v2/requests/{service_request_id}.{format_}"): "Open311 public read of one",
    Op("intake", "GET", "/open311/v2/tokens/{token}.{format_}"): "Open311 token → request id lookup",
    Op("routing", "GET", "/v1/catalogue"): "the public catalogue (full=true is admin: see ADMIN_ONLY_PROBES)",
    Op("notify", "GET", "/asyncapi.json"): "the AsyncAPI description of the topics, no data",
    Op("notify", "POST", "/v1/session"): "the dashboard's login: a staff key in the body becomes a session cookie",
    Op("notify", "POST", "/v1/session/logout"): "ends the caller's own session and clears its cookie",
    Op("intake", "POST", "/v1/session/resident"): "residents' page login: a token or key in the body becomes a session",
    Op("intake", "POST", "/v1/session/resident/logout"): "ends the caller's own session and clears its cookie",
}
# Public documents about the API itself: their keys are schema words, so only their content is checked.
DESCRIPTIONS: set[Op] = {Op("notify", "GET", "/asyncapi.json")}
# Routes outside the OpenAPI documents, each with why it may be there.
HIDDEN: dict[Op, str] = {
    **{Op(s, "GET", "/openapi.json"): "the API description" for s in SERVICES},
    **{Op(s, "GET", "/docs"): "Swagger UI page" for s in SERVICES},
    **{Op(s, "GET", "/docs/oauth2-redirect"): "Swagger UI helper page" for s in SERVICES},
    **{Op(s, "GET", "/redoc"): "ReDoc page" for s in SERVICES},
    Op("notify", "GET", "/"): "redirects to the dashboard",
    Op("notify", "GET", "/dashboard"): "the dashboard's static page (data needs a key)",
    Op("notify", "GET", "/dashboard/{name}"): "the dashboard's static assets",
    Op("notify", "GET", "/desk"): "the workbench's static page (data needs a key)",
    Op("notify", "GET", "/desk/{name}"): "the workbench's static assets",
    Op("intake", "GET", "/r"): "the residents' static page (data needs a token or key)",
    Op("intake", "GET", "/r/{name}"): "the residents' page's static assets",
}
# Collections and aggregates that answer each caller within its own scope: an out-of-scope caller gets
# 401/403/404, or 200 with exactly what it saw before the cases existed. Each entry: query variants.
FILTERED: dict[Op, list[dict[str, str]]] = {
    Op("routing", "GET", "/v1/cases"): [{}, {"street": "nanyingmen"}, {"assignee": "department:urban_mgmt"}],
    Op("routing", "GET", "/v1/arbitration"): [{}, {"street": "nanyingmen"}],
    Op("routing", "GET", "/v1/triage"): [{}, {"street": "nanyingmen"}],
    Op("routing", "GET", "/v1/catalogue/versions"): [{}],
    Op("sla", "GET", "/v1/rates"): [
        {"dimension": d, "period": "day"} for d in ("department", "team", "street", "community", "category")
    ],
    Op("notify", "GET", "/v1/subscriptions"): [{}],
    Op("notify", "GET", "/v1/deliveries"): [{}],
    Op("notify", "GET", "/v1/cases"): [{}, {"community": "chaoyangli"}, {"assignee": "department:urban_mgmt"}],
    Op("notify", "GET", "/v1/stats/overview"): [{}],
    Op("notify", "GET", "/v1/stats/demand"): [{}],
    Op("notify", "GET", "/v1/stats/supply"): [{}],
    Op("notify", "GET", "/v1/dashboard/config"): [{}],
    Op("notify", "GET", "/v1/desk/config"): [{}],
}
# Endless responses (SSE): read for a moment; an out-of-scope caller must get no event of the cases.
STREAMS: set[Op] = {Op("notify", "GET", "/v1/stream")}
# Operations with no case in their path that act on a case named in the body.
CASE_IN_BODY: set[Op] = {Op("notify", "POST", "/v1/subscriptions"), Op("intake", "POST", "/v1/surveys")}
# Operations none of the out-of-scope callers may use at all; then operations that are so with a query.
ADMIN_ONLY: set[Op] = {Op("routing", "PUT", "/v1/catalogue")}
ADMIN_ONLY_PROBES: dict[Op, dict[str, str]] = {Op("routing", "GET", "/v1/catalogue"): {"full": "true"}}
# Path parameters of owned objects, filled with ids the cases' street office owns.
OBJECT_PARAMS = frozenset({"subscription_id", "delivery_id"})

NEED_A = {
    "category": "street_light_out",
    "description": "矩阵A: 朝阳里7号楼前路灯不亮, 晚上老人不敢出门",
    "community": "chaoyangli",
    "address": "朝阳里7号楼2门301室",
    "location": {"lat": 39.118437, "lon": 117.185113},
    "reporter": {"name": "张秀兰", "phone": "13800138001", "email": "zhang.xiulan@example.org"},
}
NEED_T = {
    "category": "corridor_clutter",
    "description": "矩阵T: 3号楼楼道堆满杂物, 独居老人出不了门",
    "community": "chaoyangli",
    "address": "朝阳里3号楼1门502室",
    "location": {"lat": 39.117291, "lon": 117.186624},
    "vulnerable": True,
    "reporter": {"name": "李桂英", "phone": "13800138002", "email": "li.guiying@example.org"},
}
NEED_B = {
    "category": "water_outage",
    "description": "矩阵B: 华章里12号楼停水一天了",
    "community": "huazhangli",
    "address": "华章里12号楼3门101室",
    "reporter": {"name": "王淑珍", "phone": "13800138003", "email": "wang.shuzhen@example.org"},
}
# The team asked about the team case; corridor clean-up cases go to a team with the cleanup skill.
OTHER_TEAM = "mediation"


def _settings(make_settings: Callable[..., Any]) -> dict[str, Any]:
    return {
        "intake": make_settings(IntakeSettings),
        "routing": make_settings(RoutingSettings),
        "sla": make_settings(SlaSettings),
        # The delivery log needs deliveries: webhooks to a closed local port fail and are logged.
        "notify": make_settings(NotifySettings, webhook_allow_loopback=True),
    }


def _apps(make_settings: Callable[..., Any]) -> dict[str, FastAPI]:
    factories = {"intake": create_intake, "routing": create_routing, "sla": create_sla, "notify": create_notify}
    return {name: factories[name](settings) for name, settings in _settings(make_settings).items()}


def _all_operations(apps: dict[str, FastAPI]) -> dict[Op, dict[str, Any]]:
    ops: dict[Op, dict[str, Any]] = {}
    for name, app in apps.items():
        ops.update(operations(name, app.openapi()))
    return ops


def _classified(op: Op) -> bool:
    params = set(path_params(op.path))
    return (
        op in PUBLIC
        or op in FILTERED
        or op in STREAMS
        or op in CASE_IN_BODY
        or op in ADMIN_ONLY
        or "case_id" in params
        or bool(params & OBJECT_PARAMS)
    )


def test_every_operation_is_classified_and_no_entry_is_stale(make_settings: Callable[..., Any]) -> None:
    apps = _apps(make_settings)
    ops = _all_operations(apps)
    unclassified = sorted(str(op) for op in ops if not _classified(op))
    assert not unclassified, "operations without a scope check or a public reason:\n" + "\n".join(unclassified)
    listed = {*PUBLIC, *DESCRIPTIONS, *FILTERED, *STREAMS, *CASE_IN_BODY, *ADMIN_ONLY, *ADMIN_ONLY_PROBES}
    stale = sorted(str(op) for op in listed if op not in ops)
    assert PUBLIC.keys() >= DESCRIPTIONS, "a description document must also be listed as public"
    assert not stale, "allowlist entries naming no operation:\n" + "\n".join(stale)
    hidden = set().union(*(hidden_routes(name, app) for name, app in apps.items()))
    assert not sorted(str(op) for op in hidden - HIDDEN.keys()), "routes hidden from OpenAPI without a reason"
    assert not sorted(str(op) for op in HIDDEN.keys() - hidden), "stale hidden-route entries"


@pytest.fixture
async def world(make_settings: Callable[..., Any], keys: dict[str, Any]) -> AsyncIterator[World]:
    apps = _apps(make_settings)
    async with AsyncExitStack() as stack:
        clients = {name: await stack.enter_async_context(running(app)) for name, app in apps.items()}
        w = World(apps=apps, clients=clients)
        w.specs = {name: (await clients[name].get("/openapi.json")).json() for name in SERVICES}
        yield w


def _bodies(w: World, op: Op, case: Case, catalogue: dict[str, Any]) -> list[dict[str, Any]]:
    """The request bodies to try: one minimal valid body, or the variants that aim at the case."""
    if op == Op("notify", "POST", "/v1/subscriptions"):
        base = {"channel": "email", "target": "scope-matrix@example.org"}
        scopes = [
            {"kind": "case", "code": case.case_id},
            {"kind": "street", "code": case.street},
            {"kind": case.assignee["kind"], "code": case.assignee["code"]},
        ]
        return [{"json": {**base, "scope": s}} for s in scopes]
    if op == Op("intake", "POST", "/v1/surveys"):
        sheet = f"category,description,community\n{case.need['category']},矩阵问卷,{case.need['community']}\n"
        return [{"files": {"file": ("survey.csv", sheet.encode(), "text/csv")}}]
    if op == Op("routing", "PUT", "/v1/catalogue"):
        return [{"json": catalogue}]
    spec = w.specs[op.service]
    return [body_example(spec["paths"][op.path][op.method.lower()], spec)]


async def _check_case_op(w: World, op: Op, admin: dict[str, str], catalogue: dict[str, Any]) -> None:
    for case in w.cases.values():
        try:
            path = fill_path(op.path, fillers(w, case))
        except KeyError as exc:
            w.fail(op, "-", f"no filler for path parameter {exc}")
            return
        bodies = _bodies(w, op, case, catalogue)
        for caller, headers in w.callers.items():
            for body in bodies:
                resp = await call(w, op, headers=headers, path=path, **body)
                if op == Op("intake", "POST", "/v1/surveys"):
                    survey_refused(w, op, caller, resp)
                else:
                    refused(w, op, caller, resp, what=f"for case {case.need['category']} ")
        if op.method == "GET":  # the filled ids are real: someone in scope reads them
            resp = await call(w, op, headers=admin, path=path)
            if resp.status_code != 200:
                w.fail(op, "admin", f"in-scope control answered {resp.status_code}: {resp.text[:200]}")
        if not set(path_params(op.path)) & {"case_id"} and op not in CASE_IN_BODY:
            break  # an owned object, not per case


async def test_every_operation_refuses_callers_outside_its_scope(world: World, keys: dict[str, Any]) -> None:
    w = world
    admin = bearer(keys["admin"])
    nanyingmen = bearer(keys["street_offices"]["nanyingmen"])

    other = await submit(w, NEED_B)
    await settled(w, other, admin)
    assert other.street == "wanxing", other
    w.callers = {
        "anonymous": {},
        "resident of another case": bearer(other.token),
        "another department": bearer(keys["departments"]["water"]),
        "a volunteer team not assigned": bearer(keys["teams"][OTHER_TEAM]),
        "another street office": bearer(keys["street_offices"]["wanxing"]),
        "a grid worker of another street": bearer(keys["grid_workers"]["wanxing"]),
        "another street office, by session cookie": await session_of(w, keys["street_offices"]["wanxing"]),
    }
    # The callers are real: each reads what is its own.
    assert (await w.clients["intake"].get(f"/v1/cases/{other.case_id}", headers=bearer(other.token))).status_code == 200
    for kind in ("another department", "another street office", "another street office, by session cookie"):
        own = await w.clients["routing"].get(f"/v1/cases/{other.case_id}", headers=w.callers[kind])
        assert own.status_code == 200, (kind, own.text)

    # The cases' street office subscribes a webhook, so the delivery log has rows of the cases.
    hook = f"http://127.0.0.1:{closed_port()}/hook"
    created = await w.clients["notify"].post(
        "/v1/subscriptions", headers=nanyingmen, json={"channel": "webhook", "target": hook, "secret": "s" * 32}
    )
    assert created.status_code == 201, created.text
    w.objects["subscription_id"] = created.json()["id"]

    await take_baseline(w, FILTERED)

    w.cases = {"department case": await submit(w, NEED_A), "team case": await submit(w, NEED_T)}
    for case in w.cases.values():
        await settled(w, case, admin)
        assert case.street == "nanyingmen", case
    assert w.cases["department case"].assignee["kind"] == "department", w.cases["department case"]
    assert w.cases["team case"].assignee == {"kind": "team", "code": w.cases["team case"].assignee["code"]}
    assert w.cases["team case"].assignee["code"] != OTHER_TEAM

    async def delivery() -> str | None:
        resp = await w.clients["notify"].get(
            "/v1/deliveries", headers=nanyingmen, params={"subscription_id": w.objects["subscription_id"]}
        )
        items = resp.json() if resp.status_code == 200 else []
        items = items.get("items", []) if isinstance(items, dict) else items
        return str(items[0]["id"]) if items else None

    w.objects["delivery_id"] = await eventually(delivery, timeout=30)

    catalogue = (await w.clients["routing"].get("/v1/catalogue", params={"full": "true"}, headers=admin)).json()
    needles = [c.case_id for c in w.cases.values()] + [c.need["description"] for c in w.cases.values()]
    secrets = [s for c in w.cases.values() for s in c.secrets()]
    ops = {op: o for name in SERVICES for op, o in operations(name, w.specs[name]).items()}
    for op in sorted(ops):
        if op in PUBLIC:
            await check_public(w, op, secrets, other, describes=op in DESCRIPTIONS)
        elif op in FILTERED:
            await check_filtered(w, op, FILTERED[op], needles)
        elif op in STREAMS:
            await check_stream(w, op, needles, admin)
        elif op in ADMIN_ONLY:
            for caller, headers in w.callers.items():
                for body in _bodies(w, op, other, catalogue["catalogue"]):
                    refused(w, op, caller, await call(w, op, headers=headers, path=op.path, **body))
        elif _classified(op):
            await _check_case_op(w, op, admin, catalogue["catalogue"])
        else:
            w.fail(op, "-", "no scope check and no public reason (add it to a table in this test)")
    for op in HIDDEN:  # pages outside the documents: public, so nothing of any case in them
        resp = await call(w, op, headers={}, path=fill_path(op.path, {"name": "index.html"}))
        if leaked := mentions(resp.text, [*needles, *secrets, *other.secrets()]):
            w.fail(op, "anonymous", f"a page outside OpenAPI shows case data: {leaked}")
    for op, params in ADMIN_ONLY_PROBES.items():
        for caller, headers in w.callers.items():
            refused(w, op, caller, await call(w, op, headers=headers, path=op.path, params=params), what=f"{params} ")

    assert not w.failures, f"{len(w.failures)} scope-matrix failures:\n" + "\n".join(w.failures)
