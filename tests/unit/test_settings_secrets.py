"""The token secret fails closed: only env=dev on a loopback host may run without a real one."""

from __future__ import annotations

import secrets

import pytest
from pydantic import ValidationError

from shared.settings import DEV_TOKEN_SECRET, ServiceSettings, is_loopback

GOOD = secrets.token_urlsafe(32)


@pytest.mark.parametrize(
    ("env", "host"),
    [("test", "127.0.0.1"), ("prod", "127.0.0.1"), ("prod", "0.0.0.0"), ("dev", "0.0.0.0"), ("dev", "10.1.2.3")],
)
@pytest.mark.parametrize("secret", [None, "", "   ", DEV_TOKEN_SECRET, "x" * 31, "短" * 10])
def test_weak_secrets_refuse_to_start_outside_dev_on_loopback(
    env: str, host: str, secret: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LASTMETER_TOKEN_SECRET", raising=False)
    kwargs = {} if secret is None else {"token_secret": secret}
    with pytest.raises(ValidationError) as caught:
        ServiceSettings(env=env, host=host, **kwargs)
    assert "LASTMETER_TOKEN_SECRET" in str(caught.value)


def test_the_environment_variable_is_what_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LASTMETER_ENV", "prod")
    monkeypatch.setenv("LASTMETER_TOKEN_SECRET", "short")
    with pytest.raises(ValidationError, match="LASTMETER_TOKEN_SECRET is shorter than 32 bytes"):
        ServiceSettings()
    monkeypatch.delenv("LASTMETER_TOKEN_SECRET")
    with pytest.raises(ValidationError, match="LASTMETER_TOKEN_SECRET is the public dev placeholder"):
        ServiceSettings()
    monkeypatch.setenv("LASTMETER_TOKEN_SECRET", GOOD)
    assert ServiceSettings().token_secret.get_secret_value() == GOOD


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_dev_on_loopback_may_use_the_placeholder(host: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LASTMETER_TOKEN_SECRET", raising=False)
    assert ServiceSettings(env="dev", host=host).token_secret.get_secret_value() == DEV_TOKEN_SECRET


def test_a_long_random_secret_starts_everywhere() -> None:
    for env in ("dev", "test", "prod"):
        assert ServiceSettings(env=env, host="0.0.0.0", token_secret=GOOD).env == env


def test_loopback() -> None:
    assert all(is_loopback(h) for h in ("127.0.0.1", "::1", "[::1]", "localhost"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "example.org", "192.168.1.2"))
