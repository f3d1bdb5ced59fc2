"""Webhook signatures: `sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">` (pure)."""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Lastmeter-Signature"
TIMESTAMP_HEADER = "X-Lastmeter-Timestamp"
DELIVERY_HEADER = "X-Lastmeter-Delivery-Id"
EVENT_TYPE_HEADER = "X-Lastmeter-Event-Type"
SUBSCRIPTION_HEADER = "X-Lastmeter-Subscription-Id"
DEFAULT_TOLERANCE_SECONDS = 300


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header value for a body sent at `timestamp` (Unix seconds)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def verify(
    secret: str, *, signature: str, timestamp: str, body: bytes, now: float, tolerance: int = DEFAULT_TOLERANCE_SECONDS
) -> bool:
    """What a receiver does: recompute, compare in constant time, refuse stale timestamps (replays)."""
    if not timestamp.isdigit() or abs(now - int(timestamp)) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, int(timestamp), body), signature)
