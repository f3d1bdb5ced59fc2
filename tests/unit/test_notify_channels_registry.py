"""A channel registered in CHANNELS works end to end through the registry, touching no other module."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

import orjson
import pydantic
import pytest

from services.notify.audience import Audience
from services.notify.channels import CHANNELS, ChannelEnv, Delivery, Outcome, Sender, channel_of
from services.notify.code_sender import send_code
from services.notify.delivery import DeliveryWorker
from services.notify.settings import NotifySettings
from services.notify.store.deliveries import deliveries_for
from services.notify.subscriptions.api import to_out
from services.notify.subscriptions.models import SubscriptionIn
from services.notify.templates import Message
from services.notify.urlguard import system_resolver
from shared.auth import Principal
from shared.catalogue import Catalogue
from shared.clock import ManualClock
from shared.errors import InvalidInput

NOW = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


class PigeonSender:
    """Keeps what it was asked to carry."""

    carried: ClassVar[list[tuple[Delivery, Message | None]]] = []

    async def deliver(self, delivery: Delivery, message: Message | None) -> Outcome:
        self.carried.append((delivery, message))
        return Outcome(True, "delivered")

    async def aclose(self) -> None:
        return None


class PigeonChannel:
    """A made-up channel: loft numbers as targets, confirmed with a code, rendered text."""

    name: ClassVar[str] = "pigeon"
    confirms: ClassVar[bool] = True
    signs: ClassVar[bool] = False
    renders: ClassVar[bool] = True

    async def validate_target(self, target: str, *, principal: Principal, secret: str | None, env: ChannelEnv) -> str:
        if not target.startswith("loft-"):
            raise InvalidInput("target", "not a loft")
        return target.lower()

    def mask(self, target: str) -> str:
        return "loft-***"

    def destination(self, target: str) -> str:
        return f"pigeon:{target}"

    def sender(self, env: ChannelEnv) -> Sender:
        return PigeonSender()


@pytest.fixture
def pigeon(monkeypatch: pytest.MonkeyPatch) -> PigeonChannel:
    channel = PigeonChannel()
    monkeypatch.setitem(CHANNELS, channel.name, channel)
    PigeonSender.carried = []
    return channel


def _env() -> ChannelEnv:
    async def no_sms(**_: Any) -> None:
        raise AssertionError("the pigeon channel sent an SMS")

    return ChannelEnv(settings=NotifySettings(), resolver=system_resolver, record_sms=no_sms, now=lambda: NOW)


def test_an_unregistered_channel_is_refused_naming_the_valid_ones() -> None:
    with pytest.raises(pydantic.ValidationError, match="unknown channel 'pigeon'; valid: webhook, email, sms"):
        SubscriptionIn(channel="pigeon", target="loft-7")
    with pytest.raises(InvalidInput) as refused:
        channel_of("pigeon")
    assert refused.value.field == "channel"


async def test_a_registered_channel_is_subscribed_to_queued_and_sent(
    pigeon: PigeonChannel, catalogue: Catalogue
) -> None:
    body = SubscriptionIn(channel="pigeon", target="loft-7")
    channel = channel_of(body.channel)
    target = await channel.validate_target(body.target, principal=Principal(role="admin"), secret=None, env=_env())
    assert target == "loft-7"

    subscription = {
        "id": "sub_p",
        "owner_role": "admin",
        "owner_scope": None,
        "owner_case": None,
        "owner_name": "",
        "channel": "pigeon",
        "target": target,
        "event_types": [],
        "scope_kind": "all",
        "scope_code": "",
        "language": "en",
        "active": True,
        "confirmed_at": None,
        "created_at": NOW,
        "description": None,
    }
    shown = to_out(subscription)
    assert (shown.channel, shown.target, shown.secret_set) == ("pigeon", "loft-***", False)

    audience = Audience(case_id="c1", street="wanxing")
    [queued] = deliveries_for(
        [subscription], audience=audience, event_type="lastmeter.case.signed", event_id="e1", body="{}"
    )
    assert (queued.channel, queued.destination) == ("pigeon", "pigeon:loft-7")

    worker = DeliveryWorker(
        pool=None,
        settings=NotifySettings(),
        clock=ManualClock(NOW),
        catalogue=lambda: catalogue,
        active_key_ids=lambda _: _no_keys(),
        env=_env(),
    )
    envelope = {"type": "lastmeter.case.signed", "data": {"case_id": "c1", "signed_at": NOW.isoformat()}}
    row = {
        "id": 9,
        "subscription_id": "sub_p",
        "channel": "pigeon",
        "target": "loft-7",
        "secret": None,
        "event_type": "lastmeter.case.signed",
        "case_id": "c1",
        "language": "en",
        "envelope": orjson.dumps(envelope).decode(),
    }
    outcome = await worker._send(row)
    assert outcome.ok
    [(delivery, message)] = PigeonSender.carried
    assert (delivery.id, delivery.target, delivery.event_type) == (9, "loft-7", "lastmeter.case.signed")
    assert message is not None
    assert message.subject


async def test_a_confirming_channel_gets_its_code_through_the_registry(pigeon: PigeonChannel) -> None:
    outcome = await send_code(
        env=_env(), channel="pigeon", subscription_id="sub_p", target="loft-7", code="123456", language="en"
    )
    assert outcome.ok
    [(delivery, message)] = PigeonSender.carried
    assert delivery.id is None
    assert message is not None
    assert "123456" in message.subject + message.body


async def _no_keys() -> set[str]:
    return set()
