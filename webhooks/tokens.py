"""API tokens: created with a name, shown once, stored only as a SHA-256 hash."""

import hashlib
import secrets
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, bindparam, select, update
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
_LIVE_TOKENS = select(_TOKENS).where(
    _TOKENS.c.token_hash.in_(bindparam("token_hashes", expanding=True)),
    _TOKENS.c.revoked_at.is_(None),
)
_NOTE_USE = update(_TOKENS).where(_TOKENS.c.id.in_(bindparam("token_ids", expanding=True)))


def token_digest(plain: str) -> str | None:
    """The hash a token is stored under, or None when ``plain`` cannot be a token at all."""
    if not plain.startswith(TOKEN_PREFIX) or len(plain) > 200:
        return None
    return _digest(plain)


def live_tokens(connection: Connection, digests: Iterable[str]) -> dict[str, ApiToken]:
    """The unrevoked tokens with these hashes, by hash; each one's last use is noted (at most
    once a minute) in the connection's transaction, which the caller commits.

    Read with a Core statement rather than an ORM query (the API's hot path); the tokens come
    back detached, as if loaded, so reading them needs no further query."""
    tokens = _read_live(connection, digests)
    _note_use(connection, tokens.values())
    return tokens


def _read_live(connection: Connection, digests: Iterable[str]) -> dict[str, ApiToken]:
    rows = connection.execute(_LIVE_TOKENS, {"token_hashes": list(set(digests))}).all()
    tokens = {}
    for row in rows:
        token = ApiToken(**row._asdict())
        make_transient_to_detached(token)
        tokens[token.token_hash] = token
    return tokens


def _note_use(connection: Connection, tokens: Iterable[ApiToken]) -> bool:
    """Note now as the last use of the tokens last noted over a minute ago; whether any was."""
    now = datetime.now(UTC)
    stale = [
        token
        for token in tokens
        if token.last_used_at is None or now - as_utc(token.last_used_at) > LAST_USED_PRECISION
    ]
    if stale:
        connection.execute(
            _NOTE_USE, {"token_ids": [token.id for token in stale], "last_used_at": now}
        )
        for token in stale:
            token.last_used_at = now
    return bool(stale)


def find_token(plain: str) -> ApiToken | None:
    """The live token with this plain text, its last use noted; a commit only when noted."""
    digest = token_digest(plain)
    if digest is None:
        return None
    connection = db.session.connection()
    token = _read_live(connection, [digest]).get(digest)
    if token is not None and _note_use(connection, [token]):
        db.session.commit()
    return token


def revoke(token: ApiToken) -> None:
    token.revoked_at = datetime.now(UTC)
