"""Settings from secret files (Docker secrets, Kubernetes secret volumes): LASTMETER_SECRETS_DIR."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from shared.settings import ServiceSettings

GOOD = secrets.token_urlsafe(32)


def test_the_token_secret_and_database_url_come_from_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LASTMETER_TOKEN_SECRET", raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    (tmp_path / "lastmeter_token_secret").write_text(GOOD + "\n")  # as `echo` writes it
    (tmp_path / "database_url").write_text("postgresql://postgres:pw@postgres:5432/postgres\n")
    monkeypatch.setenv("LASTMETER_SECRETS_DIR", str(tmp_path))
    settings = ServiceSettings(env="prod", host="0.0.0.0")
    assert settings.token_secret.get_secret_value() == GOOD
    assert settings.database_url == "postgresql://postgres:pw@postgres:5432/postgres"


def test_the_environment_wins_over_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "lastmeter_token_secret").write_text(secrets.token_urlsafe(32))
    monkeypatch.setenv("LASTMETER_SECRETS_DIR", str(tmp_path))
    monkeypatch.setenv("LASTMETER_TOKEN_SECRET", GOOD)
    assert ServiceSettings(env="prod", host="0.0.0.0").token_secret.get_secret_value() == GOOD


def test_without_a_file_prod_still_refuses_to_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Secrets fail closed: an empty secrets directory is no secret."""
    monkeypatch.delenv("LASTMETER_TOKEN_SECRET", raising=False)
    monkeypatch.setenv("LASTMETER_SECRETS_DIR", str(tmp_path))
    with pytest.raises(ValueError, match="LASTMETER_TOKEN_SECRET"):
        ServiceSettings(env="prod", host="0.0.0.0")
