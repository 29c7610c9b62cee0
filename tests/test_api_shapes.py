"""The API's shapes (webhooks/api/shapes.py) are its one declaration: the OpenAPI document's
schemas are the models' own, every operation's real answer is its declared model (and fits the
declared schema), and a body the models refuse is a 422 naming the field, with nothing saved.
"""

import json

import jsonschema_rs
import pytest
from pydantic import BaseModel
from sqlalchemy import select

from tests.engine_helpers import api_token, bearer, expand
from webhooks.api import shapes
from webhooks.api.openapi import OPERATIONS, SCHEMAS, models, openapi_document
from webhooks.catalogue import all_events
from webhooks.extensions import db
from webhooks.models import MAX_IN_FLIGHT_RANGE, RATE_LIMIT_RANGE, Delivery, Webhook

VALID = {"name": "Shapes", "url": "https://example.com/in", "event": "payment_received"}


@pytest.fixture
def config(config):
    # A server error must come back as the 500 a client would see, not be raised.
    config["PROPAGATE_EXCEPTIONS"] = False
    return config


@pytest.fixture
def doc():
    return openapi_document()


@pytest.fixture
def token(app):
    return api_token(app)


# ---------------------------------------------------------------- the document is the models


def members(model: type[BaseModel]) -> set[str]:
    return {field.alias or name for name, field in model.model_fields.items()}


def required(model: type[BaseModel]) -> set[str]:
    return {
        field.alias or name for name, field in model.model_fields.items() if field.is_required()
    }


@pytest.mark.parametrize("model", models(), ids=lambda model: model.__name__)
def test_each_component_schema_is_its_models_json_schema(doc, model):
    schema = doc["components"]["schemas"][model.__name__]

    assert set(schema["properties"]) == members(model)
    assert set(schema.get("required", [])) == required(model)
    if issubclass(model, shapes.Shape | shapes.Input):
        assert schema["additionalProperties"] is False
    for name, field in model.model_fields.items():
        if field.description:
            assert schema["properties"][field.alias or name]["description"] == field.description


def test_the_document_names_every_operations_models(doc):
    for operation in OPERATIONS:
        declared = doc["paths"][operation.path][operation.method]
        if operation.body is not None:
            body = declared["requestBody"]["content"]["application/json"]["schema"]
            assert body == {"$ref": SCHEMAS + operation.body.__name__}
        for status, (_description, shape) in operation.responses.items():
            if isinstance(shape, type):
                answer = declared["responses"][status]["content"]["application/json"]["schema"]
                assert answer == {"$ref": SCHEMAS + shape.__name__}, (operation.path, status)


def test_the_documents_limits_are_the_rules_limits(doc):
    schemas = doc["components"]["schemas"]
    webhook_input = schemas["WebhookInput"]["properties"]

    slugs = [event.slug for event in all_events()]
    assert webhook_input["event"]["enum"] == [*slugs, "*"]  # `*`: every event
    assert webhook_input["events"]["anyOf"][0]["items"]["enum"] == slugs
    assert (
        webhook_input["max_in_flight"]["minimum"],
        webhook_input["max_in_flight"]["maximum"],
    ) == (MAX_IN_FLIGHT_RANGE)
    assert (webhook_input["rate_limit"]["minimum"], webhook_input["rate_limit"]["maximum"]) == (
        RATE_LIMIT_RANGE
    )
    assert webhook_input["rate_limit"]["type"] == ["integer", "null"]
    assert set(schemas["WebhookInput"]["required"]) == {"name", "url"}
    # And the events it receives, as `events` or (one) `event`.
    assert schemas["WebhookInput"]["anyOf"] == [{"required": ["event"]}, {"required": ["events"]}]
    assert "required" not in schemas["WebhookChanges"]
    assert all(
        "default" not in member for member in schemas["WebhookChanges"]["properties"].values()
    )


# ---------------------------------------------------------------- real answers are the models


