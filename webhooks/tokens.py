"""API tokens: created with a name, shown once, stored only as a SHA-256 hash."""

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import make_transient_to_detached

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


_TOKENS = ApiToken.__table__
# Built once: the API checks a token on every request. The hash is unique, so the index finds
# the row; the token is 256 random bits, so hashing it once (no slow KDF) is safe.
_LIVE_TOKEN = select(_TOKENS).where(
    _TOKENS.c.token_hash == bindparam("token_hash"), _TOKENS.c.revoked_at.is_(None)
)
_NOTE_USE = update(_TOKENS).where(_TOKENS.c.id == bindparam("token_id"))


def find_token(plain: str) -> ApiToken | None:
    """The live token with this plain text, its last use noted (at most once a minute).

    Read with a Core statement rather than an ORM query (the API's hot path); the token comes
    back detached, as if loaded, so reading it needs no further query."""
    if not plain.startswith(TOKEN_PREFIX) or len(plain) > 200:
        return None
    row = db.session.connection().execute(_LIVE_TOKEN, {"token_hash": _digest(plain)}).first()
    if row is None:
        return None
    token = ApiToken(**row._asdict())
    make_transient_to_detached(token)
    now = datetime.now(UTC)
    if token.last_used_at is None or now - as_utc(token.last_used_at) > LAST_USED_PRECISION:
        db.session.connection().execute(_NOTE_USE, {"token_id": token.id, "last_used_at": now})
        db.session.commit()
        token.last_used_at = now
    return token


def revoke(token: ApiToken) -> None:
    token.revoked_at = datetime.now(UTC)
