"""The stream hub ends streams whose key is no longer valid or whose session ran out, and caps streams per key."""

from __future__ import annotations

from collections.abc import Collection

import pytest

from services.notify.stream.hub import StreamHub, TooManyStreams
from shared.auth import Principal


def _hub() -> StreamHub:
    return StreamHub(pool=None, dsn="", channel="unused")  # type: ignore[arg-type]  # no I/O in these checks


async def test_revoked_keys_and_ended_sessions_lose_their_streams_others_keep_theirs() -> None:
    hub = _hub()
    alive = hub.subscribe(Principal(role="admin", key_id="alive"))
    revoked = hub.subscribe(Principal(role="admin", key_id="revoked"))
    session_over = hub.subscribe(Principal(role="admin", key_id="alive"), not_after=1000.0)
    session_on = hub.subscribe(Principal(role="admin", key_id="alive"), not_after=5000.0)
    unknown = hub.subscribe(Principal(role="admin"))  # a credential we cannot re-check is not kept
    asked: list[set[str]] = []

    async def active(key_ids: Collection[str]) -> set[str]:
        asked.append(set(key_ids))
        return {"alive"}

    assert await hub.check_keys(active, now=2000.0) == 3
    assert asked == [{"alive", "revoked"}]
    assert (revoked.ended, session_over.ended, unknown.ended) == ("revoked", "expired", "revoked")
    assert alive.ended is None
    assert session_on.ended is None
    for ended in (revoked, session_over, unknown):
        assert ended.queue.get_nowait() is None  # the response wakes and closes
    assert hub.clients == 2
    hub.unsubscribe(session_over)  # the ended response's own clean-up changes nothing more
    assert hub.streams_of("alive") == 2


async def test_a_full_queue_still_gets_the_end_marker() -> None:
    hub = _hub()
    sub = hub.subscribe(Principal(role="admin", key_id="k"), queue_size=1)
    sub.queue.put_nowait(None)  # stands for an unread frame

    async def none(_: Collection[str]) -> set[str]:
        return set()

    await hub.check_keys(none, now=0.0)
    assert sub.queue.get_nowait() is None
    assert sub.ended == "revoked"


def test_a_key_holds_at_most_its_cap_of_streams() -> None:
    hub = _hub()
    first = [hub.subscribe(Principal(role="admin", key_id="k"), max_per_key=2) for _ in range(2)]
    with pytest.raises(TooManyStreams):
        hub.subscribe(Principal(role="admin", key_id="k"), max_per_key=2)
    hub.subscribe(Principal(role="admin", key_id="other"), max_per_key=2)  # per key, not overall
    hub.unsubscribe(first[0])
    hub.subscribe(Principal(role="admin", key_id="k"), max_per_key=2)  # a closed stream frees its place


async def test_a_logged_out_sessions_streams_end_the_keys_other_streams_stay() -> None:
    hub = _hub()
    by_key = hub.subscribe(Principal(role="admin", key_id="k"))
    logged_out = hub.subscribe(Principal(role="admin", key_id="k"), session_key="s-out", not_after=5000.0)
    still_in = hub.subscribe(Principal(role="admin", key_id="k"), session_key="s-in", not_after=5000.0)
    asked: list[set[str]] = []

    async def active(ids: Collection[str]) -> set[str]:
        asked.append(set(ids))
        return {"k", "s-in"}  # the key lives; one of its sessions was ended

    assert await hub.check_keys(active, now=2000.0) == 1
    assert asked == [{"k", "s-out", "s-in"}]  # key ids and session ids in the one query
    assert logged_out.ended == "expired"  # the stream says its session has ended
    assert logged_out.queue.get_nowait() is None
    assert by_key.ended is None
    assert still_in.ended is None
