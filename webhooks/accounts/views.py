"""Change your own password; list, add and remove admins.

Changing the password ends the user's other sessions and keeps this one. A wrong current
password is counted by the login limits, before it is checked, like a login attempt. An admin
added without a password gets a made-up one, shown once on a page no cache keeps. Removing an
admin ends their sessions at once; the last admin cannot be removed.
"""

from flask import (
    Blueprint,
    abort,
    flash,
    g,
    make_response,
    redirect,
    render_template,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from webhooks import admins
from webhooks.accounts.forms import AdminForm, ConfirmForm, PasswordChangeForm
from webhooks.auth import throttle
from webhooks.extensions import db
from webhooks.models import User
from webhooks.routing import page_number
from webhooks.security_headers import shown_once

bp = Blueprint("accounts", __name__)
bp.after_request(throttle.add_retry_after)

PER_PAGE = 50


@bp.route("/password", methods=["GET", "POST"])
@login_required  # besides the site-wide check: these pages act on the user
def change_password():
    form = PasswordChangeForm()
    status = 200
    if form.validate_on_submit():
        user = current_user._get_current_object()
        refusal = throttle.reserve_attempt(user.email)
        if refusal is not None:
            form.current_password.errors.append(refusal.message)
            g.login_retry_after = refusal.seconds
            status = 429
        elif not user.check_password(form.current_password.data):
            form.current_password.errors.append(_("The current password is wrong."))
        else:
            user.set_password(form.new_password.data)  # ends every session of the user
            db.session.commit()
            login_user(user)  # this one goes on with the new session token
            flash(_("Password changed. Your other sessions have been logged out."), "success")
            return redirect(url_for("dashboard.index"))
    return render_template("accounts/password.html", form=form), status


@bp.route("/", methods=["GET", "POST"])
@login_required  # besides the site-wide check: these pages act on the user
def index():
    form = AdminForm()
    if form.validate_on_submit():
        password = form.password.data or admins.new_password()
        admins.create(form.email.data, password)
        try:
            db.session.commit()
        except IntegrityError:  # added by somebody else since the form was checked
            db.session.rollback()
            form.email.errors.append(
                _("An admin with the email %(email)s already exists.", email=form.email.data)
            )
        else:
            if form.password.data:
                flash(_("Admin %(email)s added.", email=form.email.data), "success")
                return redirect(url_for("accounts.index"))
            page = render_template("accounts/added.html", email=form.email.data, password=password)
            return shown_once(make_response(page))
    page = db.paginate(
        select(User).order_by(User.email),
        page=page_number(),
        per_page=PER_PAGE,
        max_per_page=PER_PAGE,
        error_out=False,
    )
    return render_template("accounts/admins.html", form=form, page=page)


@bp.route("/<id:user_id>/remove", methods=["GET", "POST"])
@login_required  # besides the site-wide check: these pages act on the user
def remove(user_id: int):
    user = db.session.get(User, user_id)
    if user is None:
        abort(404, description=_("There is no admin with that id; they may have been removed."))
    email, is_self = user.email, user.id == current_user.id
    form = ConfirmForm()
    if form.validate_on_submit():
        try:
            admins.remove(user)
        except admins.LastAdmin:
            db.session.rollback()
            flash(last_admin_message(email), "error")
            return redirect(url_for("accounts.index"))
        db.session.commit()
        if is_self:
            logout_user()
            flash(_("You removed your own account and are logged out."), "info")
            return redirect(url_for("auth.login"))
        flash(_("Admin %(email)s removed; their sessions have ended.", email=email), "success")
        return redirect(url_for("accounts.index"))
    only_one = db.session.scalar(select(func.count()).select_from(User)) <= 1
    return render_template(
        "accounts/confirm_remove.html",
        form=form,
        user=user,
        is_self=is_self,
        refusal=last_admin_message(email) if only_one else None,
    )


def last_admin_message(email: str) -> str:
    return _(
        "%(email)s is the only admin, so nobody could log in without them. "
        "Add another admin first.",
        email=email,
    )
