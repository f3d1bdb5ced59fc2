"""What the scope matrix needs besides its tables: operations from OpenAPI, example bodies, an SSE peek, PII checks."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import httpx
from fastapi import FastAPI
from starlette.routing import Mount, Route

OUT_OF_SCOPE = frozenset({401, 403, 404})
METHODS = ("get", "put", "post", "delete", "patch")


@dataclass(frozen=True, order=True)
class Op:
    """One operation of one service's OpenAPI document."""

    service: str
    method: str
    path: str

    def __str__(self) -> str:
        return f"{self.service} {self.method} {self.path}"


def operations(service: str, spec: Mapping[str, Any]) -> dict[Op, dict[str, Any]]:
    """Every (method, path) of an OpenAPI document with its operation object."""
    return {
        Op(service, method.upper(), path): op
        for path, item in spec["paths"].items()
        for method, op in item.items()
        if method in METHODS
    }


def _served(routes: Iterable[Any], prefix: str = "") -> Iterator[tuple[str, bool, set[str]]]:
    """(path, in schema, methods) of every route an app serves, however FastAPI nests included routers."""
    for route in routes:
        contexts = getattr(route, "effective_route_contexts", None)
        if contexts is not None:  # FastAPI >= 0.16x keeps included routers as lazy branches
            for ctx in contexts():
                methods = getattr(ctx, "methods", None) or getattr(ctx.original_route, "methods", None) or set()
                yield prefix + ctx.path, bool(ctx.include_in_schema), set(methods)
        elif isinstance(route, Mount):
            yield from _served(route.routes, prefix + route.path)
        elif isinstance(route, Route):
            yield prefix + route.path, bool(getattr(route, "include_in_schema", True)), set(route.methods or ())


def hidden_routes(service: str, app: FastAPI) -> set[Op]:
    """Routes the app serves that its OpenAPI document does not list (docs, static pages)."""
    return {
        Op(service, method, path)
        for path, in_schema, methods in _served(app.routes)
        if not in_schema
        for method in methods - {"HEAD"}
    }


def path_params(path: str) -> list[str]:
    return re.findall(r"{([^}]+)}", path)


def fill_path(path: str, values: Mapping[str, str]) -> str:
    """The path with each `{name}` replaced; KeyError names a parameter nobody fills."""
    return re.sub(r"{([^}]+)}", lambda m: values[m.group(1)], path)


def _resolve(schema: Mapping[str, Any], spec: Mapping[str, Any]) -> Mapping[str, Any]:
    while "$ref" in schema:
        node: Any = spec
        for part in schema["$ref"].lstrip("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def example(schema: Mapping[str, Any], spec: Mapping[str, Any]) -> Any:
    """A minimal value that satisfies a JSON schema as FastAPI writes them (required fields only)."""
    schema = _resolve(schema, spec)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = [s for s in schema[key] if _resolve(s, spec).get("type") != "null"]
            return example(options[0], spec)
    if "allOf" in schema:
        return example(schema["allOf"][0], spec)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        props = schema.get("properties", {})
        return {name: example(props[name], spec) for name in schema.get("required", [])}
    if kind == "array":
        return [example(schema.get("items", {}), spec) for _ in range(schema.get("minItems", 0))]
    if kind == "integer":
        return int(schema.get("minimum", 1))
    if kind == "number":
        return float(schema.get("minimum", 1))
    if kind == "boolean":
        return False
    fmt = schema.get("format")
    if fmt == "date":
        return datetime.now(UTC).date().isoformat()
    if fmt == "date-time":
        return datetime.now(UTC).isoformat()
    if fmt == "email":
        return "scope-matrix@example.org"
    return "x" * max(1, int(schema.get("minLength", 1)))


def body_example(op: Mapping[str, Any], spec: Mapping[str, Any]) -> dict[str, Any]:
    """httpx keyword arguments for a minimal valid JSON body of an operation (none if it takes none)."""
    content = op.get("requestBody", {}).get("content", {})
    if "application/json" in content:
        return {"json": example(content["application/json"].get("schema", {}), spec)}
    return {}


async def peek(
    app: FastAPI, path: str, *, params: Mapping[str, str], headers: Mapping[str, str], seconds: float
) -> tuple[int, bytes]:
    """GET an endless response (SSE) straight through ASGI: its status and what it sent in `seconds`."""
    disconnected = asyncio.Event()
    sent_request = False
    status = 0
    body = bytearray()
    started = asyncio.Event()

    async def receive() -> dict[str, Any]:
        nonlocal sent_request
        if not sent_request:
            sent_request = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await disconnected.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
            started.set()
        elif message["type"] == "http.response.body":
            body.extend(message.get("body", b""))

    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": urlencode(params).encode(),
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 40000),
        "server": ("test", 80),
        "state": {},
    }
    task = asyncio.create_task(app(scope, receive, send))
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.shield(task), seconds)
    disconnected.set()
    try:
        await asyncio.wait_for(task, 5)
    except TimeoutError:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    return status, bytes(body)


@asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Run an app's lifespan and give an HTTP client to it (as tests.helpers.serving does)."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=30) as client:
            yield client


def decoded(resp: httpx.Response) -> Any:
    """A response's JSON, or its text when it is not JSON."""
    try:
        return resp.json()
    except ValueError:
        return resp.text


PII_KEYS = frozenset({"address", "phone", "email", "contact", "first_name", "last_name", "device_id", "account_id"})
COORD_KEYS = frozenset({"lat", "long", "lon", "latitude", "longitude"})


def _walk(value: Any, path: str = "") -> Iterator[tuple[str, str, Any]]:
    if isinstance(value, Mapping):
        for k, v in value.items():
            yield path, str(k), v
            yield from _walk(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _walk(v, f"{path}[{i}]")


def _decimals(value: Any) -> int:
    text = str(value)
    return len(text.split(".", 1)[1]) if "." in text else 0


def personal_data(body: Any, raw: str, secrets: Iterable[str], points: Iterable[tuple[float, float]] = ()) -> list[str]:
    """What in a public response is personal: contact keys with values, a case's exact spot, known private text.

    A coordinate counts when it has more than 3 decimals (finer than ~100 m) and lies within 0.0001° (~10 m) of a
    case's own location: the catalogue's community centres are public geography, not a home.
    """
    near = [v for p in points for v in p]
    found = []
    values = [(f"{w}.{k}", k, v) for w, k, v in _walk(body)]
    values += [(f"<{k}>", k, v) for k, v in re.findall(r"<(lat|long)>([0-9.\-]+)</\1>", raw)]  # Open311 XML
    for where, key, value in values:
        if key.lower() in PII_KEYS and value not in (None, "", [], {}):
            found.append(f"{where}={value!r}")
        if key.lower() in COORD_KEYS and _exact_and_near(value, near):
            found.append(f"{where}={value!r} (a case's location, finer than 3 decimals)")
    found += [f"private text {s!r}" for s in secrets if s and s in raw]
    return found


def _exact_and_near(value: Any, near: list[float]) -> bool:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return False
    return _decimals(value) > 3 and any(abs(number - n) < 0.0001 for n in near)


def mentions(raw: str, needles: Iterable[str]) -> list[str]:
    """Which of these identifiers or texts a response contains."""
    return [n for n in needles if n and n in raw]


def normalised(value: Any) -> str:
    """A stable text of a response body, to compare one caller's view before and after."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
