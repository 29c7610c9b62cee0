"""Self-hosted webhook admin and delivery service."""

import os
import secrets
import sys
from pathlib import Path

from flask import Flask

from webhooks import (
    commands,
    errors,
    event_writer,
    i18n,
    routing,
    security_headers,
    settings,
    telemetry,
    templating,
    trusted_hosts,
)
from webhooks.auth import access, sessions, throttle
from webhooks.config import DEFAULTS
from webhooks.delivery import pipeline
from webhooks.delivery.guard import parse_networks
from webhooks.extensions import csrf, db, limiter, login_manager, migrate
from webhooks.outbox import EventError, dispatch
from webhooks.private_files import keep_database_private, sqlite_database_file, write_private
from webhooks.version import __version__
from webhooks.worker import engine
from webhooks.worker.retry import parse_schedule

__all__ = ["EventError", "__version__", "create_app", "create_process_app", "dispatch"]

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = PACKAGE_DIR.parent
# A wheel carries templates/, static/ and migrations/ inside the package (the build puts them
# there); a checkout keeps them at the top of the repository.
INSTALLED = (PACKAGE_DIR / "templates").is_dir()


def resource_dir(name: str) -> Path:
    """Where ``templates``, ``static`` or ``migrations`` are, installed or in a checkout."""
    return (PACKAGE_DIR if INSTALLED else PROJECT_ROOT) / name


def default_instance_path() -> str | None:
    """WEBHOOKS_INSTANCE_PATH; else ``instance/`` of the checkout, or for an installed wheel
    Flask's own choice, ``<prefix>/var/webhooks-instance``."""
    if "WEBHOOKS_INSTANCE_PATH" in os.environ:
        return os.environ["WEBHOOKS_INSTANCE_PATH"]
    return None if INSTALLED else str(PROJECT_ROOT / "instance")


def create_app(test_config: dict | None = None) -> Flask:
    """Build the application: defaults, then instance/config.py, then the environment.

    Tests pass ``test_config``, which replaces the instance file and environment.
    """
    app = Flask(
        __name__,
        instance_relative_config=True,
        instance_path=default_instance_path(),
        template_folder=str(resource_dir("templates")),
        static_folder=str(resource_dir("static")),
    )
    configure(app, test_config)
    register_extensions(app)
    register_blueprints(app)
    errors.register_errorhandlers(app)
    commands.register_commands(app)
    return app


def create_process_app() -> Flask:
    """The app of a server, worker or command process: a mistyped setting ends the process
    with one line naming it and the form it expects, instead of a traceback."""
    try:
        return create_app()
    except settings.SettingError as error:
        sys.exit(f"Setting error: {error}")


def configure(app: Flask, test_config: dict | None) -> None:
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    app.config.from_mapping(DEFAULTS)
    app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{Path(app.instance_path) / 'webhooks.db'}"
    if test_config is None:
        app.config.from_pyfile("config.py", silent=True)
        app.config.from_prefixed_env("WEBHOOKS")
        if os.environ.get("DATABASE_URL"):
            app.config["SQLALCHEMY_DATABASE_URI"] = os.environ["DATABASE_URL"]
    else:
        app.config.from_mapping(test_config)
    options = dict(app.config["SQLALCHEMY_ENGINE_OPTIONS"])
    # SQL parameters are payloads, emails and secrets: never in an error message or a log.
    options["hide_parameters"] = True
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        # A writer waits up to 30 s for SQLite's lock (another process writing) before the
        # request fails with 503, unless the settings say otherwise.
        options["connect_args"] = {"timeout": 30, **options.get("connect_args", {})}
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options
    if (database := sqlite_database_file(app.config["SQLALCHEMY_DATABASE_URI"])) is not None:
        # Flask-SQLAlchemy reads a relative SQLite path from the instance folder.
        keep_database_private(Path(app.instance_path) / database)
    check_settings(app.config)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = instance_secret_key(Path(app.instance_path) / "secret_key")


def check_settings(config) -> None:
    """Every setting readable in the form it expects, or a ``SettingError`` naming it."""
    settings.check(config)
    parse_networks(config["ALLOWED_NETWORKS"])
    parse_schedule(config["RETRY_SCHEDULE"])


def instance_secret_key(path: Path) -> str:
    """A session key kept in the instance folder, so logins survive restarts without set-up."""
    if path.exists():
        return path.read_text().strip()
    key = secrets.token_hex(32)
    write_private(path, key)
    return key


def register_extensions(app: Flask) -> None:
    routing.init_app(app)
    i18n.init_app(app)
    db.init_app(app)
    migrate.init_app(app, db, directory=str(resource_dir("migrations")), render_as_batch=True)
    login_manager.init_app(app)
    trusted_hosts.init_app(app)  # inside the proxy fix (sessions): the forwarded host
    sessions.init_app(app)
    throttle.init_app(app)
    limiter.init_app(app)
    csrf.init_app(app)
    pipeline.init_app(app)
    engine.init_app(app)
    event_writer.init_app(app)
    access.init_app(app)
    templating.init_app(app)
    security_headers.init_app(app)
    telemetry.init_app(app)


def register_blueprints(app: Flask) -> None:
    from webhooks.accounts.views import bp as accounts_bp
    from webhooks.admin.views import bp as webhooks_bp
    from webhooks.api import bp as api_bp
    from webhooks.api_docs.views import bp as api_docs_bp
    from webhooks.auth.views import bp as auth_bp
    from webhooks.dashboard.views import bp as dashboard_bp
    from webhooks.deliveries.views import bp as deliveries_bp
    from webhooks.events.views import bp as events_bp
    from webhooks.health import bp as health_bp
    from webhooks.live.views import bp as live_bp
    from webhooks.test_panel.views import bp as test_panel_bp
    from webhooks.tokens_admin.views import bp as tokens_bp

    app.register_blueprint(auth_bp)
    app.register_blueprint(dashboard_bp)
    app.register_blueprint(webhooks_bp, url_prefix="/webhooks")
    app.register_blueprint(test_panel_bp, url_prefix="/webhooks")
    app.register_blueprint(deliveries_bp, url_prefix="/deliveries")
    app.register_blueprint(events_bp, url_prefix="/events")
    app.register_blueprint(api_bp, url_prefix="/api/v1")
    app.register_blueprint(api_docs_bp, url_prefix="/api-docs")
    app.register_blueprint(health_bp)
    app.register_blueprint(tokens_bp, url_prefix="/tokens")
    app.register_blueprint(live_bp, url_prefix="/live")
    app.register_blueprint(accounts_bp, url_prefix="/admins")
    csrf.exempt(api_bp)
