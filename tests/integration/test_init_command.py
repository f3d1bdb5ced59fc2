"""`lastmeter init`: demo keys only outside prod and never next to the package; in prod one admin key, once."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from shared import cli
from shared.auth import generate_key, hash_key
from tests.conftest import TEST_TOKEN_SECRET


@pytest.fixture
def prod_env(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], tmp_path: Path) -> Path:
    """This test's broker, database and prefixes, LASTMETER_ENV=prod; returns the (unused) home."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("LASTMETER_ENV", "prod")
    monkeypatch.delenv("LASTMETER_ADMIN_KEY_FILE", raising=False)
    monkeypatch.setattr(cli, "HOME", tmp_path / "home")
    return tmp_path / "home"


async def _keys(database_url: str, prefix: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(database_url)
    try:
        return await conn.fetch(f"SELECT key_hash, role, revoked_at FROM {prefix}auth.api_keys ORDER BY created_at")
    finally:
        await conn.close()


async def _init() -> int:
    """`lastmeter init` in this process (main() runs its own event loop, so off this one)."""

    return await asyncio.to_thread(cli.main, ["init"])


async def test_prod_creates_one_admin_key_printed_once_and_no_demo_keys(
    prod_env: Path, database_url: str, prefix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await _init() == 0
    first = capsys.readouterr().out
    keys = await _keys(database_url, prefix)
    assert [k["role"] for k in keys] == ["admin"], "prod must get no demo keys"
    printed = [word for word in first.split() if word.startswith("lm_admin_")]
    assert len(printed) == 1
    assert hash_key(printed[0]) == keys[0]["key_hash"]
    assert not await asyncio.to_thread(prod_env.exists), "no demo-keys file in prod"

    assert await _init() == 0  # rerun: idempotent, nothing new, nothing printed
    again = capsys.readouterr().out
    assert "lm_admin_" not in again
    assert "exists already" in again
    assert len(await _keys(database_url, prefix)) == 1


async def test_prod_registers_the_admin_key_from_a_secret_file(
    prod_env: Path,
    database_url: str,
    prefix: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    key = generate_key("admin")
    secret = tmp_path / "admin_key"
    secret.write_text(key + "\n")
    monkeypatch.setenv("LASTMETER_ADMIN_KEY_FILE", str(secret))
    assert await _init() == 0
    assert await _init() == 0
    out = capsys.readouterr().out
    assert "lm_admin_" not in out, "a key from a secret is never printed"
    keys = await _keys(database_url, prefix)
    assert [(k["key_hash"], k["role"]) for k in keys] == [(hash_key(key), "admin")]

    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(f"UPDATE {prefix}auth.api_keys SET revoked_at = now()")
    finally:
        await conn.close()
    assert await _init() == 2, "a revoked key in the secret must not come back to life"
    assert "revoked" in capsys.readouterr().err


@pytest.mark.parametrize("content", ["", "short", "two words but long enough to pass the length check"])
async def test_prod_refuses_an_unfit_admin_key_file(
    prod_env: Path,
    database_url: str,
    prefix: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    content: str,
) -> None:
    secret = tmp_path / "admin_key"
    secret.write_text(content)
    monkeypatch.setenv("LASTMETER_ADMIN_KEY_FILE", str(secret))
    assert await _init() == 2
    assert "admin key" in capsys.readouterr().err
    assert await _keys(database_url, prefix) == []
    monkeypatch.setenv("LASTMETER_ADMIN_KEY_FILE", str(tmp_path / "missing"))
    assert await _init() == 2
    assert "cannot read" in capsys.readouterr().err


def test_dev_init_writes_demo_keys_under_the_working_directory(env: dict[str, str], tmp_path: Path) -> None:
    """The image's case: the package directory is not writable, the working directory (or LASTMETER_HOME) is."""
    run_env = {k: v for k, v in os.environ.items() if not k.startswith("LASTMETER_")}
    run_env.update(env)
    run_env["LASTMETER_ENV"] = "dev"
    done = subprocess.run(
        [sys.executable, "-m", "shared.cli", "init"],
        cwd=tmp_path,
        env=run_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    written = tmp_path / ".lastmeter" / "demo-keys.json"
    assert written.is_file()
    assert str(written) in done.stdout
    assert oct(written.stat().st_mode & 0o777) == "0o600"
    assert TEST_TOKEN_SECRET not in written.read_text()
