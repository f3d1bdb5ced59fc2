"""Webhook delivery: a signed JSON POST over a connection pinned to the address that was checked.

The host is resolved once per attempt (`urlguard.pin`), every address checked, and the request
goes to that IP with the original Host header and, for https, the hostname as TLS SNI and for
the certificate check (httpx's `sni_hostname` request extension). No second lookup happens at
connect time, so DNS rebinding cannot slip an internal address in. Each destination has its own
connection pool, so a TLS connection verified for one name is never reused for another name
that happens to share its address. Redirects are not followed; the answer's body is drained,
never kept.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import OrderedDict
from typing import ClassVar
from urllib.parse import urlsplit

import httpx

from services.notify.channels.base import ChannelEnv, Delivery, Outcome, Sender
from services.notify.signing import (
    DELIVERY_HEADER,
    EVENT_TYPE_HEADER,
    SIGNATURE_HEADER,
    SUBSCRIPTION_HEADER,
    TIMESTAMP_HEADER,
    sign,
)
from services.notify.templates import Message
from services.notify.urlguard import Resolver, Unresolvable, UnsafeUrl, WebhookTarget, parse_url, pin, system_resolver
from shared.auth import Principal
from shared.errors import Forbidden, InvalidInput

MAX_POOLS = 256


async def drain(response: httpx.Response, limit: int) -> None:
    """Read and discard up to `limit` bytes of the answer (a huge one is cut off, its connection closed)."""
    size = 0
    async for chunk in response.aiter_raw():
        size += len(chunk)
        if size > limit:
            return


class WebhookSender:
    """Sends webhooks; one connection pool per destination (scheme://host:port)."""

    def __init__(
        self,
        *,
        allow_loopback: bool,
        timeout: float,
        dns_timeout: float,
        max_response_bytes: int,
        per_destination: int,
        resolver: Resolver | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._allow_loopback = allow_loopback
        self._timeout = timeout
        self._dns_timeout = dns_timeout
        self._max_response_bytes = max_response_bytes
        self._per_destination = per_destination
        self._resolver: Resolver = resolver or system_resolver
        self._transport = transport  # tests inject one; None = a real HTTP transport per destination
        self._verify: ssl.SSLContext | bool = ssl_context or True  # tests trust their own CA; else the system's
        self._clients: OrderedDict[str, httpx.AsyncClient] = OrderedDict()
        self._closing: set[asyncio.Task[None]] = set()

    def _client(self, destination: str) -> httpx.AsyncClient:
        client = self._clients.get(destination)
        if client is not None:
            self._clients.move_to_end(destination)
            return client
        client = httpx.AsyncClient(
            timeout=httpx.Timeout(self._timeout),
            follow_redirects=False,  # a redirect could lead anywhere, past every check above
            trust_env=False,  # no proxy from the environment: it would connect by name, unpinned
            transport=self._transport,
            verify=self._verify,
            limits=httpx.Limits(max_connections=self._per_destination, max_keepalive_connections=self._per_destination),
        )
        self._clients[destination] = client
        if len(self._clients) > MAX_POOLS:
            _, oldest = self._clients.popitem(last=False)
            task = asyncio.create_task(oldest.aclose())
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)
        return client

    async def aclose(self) -> None:
        clients = list(self._clients.values())
        self._clients.clear()
        await asyncio.gather(*(c.aclose() for c in clients), *self._closing, return_exceptions=True)

    async def _pin(self, target: WebhookTarget) -> httpx.URL | Outcome:
        try:
            async with asyncio.timeout(self._dns_timeout):
                ip = await pin(target, resolver=self._resolver, allow_loopback=self._allow_loopback)
        except Unresolvable as exc:
            return Outcome(False, "connect_error", error=str(exc))
        except UnsafeUrl as exc:
            return Outcome(False, "refused", error=str(exc), retry=False)
        except TimeoutError:
            return Outcome(False, "timeout", error=f"{target.host} did not resolve within {self._dns_timeout:g}s")
        return httpx.URL(scheme=target.scheme, host=str(ip), port=target.port, raw_path=target.path.encode())

    async def send(
        self, *, url: str, secret: str, body: bytes, delivery_id: str, subscription_id: str, event_type: str
    ) -> Outcome:
        """POST one event; 2xx is delivered, anything else is retried (except an address we refuse)."""
        try:
            target = parse_url(url, allow_loopback=self._allow_loopback)
        except UnsafeUrl as exc:
            return Outcome(False, "refused", error=str(exc), retry=False)
        pinned = await self._pin(target)
        if isinstance(pinned, Outcome):
            return pinned
        timestamp = int(time.time())
        headers = {
            "Host": target.host_header,
            "Content-Type": "application/json",
            "User-Agent": "lastmeter-notify/1",
            SIGNATURE_HEADER: sign(secret, timestamp, body),
            TIMESTAMP_HEADER: str(timestamp),
            DELIVERY_HEADER: delivery_id,
            EVENT_TYPE_HEADER: event_type,
            SUBSCRIPTION_HEADER: subscription_id,
        }
        extensions = {"sni_hostname": target.host} if target.scheme == "https" and target.literal is None else {}
        client = self._client(target.destination)
        try:
            async with (
                asyncio.timeout(self._timeout),
                client.stream("POST", pinned, content=body, headers=headers, extensions=extensions) as response,
            ):
                await drain(response, self._max_response_bytes)
        except TimeoutError:
            return Outcome(False, "timeout", error=f"no complete answer within {self._timeout:g}s")
        except httpx.TransportError as exc:
            return Outcome(False, "connect_error", error=f"{type(exc).__name__}: {exc}"[:500])
        code = response.status_code
        if 200 <= code < 300:
            return Outcome(True, "delivered", status_code=code)
        if 300 <= code < 400:
            return Outcome(False, "http_error", status_code=code, error=f"HTTP {code}: redirects are not followed")
        return Outcome(False, "http_error", status_code=code, error=f"HTTP {code}")

    async def deliver(self, delivery: Delivery, message: Message | None) -> Outcome:
        """The `Sender` side: POST the event's envelope, signed with the subscription's secret."""
        return await self.send(
            url=delivery.target,
            secret=delivery.secret or "",
            body=delivery.body,
            delivery_id=f"dlv_{delivery.id}",
            subscription_id=delivery.subscription_id,
            event_type=delivery.event_type,
        )


class WebhookChannel:
    """Webhooks: staff keys only, public addresses only, every request signed."""

    name: ClassVar[str] = "webhook"
    confirms: ClassVar[bool] = False  # staff chose the URL and it is checked now and at every send
    signs: ClassVar[bool] = True
    renders: ClassVar[bool] = False

    async def validate_target(self, target: str, *, principal: Principal, secret: str | None, env: ChannelEnv) -> str:
        """Staff only, a public address (resolved now; again, and pinned, at every send), and a secret."""
        if principal.role == "resident" or principal.case_id is not None:
            raise Forbidden(
                "webhooks are for staff keys; a resident token may subscribe by sms or email",
                fields=[{"field": "channel", "message": "webhook needs a staff key"}],
            )
        settings = env.settings
        allow = settings.loopback_allowed
        try:
            parsed = parse_url(target, allow_loopback=allow)
            async with asyncio.timeout(settings.webhook_dns_timeout_seconds):
                await pin(parsed, resolver=env.resolver, allow_loopback=allow)
        except UnsafeUrl as exc:  # Unresolvable included: a subscription is checked against what its name answers now
            raise InvalidInput("target", f"webhook URL refused: {exc}") from None
        except TimeoutError:
            raise InvalidInput(
                "target",
                f"webhook URL refused: its host did not resolve within {settings.webhook_dns_timeout_seconds:g}s",
            ) from None
        if not secret:
            raise InvalidInput("secret", "a webhook needs a signing secret of at least 16 characters")
        return target

    def mask(self, target: str) -> str:
        return target  # staff's own endpoint, not personal data

    def destination(self, target: str) -> str:
        """scheme://host:port, so one slow receiver holds up only its own deliveries."""
        parts = urlsplit(target)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return f"{parts.scheme}://{(parts.hostname or '').lower()}:{port}"

    def sender(self, env: ChannelEnv) -> Sender:
        s = env.settings
        return WebhookSender(
            allow_loopback=s.loopback_allowed,
            timeout=s.webhook_timeout_seconds,
            dns_timeout=s.webhook_dns_timeout_seconds,
            max_response_bytes=s.webhook_max_response_bytes,
            per_destination=s.delivery_per_destination,
            resolver=env.resolver,
        )