class Checked:
    """Calls the API and checks each answer: its status is declared for the operation, and its
    body is the declared model (read back and written again unchanged) and fits the declared
    JSON Schema."""

    def __init__(self, client, token: str, doc: dict) -> None:
        self.client, self.token, self.doc = client, token, doc
        self.seen: set[tuple[str, str]] = set()

    def __call__(self, method: str, template: str, *, json_body=None, query=None, **params):
        response = self.client.open(
            "/api/v1" + template.format(**params),
            method=method,
            json=json_body,
            query_string=query,
            headers=bearer(self.token),
        )
        (operation,) = [
            op for op in OPERATIONS if (op.method, op.path) == (method.lower(), template)
        ]
        status = str(response.status_code)
        if status in operation.responses:
            shape = operation.responses[status][1]
        else:
            assert status in {"401", *operation.errors}, (method, template, status)
            shape = shapes.Error
        if shape is None:
            assert response.get_data() == b""
        else:
            answer = response.get_json()
            if isinstance(shape, type):
                assert shapes.body(shape.model_validate(answer)) == answer
            declared = self.doc["paths"][template][method.lower()]["responses"][status]
            if "$ref" in declared:
                declared = self.doc["components"]["responses"][declared["$ref"].split("/")[-1]]
            schema = declared["content"]["application/json"]["schema"]
            validator = jsonschema_rs.validator_for(
                {**schema, "components": self.doc["components"]}, validate_formats=True
            )
            assert validator.is_valid(answer), (method, template, answer)
        self.seen.add((method.lower(), template))
        return response


def test_every_operation_answers_its_declared_model(app, client, token, doc, receiver):
    receiver.expect_request("/hook").respond_with_data("ok")
    api = Checked(client, token, doc)

    hook = api("POST", "/webhooks", json_body={**VALID, "url": receiver.url_for("/hook")})
    webhook_id = hook.get_json()["id"]
    api("GET", "/webhooks", query={"per_page": 1})
    api("GET", "/webhooks/{webhook_id}", webhook_id=webhook_id)
    api("PATCH", "/webhooks/{webhook_id}", webhook_id=webhook_id, json_body={"rate_limit": 5})
    api("GET", "/webhooks/{webhook_id}/secret", webhook_id=webhook_id)
    api("POST", "/webhooks/{webhook_id}/rotate-secret", webhook_id=webhook_id)
    api("POST", "/webhooks/{webhook_id}/test", webhook_id=webhook_id)
    api("GET", "/event-types")
    api("GET", "/event-types/{slug}", slug="payment_received")
    changed = api(
        "PATCH", "/event-types/{slug}", slug="invoice_sent", json_body={"schema_mode": "off"}
    )
    assert changed.get_json()["schema_mode"] == "off"
    event = api("POST", "/events", json_body={"type": "payment_received", "data": {"n": 1}})
    assert expand(app) == 1
    api("GET", "/events/{event_id}", event_id=event.get_json()["id"])
    listed = api("GET", "/deliveries", query={"webhook_id": webhook_id, "limit": 1})
    delivery_id = listed.get_json()["data"][0]["id"]
    api("GET", "/deliveries/{delivery_id}", delivery_id=delivery_id)
    api("POST", "/deliveries/{delivery_id}/redeliver", delivery_id=delivery_id)
    api(
        "POST",
        "/deliveries/retry-failed",
        json_body={"webhook_id": webhook_id, "since": "2026-01-01T00:00:00Z"},
    )
    zap = api(
        "POST", "/zapier/subscribe", json_body={"target_url": VALID["url"], "event": "invoice_sent"}
    )
    api("GET", "/zapier/perform-list", query={"event": "invoice_sent"})
    api("DELETE", "/zapier/subscribe/{webhook_id}", webhook_id=zap.get_json()["id"])
    api("GET", "/openapi.json")
    api("DELETE", "/webhooks/{webhook_id}", webhook_id=webhook_id)
    # Errors are the Error model too.
    api("GET", "/webhooks/{webhook_id}", webhook_id=webhook_id)
    api("POST", "/webhooks", json_body={"name": 5})

    assert api.seen == {(operation.method, operation.path) for operation in OPERATIONS}


