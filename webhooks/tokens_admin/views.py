"""API tokens: list them, create one (its plain text is shown once, on the page the creating
POST returns, and never put into a flash or a URL), and revoke one."""

from flask import Blueprint, abort, flash, make_response, redirect, render_template, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from webhooks.extensions import db
from webhooks.models import ApiToken
from webhooks.routing import page_number
from webhooks.security_headers import shown_once
from webhooks.tokens import create_token, revoke
from webhooks.tokens_admin.forms import SCOPE_LABELS, ConfirmForm, TokenForm
from webhooks.tokens_admin.usage import report_command

bp = Blueprint("tokens_admin", __name__)

PER_PAGE = 20


@bp.context_processor
def usage() -> dict:
    return {"report_command": report_command}


def get_token_or_404(token_id: int) -> ApiToken:
    token = db.session.get(ApiToken, token_id)
    if token is None:
        abort(404, description=_("There is no API token with that id."))
    return token


@bp.route("/", methods=["GET", "POST"])
def index():
    form = TokenForm()
    if form.validate_on_submit():
        token, plain = create_token(form.name.data, form.scope.data)
        db.session.commit()
        return shown_once(
            make_response(
                render_template(
                    "tokens/created.html", token=token, plain=plain, scopes=SCOPE_LABELS
                )
            )
        )
    page = db.paginate(
        select(ApiToken).order_by(ApiToken.id.desc()),
        page=page_number(),
        per_page=PER_PAGE,
        max_per_page=100,
        error_out=False,
    )
    return render_template("tokens/index.html", form=form, page=page, scopes=SCOPE_LABELS)


@bp.route("/<id:token_id>/revoke", methods=["GET", "POST"])
def revoke_one(token_id: int):
    token = get_token_or_404(token_id)
    form = ConfirmForm()
    if form.validate_on_submit():
        if token.revoked_at is None:
            revoke(token)
            db.session.commit()
            flash(
                _(
                    "Token “%(name)s” (%(prefix)s…) revoked: clients using it get "
                    "401 Unauthorized from now on.",
                    name=token.name,
                    prefix=token.prefix,
                ),
                "success",
            )
        else:
            flash(
                _(
                    "Token “%(name)s” (%(prefix)s…) was already revoked.",
                    name=token.name,
                    prefix=token.prefix,
                ),
                "info",
            )
        return redirect(url_for("tokens_admin.index"))
    return render_template(
        "tokens/confirm_revoke.html", form=form, token=token, scopes=SCOPE_LABELS
    )
