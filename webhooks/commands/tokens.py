"""``flask tokens``: API tokens from the command line."""

import click
from flask.cli import AppGroup
from sqlalchemy import select

from webhooks.extensions import db
from webhooks.models import ApiToken
from webhooks.templating import format_time
from webhooks.tokens import SCOPES, create_token, revoke


@click.group("tokens", cls=AppGroup)
def tokens_group():
    """Create, list and revoke API tokens."""


@tokens_group.command("create")
@click.argument("name")
@click.option("--scope", type=click.Choice(sorted(SCOPES)), default="full", show_default=True)
def create_command(name: str, scope: str):
    """Create a token called NAME and print it; it is shown only this once."""
    name = name.strip()
    if not 1 <= len(name) <= 100:
        raise click.BadParameter("the name must be 1 to 100 characters long.", param_hint="NAME")
    token, plain = create_token(name, scope)
    db.session.commit()
    click.echo(f"Token {token.id} ({name}, {SCOPES[scope].lower()}) created. Keep it safe;")
    click.echo("it is not shown again:")
    click.echo(plain)


@tokens_group.command("list")
def list_command():
    """List the tokens (never their secret part)."""
    tokens = db.session.scalars(select(ApiToken).order_by(ApiToken.id)).all()
    if not tokens:
        click.echo("No API tokens yet. Create one with `flask --app wsgi tokens create NAME`.")
    for token in tokens:
        state = f"revoked {format_time(token.revoked_at)}" if token.revoked_at else "active"
        click.echo(
            f"{token.id:>4}  {token.prefix}…  {token.name:30}  {token.scope:5}  {state}  "
            f"last used {format_time(token.last_used_at)}"
        )


@tokens_group.command("revoke")
@click.argument("token_id", type=click.IntRange(min=1))
def revoke_command(token_id: int):
    """Revoke token TOKEN_ID (see `tokens list`); clients using it get 401 from then on."""
    token = db.session.get(ApiToken, token_id)
    if token is None:
        raise click.ClickException(f"There is no token with id {token_id}.")
    if token.revoked_at is None:
        revoke(token)
        db.session.commit()
    click.echo(f"Token {token_id} ({token.name}) is revoked.")
