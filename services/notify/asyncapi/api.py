"""`GET /asyncapi.json`: the AsyncAPI 3.0 document of every topic lastmeter writes (docs/asyncapi.yaml)."""

from __future__ import annotations

import functools

import orjson
from fastapi import APIRouter, Response

from shared.asyncapi import document

router = APIRouter(tags=["ops"])


@functools.cache
def _body() -> bytes:
    return orjson.dumps(document())


@router.get(
    "/asyncapi.json",
    summary="AsyncAPI 3.0 document: every topic, message type, payload schema, key and header",
    response_class=Response,
    responses={200: {"content": {"application/json": {}}}},
)
async def asyncapi() -> Response:
    """The document `python -m shared.asyncapi` commits as docs/asyncapi.yaml, as JSON."""
    return Response(_body(), media_type="application/json")
