"""The migrations build the same schema as the models, on a fresh database, both ways."""

import logging
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from tests.conftest import SERVER_URL, database_on_server
from webhooks import create_app
from webhooks.extensions import db

MIGRATIONS = str(Path(__file__).resolve().parent.parent / "migrations")
APP_TABLES = {
    "users",
    "webhooks",
    "webhook_events",
    "events",
    "deliveries",
    "attempts",
    "api_tokens",
    "workers",
    "event_type_settings",
}


@pytest.fixture
def keep_logging():
    """Alembic's env.py reconfigures logging from alembic.ini; undo that for the other tests."""
    root = logging.getLogger()
    root_state = (root.level, list(root.handlers))
    loggers = {
        name: (logger.level, logger.disabled, list(logger.handlers), logger.propagate)
        for name, logger in logging.root.manager.loggerDict.items()
        if isinstance(logger, logging.Logger)
    }
    yield
    root.setLevel(root_state[0])
    root.handlers[:] = root_state[1]
    for name, logger in logging.root.manager.loggerDict.items():
        if not isinstance(logger, logging.Logger):
            continue
        if name in loggers:
            level, disabled, handlers, propagate = loggers[name]
            logger.setLevel(level)
            logger.disabled = disabled
            logger.handlers[:] = handlers
            logger.propagate = propagate
        else:
            logger.setLevel(logging.NOTSET)
            logger.disabled = False
            logger.handlers[:] = []
            logger.propagate = True


@pytest.fixture
def fresh_app(tmp_path, keep_logging):
    """An app on an empty SQLite file that nobody has called ``create_all`` on."""
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test-secret-key",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'migrated.db'}",
        }
    )
    yield app
    with app.app_context():
        db.engine.dispose()


def flask_db(app, *args):
    result = app.test_cli_runner().invoke(args=["db", *args, "--directory", MIGRATIONS])
    assert result.exit_code == 0, result.output
    return result


def table_names(app) -> set[str]:
    with app.app_context():
        return set(inspect(db.engine).get_table_names())


def schema_differences(app) -> list:
    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "compare_server_default": True}
        )
        return compare_metadata(context, db.metadata)


def test_upgrade_on_fresh_database_matches_the_models(fresh_app):
    assert table_names(fresh_app) == set()
    flask_db(fresh_app, "upgrade")
    assert table_names(fresh_app) == APP_TABLES | {"alembic_version"}
    assert schema_differences(fresh_app) == []


def test_migrations_have_a_single_head():
    assert len(ScriptDirectory(MIGRATIONS).get_heads()) == 1


def test_downgrade_to_base_and_upgrade_again(fresh_app):
    flask_db(fresh_app, "upgrade")
    flask_db(fresh_app, "downgrade", "base")
    assert table_names(fresh_app) & APP_TABLES == set()
    flask_db(fresh_app, "upgrade")
    assert table_names(fresh_app) == APP_TABLES | {"alembic_version"}
    assert schema_differences(fresh_app) == []


def test_migrated_database_keeps_foreign_key_cascades(fresh_app):
    flask_db(fresh_app, "upgrade")
    with fresh_app.app_context():
        inspector = inspect(db.engine)
        foreign_keys = {
            (table, fk["referred_table"]): fk["options"].get("ondelete")
            for table in ("deliveries", "attempts", "webhook_events")
            for fk in inspector.get_foreign_keys(table)
        }
    assert foreign_keys == {
        ("webhook_events", "webhooks"): "CASCADE",
        ("deliveries", "webhooks"): "CASCADE",
        ("deliveries", "events"): "CASCADE",
        ("attempts", "deliveries"): "CASCADE",
    }


@pytest.fixture
def postgresql_app(keep_logging):
    """An app on an empty database of its own on the WEBHOOKS_TEST_DATABASE_URL server."""
    if not SERVER_URL:
        pytest.skip("needs a PostgreSQL server: set WEBHOOKS_TEST_DATABASE_URL")
    with database_on_server("webhooks_migrated") as url:
        app = create_app({"TESTING": True, "SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": url})
        yield app
        with app.app_context():
            db.engine.dispose()