# ---------------------------------------------------------------- bad bodies


def snapshot(app) -> list[tuple]:
    with app.app_context():
        hooks = db.session.execute(select(Webhook.__table__)).all()
        deliveries = db.session.execute(select(Delivery.__table__)).all()
        return [tuple(row) for row in [*hooks, *deliveries]]


BAD_BODIES = [
    ("POST", "/webhooks", {**VALID, "name": "A"}, "name"),
    ("POST", "/webhooks", {**VALID, "url": "ftp://example.com/"}, "url"),
    ("POST", "/webhooks", {**VALID, "event": "nope"}, "event"),
    ("POST", "/webhooks", {**VALID, "max_in_flight": 0}, "max_in_flight"),
    ("POST", "/webhooks", {**VALID, "rate_limit": "5"}, "rate_limit"),
    ("POST", "/webhooks", {**VALID, "headers": {"Host": "x"}}, "headers"),
    ("POST", "/webhooks", {**VALID, "secret": "whsec_x"}, "secret"),
    ("PATCH", "/webhooks/{webhook_id}", {"url": "https://u:p@example.com/"}, "url"),
    ("PATCH", "/webhooks/{webhook_id}", {"active": "yes"}, "active"),
    ("PATCH", "/webhooks/{webhook_id}", {"headers": {"X-A": 5}}, "headers"),
    ("POST", "/deliveries/retry-failed", {"webhook_id": 0, "since": "2026-01-01"}, "webhook_id"),
    ("POST", "/deliveries/retry-failed", {"webhook_id": 1, "since": "soon"}, "since"),
    ("POST", "/zapier/subscribe", {"target_url": "x", "event": "invoice_sent"}, "target_url"),
    ("POST", "/zapier/subscribe", {"target_url": VALID["url"], "event": "x"}, "event"),
]


@pytest.mark.parametrize(("method", "template", "payload", "field"), BAD_BODIES, ids=repr)
def test_a_bad_body_is_a_422_naming_the_field_and_saves_nothing(
    app, client, token, make_webhook, method, template, payload, field
):
    webhook_id = make_webhook()
    before = snapshot(app)

    response = client.open(
        "/api/v1" + template.format(webhook_id=webhook_id),
        method=method,
        json=payload,
        headers=bearer(token),
    )

    assert response.status_code == 422, response.get_json()
    error = shapes.Error.model_validate(response.get_json()).error
    assert error.code == "validation_failed"
    assert list(error.fields) == [field]
    assert field in error.message
    assert snapshot(app) == before


def test_patch_checks_only_the_fields_it_sends(app, client, token, make_webhook):
    # Stored before today's rules: a one-letter name the rules would refuse now.
    webhook_id = make_webhook(name="A")

    switched_off = client.patch(
        f"/api/v1/webhooks/{webhook_id}", json={"active": False}, headers=bearer(token)
    )
    renamed = client.patch(
        f"/api/v1/webhooks/{webhook_id}", json={"name": "B"}, headers=bearer(token)
    )

    assert switched_off.status_code == 200, switched_off.get_json()
    assert (switched_off.get_json()["name"], switched_off.get_json()["active"]) == ("A", False)
    assert renamed.status_code == 422
    assert list(renamed.get_json()["error"]["fields"]) == ["name"]


def test_an_error_answer_is_the_error_model_with_fields_only_on_422(client, token):
    missing = client.get("/api/v1/webhooks/999", headers=bearer(token))
    refused = client.post("/api/v1/webhooks", json={}, headers=bearer(token))

    assert missing.status_code == 404
    assert set(missing.get_json()["error"]) == {"code", "message"}
    assert shapes.Error.model_validate(missing.get_json()).error.code == "not_found"
    assert set(refused.get_json()["error"]["fields"]) == {"name", "url", "event"}
    assert json.loads(json.dumps(refused.get_json())) == shapes.body(
        shapes.Error.model_validate(refused.get_json())
    )
