"""Step 2: Standard Webhooks signatures (webhook-id, webhook-timestamp, webhook-signature)."""

import base64
import hashlib
import hmac
from collections.abc import Iterable

from webhooks.delivery.message import Message

SECRET_PREFIX = "whsec_"  # noqa: S105  (a format prefix, not a secret)


def secret_key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256 of "id.timestamp.body">`` as the spec defines it."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed_headers(
    message: Message, secrets: Iterable[str], timestamp: int, user_agent: str
) -> dict[str, str]:
    """Request headers for one attempt; several secrets give space-separated signatures."""
    signature = " ".join(sign(secret, message.id, timestamp, message.body) for secret in secrets)
    return {
        "Content-Type": "application/json",
        "User-Agent": user_agent,
        "webhook-id": message.id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature,
    }