def test_upgrade_on_postgresql_gives_what_grows_with_the_traffic_bigint_ids(postgresql_app):
    flask_db(postgresql_app, "upgrade")

    assert schema_differences(postgresql_app) == []
    with postgresql_app.app_context(), db.engine.connect() as connection:
        columns = dict(
            connection.execute(
                text(
                    "SELECT table_name || '.' || column_name, data_type "
                    "FROM information_schema.columns WHERE table_schema = 'public' "
                    "AND column_name IN ('id', 'event_id', 'delivery_id', 'webhook_id')"
                )
            ).all()
        )
        sequences = dict(
            connection.execute(text("SELECT sequencename, max_value FROM pg_sequences")).all()
        )
    assert {name for name, kind in columns.items() if kind == "bigint"} == {
        "events.id",
        "deliveries.id",
        "deliveries.event_id",
        "attempts.id",
        "attempts.delivery_id",
    }
    assert sequences["deliveries_id_seq"] == sequences["attempts_id_seq"] == 2**63 - 1
    assert sequences["webhooks_id_seq"] == 2**31 - 1


def test_events_stored_before_the_engine_expanded_them_count_as_expanded(fresh_app):
    # Before c3f1a7d2e8b5 the request wrote an event's deliveries with it.
    flask_db(fresh_app, "upgrade", "b7e2d4c1a9f0")
    with fresh_app.app_context(), db.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO events (uid, type, data, source, delivery_count, created_at) "
                "VALUES ('evt_old', 'payment_received', '{}', 'api', 2, '2026-11-30 10:00:00')"
            )
        )

    flask_db(fresh_app, "upgrade")

    with fresh_app.app_context(), db.engine.connect() as connection:
        row = connection.execute(text("SELECT delivery_count, expanded_at FROM events")).one()
        unexpanded = connection.execute(
            text("SELECT count(*) FROM events WHERE expanded_at IS NULL")
        ).scalar()
    assert row.delivery_count == 2
    assert str(row.expanded_at).startswith("2026-11-30 10:00:00")
    assert unexpanded == 0


def test_events_stored_before_schema_checks_have_no_problems_and_types_follow_the_setting(
    fresh_app,
):
    flask_db(fresh_app, "upgrade", "3e727be8f540")
    with fresh_app.app_context(), db.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO events (uid, type, data, source, delivery_count, created_at) "
                "VALUES ('evt_old', 'payment_received', '{}', 'api', 0, '2026-12-01 10:00:00')"
            )
        )

    flask_db(fresh_app, "upgrade", "c04222db11f2")

    with fresh_app.app_context(), db.engine.connect() as connection:
        row = connection.execute(
            text("SELECT uid, schema_problems, schema_problem_count FROM events")
        ).one()
        settings = connection.execute(text("SELECT count(*) FROM event_type_settings")).scalar()
        indexes = {index["name"] for index in inspect(connection).get_indexes("events")}
    assert tuple(row) == ("evt_old", None, None)
    assert settings == 0
    assert "ix_events_schema_warned" in indexes

    flask_db(fresh_app, "downgrade", "3e727be8f540")

    with fresh_app.app_context(), db.engine.connect() as connection:
        columns = {column["name"] for column in inspect(connection).get_columns("events")}
        uids = connection.execute(text("SELECT uid FROM events")).scalars().all()
    assert "schema_problems" not in columns and "schema_problem_count" not in columns
    assert "event_type_settings" not in table_names(fresh_app)
    assert uids == ["evt_old"]


# Before a4e7c2d9b1f3 a webhook had one event, in webhooks.event.
OLD_WEBHOOKS = text(
    "INSERT INTO webhooks (id, name, url, event, active, secret, integration, payload_format, "
    "sent_count, max_in_flight, consecutive_failures, probe_step, created_at, updated_at) "
    "VALUES (:id, :name, 'https://example.com/hook', :event, :active, 'whsec_x', 'manual', "
    "'standard', 0, 10, 0, 0, '2026-11-30 10:00:00', '2026-11-30 10:00:00')"
)


