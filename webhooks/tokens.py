"""API tokens: created with a name, shown once, stored only as a SHA-256 hash."""

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from webhooks.extensions import db
from webhooks.models import ApiToken, as_utc

TOKEN_PREFIX = "whk_"  # noqa: S105  (a format prefix, not a secret)
SCOPES = {"full": "Full access", "read": "Read only"}
LAST_USED_PRECISION = timedelta(minutes=1)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(name: str, scope: str = "full") -> tuple[ApiToken, str]:
    """A new token; the plain text is returned here and never again. The caller commits."""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}")
    plain = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(name=name, token_hash=_digest(plain), prefix=plain[:10], scope=scope)
    db.session.add(token)
    return token, plain


def find_token(plain: str) -> ApiToken | None:
    """The live token with this plain text, its last use noted (at most once a minute)."""
    if not plain.startswith(TOKEN_PREFIX) or len(plain) > 200:
        return None
    token = db.session.scalar(
        select(ApiToken).where(ApiToken.token_hash == _digest(plain), ApiToken.revoked_at.is_(None))
    )
    if token is not None:
        now = datetime.now(UTC)
        if token.last_used_at is None or now - as_utc(token.last_used_at) > LAST_USED_PRECISION:
            token.last_used_at = now
            db.session.commit()
    return token


def revoke(token: ApiToken) -> None:
    token.revoked_at = datetime.now(UTC)
