"""Logging in and out."""

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy import func, select
from werkzeug.security import check_password_hash, generate_password_hash

from webhooks.auth.forms import LoginForm
from webhooks.extensions import db
from webhooks.models import User
from webhooks.urls import safe_next

bp = Blueprint("auth", __name__)
_UNKNOWN_USER_HASH = generate_password_hash("not a password of anyone")


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("webhooks.index"))
    form = LoginForm()
    if form.validate_on_submit():
        email = form.email.data.strip().lower()
        user = db.session.scalar(select(User).where(func.lower(User.email) == email))
        if user is None:
            # Hash anyway, so an unknown email takes as long to refuse as a wrong password.
            check_password_hash(_UNKNOWN_USER_HASH, form.password.data)
        elif user.check_password(form.password.data):
            login_user(user)
            return redirect(safe_next(request.args.get("next")) or url_for("webhooks.index"))
        flash("Wrong email or password.", "error")
    return render_template("auth/login.html", form=form)


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    logout_user()
    flash("You are logged out.", "info")
    return redirect(url_for("auth.login"))
