"""No event payload or SQL parameter reaches a log: the database engines hide their parameters,
and a failed write is logged by the kind of its error alone."""

import logging

import pytest
from sqlalchemy import bindparam, text
from sqlalchemy.exc import DBAPIError

from tests.engine_helpers import api_token, post_event, stored
from webhooks.extensions import db
from webhooks.redaction import error_kind

CANARY = "leak-canary-7f3a@example.com"


@pytest.fixture
def config(config):
    config["PROPAGATE_EXCEPTIONS"] = False
    return config


@pytest.fixture
def all_logs(caplog):
    caplog.set_level(logging.DEBUG)
    return caplog


def test_the_engine_hides_sql_parameters(app):
    with app.app_context():
        assert db.engine.hide_parameters is True
        with pytest.raises(DBAPIError) as failure:
            db.session.execute(
                text("SELECT no_such_column FROM events WHERE uid = :uid"),
                {"uid": CANARY},
            )
        db.session.rollback()

    assert CANARY not in str(failure.value)
    assert "hidden" in str(failure.value)


@pytest.fixture
def refuses_the_canary(app):
    """The database itself refuses to store an event holding CANARY, as a constraint would."""
    with app.app_context(), db.engine.begin() as connection:
        if connection.dialect.name == "sqlite":
            connection.execute(
                text(
                    "CREATE TRIGGER refuse_canary BEFORE INSERT ON events "
                    f"WHEN NEW.data LIKE '%{CANARY}%' BEGIN SELECT RAISE(ABORT, 'refused'); END"
                )
            )
        else:
            connection.execute(
                text(
                    "CREATE FUNCTION refuse_canary() RETURNS trigger LANGUAGE plpgsql AS $$ "
                    f"BEGIN IF NEW.data LIKE '%{CANARY}%' THEN RAISE EXCEPTION 'refused'; "
                    "END IF; RETURN NEW; END $$"
                )
            )
            connection.execute(
                text(
                    "CREATE TRIGGER refuse_canary BEFORE INSERT ON events "
                    "FOR EACH ROW EXECUTE FUNCTION refuse_canary()"
                )
            )
    yield
    with app.app_context(), db.engine.begin() as connection:
        connection.execute(
            text(
                "DROP TRIGGER refuse_canary"
                + ("" if connection.dialect.name == "sqlite" else " ON events")
            )
        )
        if connection.dialect.name != "sqlite":
            connection.execute(text("DROP FUNCTION refuse_canary()"))


def test_a_failed_event_write_logs_no_payload(app, client, refuses_the_canary, all_logs):
    token = api_token(app)
    payload = {"type": "payment_received", "data": {"customer_email": CANARY}}

    response = post_event(client, token, payload)

    assert response.status_code == 500
    assert stored(app)["events"] == 0
    failures = [r for r in all_logs.records if "at once failed" in r.getMessage()]
    assert failures, "the failed batch write was not logged"
    assert CANARY not in all_logs.text
    for record in all_logs.records:
        assert CANARY not in record.getMessage()
        assert record.exc_info is None or CANARY not in str(record.exc_info[1])


def test_error_kind_names_the_error_without_its_message(app):
    with app.app_context():
        with pytest.raises(DBAPIError) as failure:
            db.session.execute(
                text("SELECT :value + no_such_column").bindparams(bindparam("value", CANARY))
            )
        db.session.rollback()

    kind = error_kind(failure.value)

    assert kind.startswith(failure.value.__class__.__name__ + " (")
    assert CANARY not in kind
    assert "no_such_column" not in kind
    assert error_kind(ValueError(CANARY)) == "ValueError"
