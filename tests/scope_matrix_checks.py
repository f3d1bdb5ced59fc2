"""The scope matrix's world and checks: the services, the cases, the callers, one check per kind of operation."""

from __future__ import annotations

import itertools
import json
import socket
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import FastAPI

from tests.helpers import eventually
from tests.scope_matrix_support import (
    OUT_OF_SCOPE,
    Op,
    decoded,
    fill_path,
    mentions,
    normalised,
    path_params,
    peek,
    personal_data,
)

# The header a cookie-authenticated request must carry on unsafe methods (shared/session.py).
CSRF_HEADER = "X-Lastmeter-CSRF"
# Callers outside the scope of the other resident's case too (its department and street are in scope of it).
OUTSIDE_OTHER = frozenset({"anonymous", "a volunteer team not assigned"})


@dataclass
class Case:
    """A case the matrix targets, with its owners and the private text it must never leak."""

    case_id: str
    token: str
    need: dict[str, Any]
    street: str = ""
    assignee: dict[str, str] = field(default_factory=dict)

    def secrets(self) -> list[str]:
        reporter = self.need.get("reporter", {})
        return [self.need["description"], self.need.get("address", ""), *reporter.values()]


@dataclass
class World:
    """The running services, their documents, the callers and the cases."""

    apps: dict[str, FastAPI]
    clients: dict[str, httpx.AsyncClient]
    specs: dict[str, dict[str, Any]] = field(default_factory=dict)
    cases: dict[str, Case] = field(default_factory=dict)
    callers: dict[str, dict[str, str]] = field(default_factory=dict)
    objects: dict[str, str] = field(default_factory=dict)
    baseline: dict[tuple[Op, int, str], tuple[int, str]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    def points(self) -> list[tuple[float, float]]:
        """Where the cases are, exactly."""
        located = [c.need["location"] for c in self.cases.values() if "location" in c.need]
        return [(p["lat"], p["lon"]) for p in located]

    def fail(self, op: Op, caller: str, message: str) -> None:
        self.failures.append(f"{op} as {caller}: {message}")


async def submit(w: World, need: dict[str, Any]) -> Case:
    """Submit a need anonymously, as a resident would."""
    resp = await w.clients["intake"].post("/v1/needs", json=need)
    assert resp.status_code == 202, resp.text
    body = resp.json()
    return Case(case_id=body["case_id"], token=body["access_token"], need=need)


async def settled(w: World, case: Case, admin: dict[str, str]) -> None:
    """Wait until every service knows the case as routed, then note its owners."""
    c = w.clients

    async def routed() -> dict[str, Any] | None:
        resp = await c["routing"].get(f"/v1/cases/{case.case_id}", headers=admin)
        return resp.json() if resp.status_code == 200 and resp.json()["assignee"] else None

    view = await eventually(routed, timeout=30)
    case.street, case.assignee = view["street"], view["assignee"]

    async def everywhere() -> bool:
        intake = await c["intake"].get(f"/v1/cases/{case.case_id}", headers=admin)
        sla = await c["sla"].get(f"/v1/cases/{case.case_id}/deadlines", headers=admin)
        notify = await c["notify"].get(f"/v1/cases/{case.case_id}", headers=admin)
        return (
            intake.status_code == 200
            and intake.json()["status"] == "routed"
            and sla.status_code == 200
            and len(sla.json()) >= 3
            and notify.status_code == 200
            and _all_clocks(notify.json())
        )

    await eventually(everywhere, timeout=30)


def _all_clocks(view: dict[str, Any]) -> bool:
    """Notify projected the case's three deadlines (later ones would change what its owners see)."""
    deadlines = view.get("deadlines")
    if isinstance(deadlines, str):
        deadlines = json.loads(deadlines)
    if isinstance(deadlines, dict | list):
        return len(deadlines) >= 3
    return view.get("sla_state") is not None


async def session_of(w: World, key: str) -> dict[str, str]:
    """Headers that authenticate by the dashboard's session cookie for this key (and pass its CSRF check)."""
    transport = httpx.ASGITransport(app=w.apps["notify"])
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        resp = await client.post("/v1/session", json={"key": key}, headers={CSRF_HEADER: "1"})
    assert resp.status_code == 200, resp.text
    cookie = "; ".join(f"{name}={value}" for name, value in resp.cookies.items())
    assert cookie, resp.headers
    return {"Cookie": cookie, CSRF_HEADER: "1"}


def closed_port() -> int:
    """A local port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def call(
    w: World, op: Op, *, headers: dict[str, str], path: str, params: dict[str, str] | None = None, **kw: Any
) -> httpx.Response:
    """Send one operation to its service, with only the credentials in `headers` (no cookie jar)."""
    w.clients[op.service].cookies.clear()
    return await w.clients[op.service].request(op.method, path, headers=headers, params=params, **kw)


def fillers(w: World, case: Case) -> dict[str, str]:
    """A value for every path parameter: the case's own ids, owned objects' ids, fixed codes."""
    return {
        "case_id": case.case_id,
        "service_request_id": case.case_id,
        "format_": "json",
        "service_code": case.need["category"],
        "token": "scope-matrix-unknown-token",
        **w.objects,
    }


def refused(w: World, op: Op, caller: str, resp: httpx.Response, *, what: str = "") -> None:
    """Record a failure unless the call was refused (401, 403 or 404)."""
    if resp.status_code not in OUT_OF_SCOPE:
        w.fail(op, caller, f"{what}answered {resp.status_code} (want 401/403/404): {resp.text[:200]}")


def survey_refused(w: World, op: Op, caller: str, resp: httpx.Response) -> None:
    """A survey row for another street must not become a case."""
    if resp.status_code in OUT_OF_SCOPE:
        return
    rows = resp.json().get("rows", []) if resp.status_code == 200 else None
    accepted = [r for r in rows or [] if r.get("result") != "rejected"]
    if rows is None or accepted:
        w.fail(op, caller, f"answered {resp.status_code} and accepted rows: {resp.text[:200]}")


async def take_baseline(w: World, filtered: dict[Op, list[dict[str, str]]]) -> None:
    """What each caller sees of each scoped collection before the cases exist."""
    for op, variants in filtered.items():
        for i, params in enumerate(variants):
            for caller, headers in w.callers.items():
                resp = await call(w, op, headers=headers, path=op.path, params=params)
                w.baseline[(op, i, caller)] = (resp.status_code, normalised(decoded(resp)))


async def check_filtered(w: World, op: Op, variants: list[dict[str, str]], needles: list[str]) -> None:
    """Refused, or unchanged since the baseline and silent about the cases."""
    for i, params in enumerate(variants):
        for caller, headers in w.callers.items():
            resp = await call(w, op, headers=headers, path=op.path, params=params)
            if resp.status_code in OUT_OF_SCOPE:
                continue
            if resp.status_code != 200:
                w.fail(op, caller, f"{params} answered {resp.status_code}: {resp.text[:200]}")
            elif leaked := mentions(resp.text, needles):
                w.fail(op, caller, f"{params} shows the out-of-scope cases: {leaked}")
            elif w.baseline[(op, i, caller)] != (200, normalised(decoded(resp))):
                w.fail(op, caller, f"{params} changed when out-of-scope cases appeared: {resp.text[:300]}")
        # The same collection narrowed to one case by a query parameter, where it takes one.
        names = {p["name"] for p in w.specs[op.service]["paths"][op.path][op.method.lower()].get("parameters", [])}
        if "case_id" in names and not params:
            for case in w.cases.values():
                for caller, headers in w.callers.items():
                    resp = await call(w, op, headers=headers, path=op.path, params={"case_id": case.case_id})
                    if resp.status_code not in OUT_OF_SCOPE and (leaked := mentions(resp.text, needles)):
                        w.fail(op, caller, f"?case_id= shows the case: {leaked}")


async def check_stream(w: World, op: Op, needles: list[str], admin: dict[str, str]) -> None:
    """Refused, or a stream (replayed from the start) without an event of the cases."""
    # The replay holds the cases for someone in scope, so an empty stream below means refused, not late.
    _, body = await peek(w.apps[op.service], op.path, params={}, headers={**admin, "Last-Event-ID": "0"}, seconds=1.0)
    if missing := [c.case_id for c in w.cases.values() if c.case_id not in body.decode(errors="replace")]:
        w.fail(op, "admin", f"in-scope control: the replay lacks cases {missing}")
    for case in (None, *w.cases.values()):
        params = {"case_id": case.case_id} if case else {}
        for caller, headers in w.callers.items():
            status, body = await peek(
                w.apps[op.service], op.path, params=params, headers={**headers, "Last-Event-ID": "0"}, seconds=0.7
            )
            text = body.decode(errors="replace")
            if status in OUT_OF_SCOPE:
                continue
            if status != 200:
                w.fail(op, caller, f"{params} answered {status}: {text[:200]}")
            elif leaked := mentions(text, needles):
                w.fail(op, caller, f"{params} streamed the out-of-scope cases: {leaked}")


async def check_public(w: World, op: Op, secrets: list[str], other: Case, *, describes: bool = False) -> None:
    """A public read, in each format, shows nobody personal data of a case outside their scope.

    Anonymous callers get the strict check (no contact keys with values at all); a key sees the public
    view of the matrix's cases, but may see more of `other` where it is in that case's scope. A document
    that `describes` the API (field names such as `address` in a schema) gets only the content checks.
    """
    if op.method != "GET":
        return  # public writes (submitting) are not called: they would add cases to the matrix
    formats = ("json", "xml") if "format_" in path_params(op.path) else ("json",)
    for case in w.cases.values():
        paths = [fill_path(op.path, {**fillers(w, case), "format_": f}) for f in formats]
        for (caller, headers), path in itertools.product(w.callers.items(), paths):
            resp = await call(w, op, headers=headers, path=path)
            if resp.status_code >= 500:
                w.fail(op, caller, f"public read answered {resp.status_code}")
                continue
            strict = caller == "anonymous" and not describes
            body = decoded(resp) if strict else None
            mine = [*secrets, *(other.secrets() if caller in OUTSIDE_OTHER else ())]
            if found := personal_data(body, resp.text, mine, w.points()):
                w.fail(op, caller, f"public read {path} shows personal data: {found[:5]}")
        if set(path_params(op.path)) <= {"format_"}:
            break  # a list: once is enough
