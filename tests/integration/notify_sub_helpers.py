"""What the notify subscription tests share: credentials made and revoked in the auth schema, a resolver seam, codes."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

import asyncpg

from shared.auth import generate_key, hash_key

PUBLIC = "93.184.216.34"  # a public address: what a name "resolves to" when a test says so


async def resident_token(database_url: str, prefix: str, *, case_id: str, submission_id: str | None = None) -> str:
    """A resident access token for one submission, stored the way intake stores it (hash only)."""
    token = f"rt_{uuid.uuid4().hex}{uuid.uuid4().hex}"
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            f"INSERT INTO {prefix}auth.resident_tokens (token_hash, case_id, submission_id, created_at) "
            "VALUES ($1, $2, $3, $4)",
            hash_key(token),
            case_id,
            submission_id or case_id,
            datetime.now(UTC),
        )
    finally:
        await conn.close()
    return token


async def new_key(database_url: str, prefix: str, *, role: str, scope: str | None) -> str:
    """One more API key (e.g. a second key of the same street office)."""
    key = generate_key(role)  # type: ignore[arg-type]
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            f"INSERT INTO {prefix}auth.api_keys (key_hash, name, role, scope) VALUES ($1, $2, $3, $4)",
            hash_key(key),
            f"test {role}",
            role,
            scope,
        )
    finally:
        await conn.close()
    return key


async def revoke(database_url: str, prefix: str, credential: str) -> None:
    """Revoke an API key or a resident token the way `lastmeter keys revoke` does."""
    conn = await asyncpg.connect(database_url)
    try:
        for table, column in (("api_keys", "key_hash"), ("resident_tokens", "token_hash")):
            await conn.execute(
                f"UPDATE {prefix}auth.{table} SET revoked_at = now() WHERE {column} = $1", hash_key(credential)
            )
    finally:
        await conn.close()


@dataclass
class ScriptedResolver:
    """Answers names from a script: each name's answers in turn (the last repeats). Records every question."""

    answers: dict[str, list[list[str]]]
    asked: list[str] = field(default_factory=list)

    async def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        script = self.answers.get(host)
        if script is None:
            raise OSError(-2, "Name or service not known")
        return script[min(self.asked.count(host) - 1, len(script) - 1)]


def code_in(text: str) -> str:
    """The six-digit confirmation code in a message."""
    found = re.search(r"(?<!\d)(\d{6})(?!\d)", text)
    assert found, text
    return found.group(1)
