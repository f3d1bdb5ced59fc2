"""Confirmation codes for SMS and e-mail targets (pure): made, stored only as an HMAC, checked in constant time.

A target gets nothing but its code until the code comes back, so nobody can subscribe a
stranger's phone or mailbox. Codes are six digits; the HMAC is keyed with the deployment's token
secret so a copy of the database alone does not give the codes away by brute force.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

CODE_DIGITS = 6
# Between two codes for one subscription (a resend), so a code cannot be re-requested in a loop.
RESEND_COOLDOWN_SECONDS = 60


def generate_code() -> str:
    """A random six-digit code."""
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def hash_code(secret: str, subscription_id: str, code: str) -> str:
    """The stored form of a subscription's code."""
    return hmac.new(secret.encode(), f"code:{subscription_id}:{code}".encode(), hashlib.sha256).hexdigest()


def hash_target(secret: str, channel: str, target: str) -> str:
    """A target's key for counting codes sent to it, without storing the phone number or address again."""
    return hmac.new(secret.encode(), f"target:{channel}:{target.lower()}".encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Pending:
    """A subscription's confirmation state, as stored."""

    confirmed: bool
    code_hash: str | None
    expires_at: datetime | None
    attempts: int


def check_code(
    pending: Pending, *, secret: str, subscription_id: str, code: str, now: datetime, max_attempts: int
) -> str:
    """What a submitted code does: `confirmed`, `already`, `expired`, `exhausted` or `wrong`."""
    if pending.confirmed:
        return "already"
    if pending.code_hash is None or pending.expires_at is None or pending.expires_at <= now:
        return "expired"
    if pending.attempts >= max_attempts:
        return "exhausted"
    expected = hash_code(secret, subscription_id, code.strip())
    return "confirmed" if hmac.compare_digest(expected, pending.code_hash) else "wrong"