def one_event_webhooks_become_rows_of_webhook_events(app):
    flask_db(app, "upgrade", "3e727be8f540")
    with app.app_context(), db.engine.begin() as connection:
        connection.execute(
            OLD_WEBHOOKS,
            [
                {"id": 1, "name": "Payments", "event": "payment_received", "active": True},
                {"id": 2, "name": "Sites", "event": "site_published", "active": False},
            ],
        )

    flask_db(app, "upgrade")

    with app.app_context(), db.engine.connect() as connection:
        rows = connection.execute(
            text("SELECT webhook_id, event FROM webhook_events ORDER BY webhook_id")
        ).all()
        webhooks = connection.execute(
            text("SELECT id, name, active, all_events FROM webhooks ORDER BY id")
        ).all()
        columns = {column["name"] for column in inspect(connection).get_columns("webhooks")}
    assert [tuple(row) for row in rows] == [(1, "payment_received"), (2, "site_published")]
    assert [tuple(row) for row in webhooks] == [
        (1, "Payments", True, False),
        (2, "Sites", False, False),
    ]
    assert "event" not in columns
    assert schema_differences(app) == []

    # Back down: the column holds each webhook's first event, or * for every event.
    with app.app_context(), db.engine.begin() as connection:
        connection.execute(
            text("INSERT INTO webhook_events (webhook_id, event) VALUES (1, 'payment_failed')")
        )
        connection.execute(text("UPDATE webhooks SET all_events = true WHERE id = 2"))
        connection.execute(text("DELETE FROM webhook_events WHERE webhook_id = 2"))
    flask_db(app, "downgrade", "3e727be8f540")
    with app.app_context(), db.engine.connect() as connection:
        events = connection.execute(text("SELECT id, event FROM webhooks ORDER BY id")).all()
        tables = set(inspect(connection).get_table_names())
    assert [tuple(row) for row in events] == [(1, "payment_received"), (2, "*")]
    assert "webhook_events" not in tables


def test_webhooks_of_one_event_keep_it_as_their_one_listed_event(fresh_app):
    one_event_webhooks_become_rows_of_webhook_events(fresh_app)


def test_webhooks_of_one_event_keep_it_as_their_one_listed_event_on_postgresql(postgresql_app):
    one_event_webhooks_become_rows_of_webhook_events(postgresql_app)


def results_stored_before_codes_keep_their_text_and_no_code(app):
    # Before 5b8d3f1a9c27 a result was English text alone.
    flask_db(app, "upgrade", "a4e7c2d9b1f3")
    with app.app_context(), db.engine.begin() as connection:
        connection.execute(OLD_WEBHOOKS_OF_EVENTS, {"id": 1, "name": "Payments"})
        connection.execute(
            text(
                "UPDATE webhooks SET active = false, disabled_reason = :reason, "
                "last_delivery_summary = 'HTTP 500 Internal Server Error in 31 ms' WHERE id = 1"
            ),
            {"reason": "Every attempt failed for 5 days; the last: HTTP 500 in 31 ms"},
        )

    flask_db(app, "upgrade")

    with app.app_context(), db.engine.connect() as connection:
        row = connection.execute(
            text(
                "SELECT disabled_reason, disabled_message, last_delivery_summary, "
                "last_delivery_message FROM webhooks"
            )
        ).one()
        columns = {
            table: {column["name"] for column in inspect(connection).get_columns(table)}
            for table in ("deliveries", "attempts")
        }
    assert tuple(row) == (
        "Every attempt failed for 5 days; the last: HTTP 500 in 31 ms",
        None,
        "HTTP 500 Internal Server Error in 31 ms",
        None,
    )
    assert "last_message" in columns["deliveries"]
    assert "message" in columns["attempts"]
    assert schema_differences(app) == []

    flask_db(app, "downgrade", "a4e7c2d9b1f3")
    with app.app_context(), db.engine.connect() as connection:
        kept = connection.execute(text("SELECT disabled_reason FROM webhooks")).scalar()
        columns = {column["name"] for column in inspect(connection).get_columns("webhooks")}
    assert kept.startswith("Every attempt failed for 5 days")
    assert "disabled_message" not in columns


OLD_WEBHOOKS_OF_EVENTS = text(
    "INSERT INTO webhooks (id, name, url, active, all_events, secret, integration, "
    "payload_format, sent_count, max_in_flight, consecutive_failures, probe_step, created_at, "
    "updated_at) VALUES (:id, :name, 'https://example.com/hook', true, false, 'whsec_x', "
    "'manual', 'standard', 0, 10, 0, 0, '2026-11-30 10:00:00', '2026-11-30 10:00:00')"
)


def test_results_stored_before_codes_keep_their_text_and_no_code(fresh_app):
    results_stored_before_codes_keep_their_text_and_no_code(fresh_app)


def test_results_stored_before_codes_keep_their_text_and_no_code_on_postgresql(postgresql_app):
    results_stored_before_codes_keep_their_text_and_no_code(postgresql_app)
