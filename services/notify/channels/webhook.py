"""Webhook delivery: a signed JSON POST with a bounded timeout and a bounded read of the answer."""

from __future__ import annotations

import asyncio
import time

import httpx

from services.notify.channels import Outcome
from services.notify.signing import (
    DELIVERY_HEADER,
    EVENT_TYPE_HEADER,
    SIGNATURE_HEADER,
    SUBSCRIPTION_HEADER,
    TIMESTAMP_HEADER,
    sign,
)
from services.notify.urlguard import UnsafeUrl, check_resolved


async def read_bounded(response: httpx.Response, limit: int) -> tuple[bytes, bool]:
    """At most `limit` bytes of the body, and whether there was more (a huge answer is not read)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_raw():
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            return b"".join(chunks)[:limit], True
    return b"".join(chunks), False


async def send_webhook(
    client: httpx.AsyncClient,
    *,
    url: str,
    secret: str,
    body: bytes,
    delivery_id: str,
    subscription_id: str,
    event_type: str,
    timeout: float,  # noqa: ASYNC109 - the limit per attempt comes from settings
    max_response_bytes: int,
    allow_loopback: bool,
) -> Outcome:
    """POST one event; 2xx is delivered, anything else is retried (except a URL we refuse)."""
    try:
        await check_resolved(url, allow_loopback=allow_loopback)
    except UnsafeUrl as exc:
        return Outcome(False, "refused", error=str(exc), retry=False)
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "lastmeter-notify/1",
        SIGNATURE_HEADER: sign(secret, timestamp, body),
        TIMESTAMP_HEADER: str(timestamp),
        DELIVERY_HEADER: delivery_id,
        EVENT_TYPE_HEADER: event_type,
        SUBSCRIPTION_HEADER: subscription_id,
    }
    try:
        async with asyncio.timeout(timeout), client.stream("POST", url, content=body, headers=headers) as response:
            raw, truncated = await read_bounded(response, max_response_bytes)
    except TimeoutError:
        return Outcome(False, "timeout", error=f"no complete answer within {timeout:g}s")
    except httpx.TransportError as exc:
        return Outcome(False, "connect_error", error=f"{type(exc).__name__}: {exc}"[:500])
    excerpt = raw[:500].decode(errors="replace") + (" …[truncated]" if truncated else "")
    if 200 <= response.status_code < 300:
        return Outcome(True, "delivered", status_code=response.status_code, excerpt=excerpt)
    return Outcome(
        False, "http_error", status_code=response.status_code, error=f"HTTP {response.status_code}", excerpt=excerpt
    )
