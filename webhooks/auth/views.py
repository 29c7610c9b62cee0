"""Logging in and out."""

import functools

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user
from werkzeug.security import check_password_hash, generate_password_hash

from webhooks import admins
from webhooks.auth import devices, throttle
from webhooks.auth.forms import LoginForm
from webhooks.extensions import db
from webhooks.i18n import _l
from webhooks.models import User
from webhooks.urls import safe_next

bp = Blueprint("auth", __name__)
bp.after_request(throttle.add_retry_after)
LOGIN_FAILED = _l("Wrong email or password.")


@functools.cache
def unknown_user_hash(method: str) -> str:
    """A hash made like a real password's, so refusing an unknown email costs as much as a
    wrong password."""
    return generate_password_hash("not a password of anyone", method=method)


def authenticate(email: str, password: str) -> User | None:
    """The user with this email and password, or None; as slow for an unknown email."""
    user = admins.find(email)
    if user is None:
        check_password_hash(unknown_user_hash(current_app.config["PASSWORD_HASH_METHOD"]), password)
        return None
    return user if user.check_password(password) else None


@bp.route("/login", methods=["GET", "POST"])
@throttle.per_address
def login():
    if current_user.is_authenticated:
        return redirect(url_for("dashboard.index"))
    form = LoginForm()
    if form.validate_on_submit():
        refusal = throttle.reserve_attempt(form.email.data)
        if refusal is not None:
            throttle.refuse(refusal)
        user = authenticate(form.email.data, form.password.data)
        if user is not None:
            login_user(user)
            target = safe_next(request.args.get("next")) or url_for("dashboard.index")
            return devices.remember(redirect(target), user.email)
        flash(str(LOGIN_FAILED), "error")
    return render_template("auth/login.html", form=form)


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    """End the session for real: a copy of the cookie taken before now no longer logs in."""
    current_user.end_sessions()
    db.session.commit()
    logout_user()
    flash(_("You are logged out."), "info")
    return redirect(url_for("auth.login"))
