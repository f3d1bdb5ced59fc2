"""Pure parts of `lastmeter keys`: expiry parsing, naming a credential, the listing's columns."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.auth import generate_key, generate_resident_token, hash_key
from shared.keys_admin import Credential, KeyAdminError, format_table, id_pattern, parse_expiry

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def test_expiry_as_duration_or_time() -> None:
    assert parse_expiry("90d", now=NOW) == NOW + timedelta(days=90)
    assert parse_expiry("12h", now=NOW) == NOW + timedelta(hours=12)
    assert parse_expiry("30m", now=NOW) == NOW + timedelta(minutes=30)
    assert parse_expiry("2027-01-01T00:00:00", now=NOW) == datetime(2027, 1, 1, tzinfo=UTC)
    assert parse_expiry("2027-01-01T08:00:00+08:00", now=NOW) == datetime(2027, 1, 1, tzinfo=UTC)
    for bad in ("soon", "-1d", "5y", "2020-01-01"):
        with pytest.raises(KeyAdminError, match="--expires"):
            parse_expiry(bad, now=NOW)


def test_a_credential_is_named_by_id_prefix_or_by_itself() -> None:
    key, token = generate_key("admin"), generate_resident_token()
    assert id_pattern(key) == hash_key(key)
    assert id_pattern(token) == hash_key(token)
    assert id_pattern("ABCDEF12") == "abcdef12"
    for bad in ("abc", "xyz123456", "abc%def", ""):
        with pytest.raises(KeyAdminError, match="at least 6 hex characters"):
            id_pattern(bad)


def test_the_listing_shows_an_id_prefix_never_the_key() -> None:
    key = generate_key("department")
    row = Credential(hash_key(key), "api_key", "water dept", "department", "water", NOW, NOW + timedelta(days=1), None)
    table = format_table([row])
    header, line = table.splitlines()
    assert header.split() == ["id", "kind", "name", "role", "scope", "created", "expires", "revoked"]
    assert line.startswith(hash_key(key)[:12] + " ")
    assert hash_key(key) not in table
    assert key not in table
    assert "2026-12-02 12:00" in line
    assert line.rstrip().endswith("-")
