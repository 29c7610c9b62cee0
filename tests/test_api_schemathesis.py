"""Schemathesis against the live API: each operation of /api/v1/openapi.json is called with
generated requests, valid and invalid, on a real HTTP server on 127.0.0.1, and every answer
must be no server error, with a documented status, a documented content type and a body that
fits the documented schema.

The schema is loaded from the running server with a full-scope token, as a client would load
it, so what is checked is what the API serves. Each operation is its own test (with valid
input, and with invalid input where it takes any), so a report names the operation at fault.

Nothing is excluded. POST /webhooks/{webhook_id}/test really sends: to the local receiver for
the webhook made here, and for webhooks the run creates, to generated hosts that do not
resolve or to closed ports on 127.0.0.1, which fail at once.

(``schemathesis.pytest.from_fixture`` would load the schema lazily, but schemathesis 4.32.5
sets ``Item._nodeid``, which pytest 9.2 no longer has; so each test draws its cases with
``APIOperation.as_strategy`` under Hypothesis' ``@given``, the API schemathesis offers for
tests of one's own.)
"""

from dataclasses import dataclass

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import select

from tests.engine_helpers import api_token, bearer, expand, post_event
from webhooks.api.openapi import openapi_document
from webhooks.extensions import db
from webhooks.models import Delivery

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
EXAMPLES_PER_OPERATION = 25
HTTP_METHODS = ("get", "post", "put", "patch", "delete")


def operations() -> list[tuple[str, bool]]:
    """Every operation's label ("GET /webhooks"), and whether it takes any input."""
    found = []
    for path, item in openapi_document()["paths"].items():
        for method in HTTP_METHODS:
            if method in item:
                takes_input = bool(
                    item.get("parameters")
                    or item[method].get("parameters")
                    or item[method].get("requestBody")
                )
                found.append((f"{method.upper()} {path}", takes_input))
    return found


# An operation without input has one request to make; one with input, invalid ones too.
CASES = [
    pytest.param(label, mode, takes_input, id=f"{label}-{mode.value}")
    for label, takes_input in operations()
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    if takes_input or mode is GenerationMode.POSITIVE
]
SCHEMA_DOCUMENT = "GET /openapi.json"


@pytest.fixture
def config(config):
    # A server error must reach the client as the 500 it would see, not be raised in the
    # server's thread.
    config["PROPAGATE_EXCEPTIONS"] = False
    return config


@dataclass(frozen=True)
class Seeded:
    token: str
    ids: dict[str, list[int | str]]  # path parameter → ids that exist


@pytest.fixture
def seeded(app, client, receiver, make_webhook) -> Seeded:
    """A full-scope token, and something for the calls to find: webhooks (one on the local
    receiver, so a test send gets an answer; one Zapier made, so an unsubscribe succeeds) and
    an event the engine expanded into its deliveries, and one it has not expanded yet."""
    receiver.expect_request("/hook").respond_with_data("ok")
    token = api_token(app, "schemathesis")
    webhooks = [
        make_webhook(name="Local receiver", url=receiver.url_for("/hook")),
        make_webhook(name="Elsewhere", url="https://example.com/hook", payload_format="flat"),
        make_webhook(name="Zapier: Invoice Sent", event="invoice_sent", integration="zapier"),
    ]
    events = []
    for total in (9, 10):
        response = post_event(client, token, {"type": "payment_received", "data": {"total": total}})
        assert response.status_code == 202, response.get_json()
        events.append(response.get_json()["id"])
        if total == 9:
            assert expand(app) == 2
    with app.app_context():
        deliveries = list(db.session.scalars(select(Delivery.id)))
    assert len(deliveries) == 2
    return Seeded(token, {"webhook_id": webhooks, "delivery_id": deliveries, "event_id": events})


@pytest.fixture
def api_schema(live_server, seeded):
    """The schema as the live server serves it."""
    config = schemathesis.Config.from_dict(
        # No cache in the working tree; every run starts afresh anyway.
        {"seed": 20261130, "cache": {"enabled": False}}
    )
    return schemathesis.openapi.from_url(
        f"{live_server}/api/v1/openapi.json",
        headers=bearer(seeded.token),
        config=config,
        timeout=10,
    )


def cases(operation, mode: GenerationMode, headers: dict, ids: dict[str, list[int | str]]):
    """Generated requests; for an operation on one object, half of them name an object that
    exists (a generated id almost never does), unless only that id could be made invalid."""
    anything = operation.as_strategy(generation_mode=mode, headers=headers)
    names = [parameter.name for parameter in operation.path_parameters if parameter.name in ids]
    if not names or (mode is GenerationMode.NEGATIVE and not len(operation.body)):
        return anything
    (name,) = names
    existing = st.one_of(
        *(
            operation.as_strategy(
                generation_mode=mode, headers=headers, path_parameters={name: value}
            )
            for value in ids[name]
        )
    )
    return st.one_of(anything, existing)


def test_schema_is_loaded_from_the_live_server(api_schema, live_server):
    labels = {result.ok().label for result in api_schema.get_all_operations()}

    assert api_schema.get_base_url() == f"{live_server}/api/v1"
    # Schemathesis leaves out the operation it loaded the schema from; the tests below still
    # call it, by its label.
    assert labels == {label for label, _ in operations()} - {SCHEMA_DOCUMENT}
    assert api_schema.find_operation_by_label(SCHEMA_DOCUMENT) is not None


@pytest.mark.parametrize(("label", "mode", "takes_input"), CASES)
def test_operation_conforms_to_the_document(api_schema, seeded, label, mode, takes_input):
    operation = api_schema.find_operation_by_label(label)
    assert operation is not None, label
    headers = bearer(seeded.token)

    @given(case=cases(operation, mode, headers, seeded.ids))
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def answer_conforms(case):
        statuses.append(case.call_and_validate(headers=headers, checks=CHECKS).status_code)

    statuses: list[int] = []
    answer_conforms()
    assert len(statuses) >= (5 if takes_input else 1), statuses
    assert 401 not in statuses, "the token was not sent"
