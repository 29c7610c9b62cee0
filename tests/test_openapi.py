"""The OpenAPI document: a valid OpenAPI 3.1 document that describes exactly the API's routes,
served behind the bearer token, whose schemas every real answer of the API fits, and shown to
the admin as the API page.

Answers are checked with jsonschema_rs, the validator schemathesis itself uses.
"""

import copy
import json
import re
from urllib.parse import urlsplit

import jsonschema_rs
import pytest
from schemathesis.specs.openapi.definitions import OPENAPI_31_VALIDATOR

from tests.engine_helpers import (
    FakeClock,
    Script,
    api_token,
    bearer,
    expand,
    update_delivery,
    update_webhook,
    work,
)
from webhooks.api.openapi import API_PREFIX, openapi_document

HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
PAYMENT = {"payment_id": 7, "payment_total": "$9.00"}


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


# ---------------------------------------------------------------- the document itself


def walk(node, where=()):
    """Every (location, dict) in a JSON document."""
    if isinstance(node, dict):
        yield where, node
        for key, value in node.items():
            yield from walk(value, (*where, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk(value, (*where, index))


def resolve(doc, pointer: str):
    assert pointer.startswith("#/"), pointer
    node = doc
    for part in pointer[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def schemas_in(doc):
    """Every schema object of the document: components, parameters, bodies, responses."""
    yield from doc["components"]["schemas"].items()
    for where, node in walk(doc["paths"]):
        if "schema" in node and isinstance(node["schema"], dict) and "in" in node:
            yield "/".join(map(str, where)), node["schema"]
        if "content" in node:
            for media, content in node["content"].items():
                yield "/".join(map(str, (*where, media))), content["schema"]


def test_document_is_valid_openapi_3_1(doc):
    OPENAPI_31_VALIDATOR.validate(doc)
    assert doc["openapi"].startswith("3.1.")


def test_every_schema_in_the_document_is_a_valid_json_schema(doc):
    # The OpenAPI 3.1 meta-schema leaves schema objects to JSON Schema 2020-12: check them too.
    names = []
    for name, schema in schemas_in(doc):
        jsonschema_rs.meta.validate(schema)
        names.append(name)
    assert len(names) > len(doc["components"]["schemas"])


def test_every_reference_in_the_document_resolves(doc):
    references = [node["$ref"] for _, node in walk(doc) if isinstance(node.get("$ref"), str)]
    assert references
    for reference in references:
        assert isinstance(resolve(doc, reference), dict), reference


def test_document_has_the_objects_the_api_answers_with(doc):
    expected = {
        "Webhook",
        "WebhookInput",
        "Secret",
        "TestResult",
        "EventType",
        "Event",
        "EventInput",
        "Delivery",
        "DeliveryWithAttempts",
        "Attempt",
        "Error",
        "WebhookList",
        "DeliveryList",
        "EventTypeList",
    }
    assert expected <= set(doc["components"]["schemas"])
    assert doc["components"]["securitySchemes"]["bearerAuth"] == {
        **doc["components"]["securitySchemes"]["bearerAuth"],
        "type": "http",
        "scheme": "bearer",
    }
    assert doc["security"] == [{"bearerAuth": []}]


def test_every_operation_documents_401_and_every_write_403(doc):
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            if method not in HTTP_METHODS:
                continue
            assert "401" in operation["responses"], (method, path)
            if method != "get":
                assert "403" in operation["responses"], (method, path)
            if "{" in path:
                assert "404" in operation["responses"], (method, path)
            if "requestBody" in operation:
                for status in ("400", "415", "422"):
                    assert status in operation["responses"], (method, path, status)


def test_error_schema_has_code_message_and_optional_fields(doc):
    error = doc["components"]["schemas"]["Error"]["properties"]["error"]
    assert set(error["properties"]) == {"code", "message", "fields"}
    assert set(error["required"]) == {"code", "message"}


# ---------------------------------------------------------------- the document and the routes


def flask_path(rule: str) -> str:
    """A Flask rule as OpenAPI writes its path: ``<id:webhook_id>`` becomes ``{webhook_id}``."""
    return re.sub(r"<(?:[^<>:]+:)?([^<>]+)>", r"{\1}", rule)


def api_routes(app) -> set[tuple[str, str]]:
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(API_PREFIX + "/"):
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                routes.add((flask_path(rule.rule), method))
    return routes


def documented_operations(doc) -> set[tuple[str, str]]:
    (server,) = doc["servers"]
    return {
        (server["url"] + path, method.upper())
        for path, item in doc["paths"].items()
        for method in item
        if method in HTTP_METHODS
    }


def test_flask_rules_are_written_as_openapi_paths():
    assert flask_path("/api/v1/webhooks/<id:webhook_id>/secret") == (
        "/api/v1/webhooks/{webhook_id}/secret"
    )
    assert flask_path("/api/v1/event-types/<slug>") == "/api/v1/event-types/{slug}"


def test_document_describes_exactly_the_api_routes(app, doc):
    routes = api_routes(app)
    documented = documented_operations(doc)

    assert ("/api/v1/openapi.json", "GET") in routes
    assert documented - routes == set(), "documented, but the app has no such route"
    assert routes - documented == set(), "routes the document does not describe"


def test_path_parameters_are_named_as_in_the_routes(app, doc):
    for path, item in doc["paths"].items():
        in_path = set(re.findall(r"{([^}]+)}", path))
        declared = {p["name"] for p in item.get("parameters", []) if p["in"] == "path"}
        for method, operation in item.items():
            if method in HTTP_METHODS:
                own = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
                assert declared | own == in_path, (method, path)


# ---------------------------------------------------------------- the served document


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer whk_not-a-real-token"}, {"Authorization": "Basic eDp5"}],
    ids=["none", "unknown", "basic"],
)
def test_openapi_json_needs_a_bearer_token(app, client, headers):
    response = client.get("/api/v1/openapi.json", headers=headers)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.get_json()["error"]["code"] in ("unauthorized", "invalid_token")


@pytest.mark.parametrize("scope", ["full", "read"])
def test_openapi_json_is_the_document(app, client, doc, scope):
    response = client.get("/api/v1/openapi.json", headers=bearer(api_token(app, scope=scope)))

    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_json() == json.loads(json.dumps(doc))


def test_openapi_json_cannot_be_changed_through_a_request(app, client, token, doc):
    before = copy.deepcopy(doc)
    client.get("/api/v1/openapi.json", headers=bearer(token)).get_json()["paths"].clear()

    assert openapi_document() == before


# ---------------------------------------------------------------- real answers fit the schemas


class Api:
    """A test client that checks each answer against what the document declares for its
    operation and status: the status is documented, and the body fits the declared schema."""

    def __init__(self, client, token: str, doc: dict) -> None:
        self.client, self.token, self.doc = client, token, doc
        self.checked: list[tuple[str, str, int]] = []

    def __call__(self, method: str, template: str, *, query=None, json_body=None, **params):
        path = API_PREFIX + template.format(**params)
        response = self.client.open(
            path,
            method=method,
            query_string=query,
            json=json_body,
            headers=bearer(self.token),
        )
        self.conforms(method, template, response)
        return response

    def declared(self, method: str, template: str, status: int) -> dict:
        operation = self.doc["paths"][template][method.lower()]
        responses = operation["responses"]
        assert str(status) in responses, (
            f"{method} {template} answered {status}, which the document does not list: "
            + ", ".join(sorted(responses))
        )
        response = responses[str(status)]
        return resolve(self.doc, response["$ref"]) if "$ref" in response else response

    def conforms(self, method: str, template: str, response) -> None:
        declared = self.declared(method, template, response.status_code)
        content = declared.get("content")
        if content is None:
            assert response.get_data() == b"", (method, template, response.status_code)
        else:
            assert response.mimetype in content, (method, template, response.mimetype)
            schema = content[response.mimetype]["schema"]
            assert_fits(self.doc, schema, response.get_json(), f"{method} {template}")
        self.checked.append((method, template, response.status_code))


def assert_fits(doc: dict, schema: dict, instance, label: str = "") -> None:
    validator = jsonschema_rs.validator_for(
        {**schema, "components": doc["components"]}, validate_formats=True
    )
    errors = [f"{e.instance_path}: {e.message}" for e in validator.iter_errors(instance)]
    assert not errors, f"{label}: {errors}\n{json.dumps(instance, indent=2)[:2000]}"


@pytest.fixture
def api(client, token, doc):
    return Api(client, token, doc)


@pytest.fixture
def clock():
    return FakeClock()


def test_answers_fit_their_schemas_checker_catches_a_wrong_answer(doc):
    webhook = {"$ref": "#/components/schemas/Webhook"}
    with pytest.raises(AssertionError):
        assert_fits(doc, webhook, {"id": 1, "name": "x"})
    with pytest.raises(AssertionError):
        assert_fits(doc, {"$ref": "#/components/schemas/Error"}, {"error": {"code": "x"}})


def test_webhook_answers_fit_the_schemas(api, receiver):
    receiver.expect_request("/hook", method="POST").respond_with_data("thanks")
    created = api(
        "POST",
        "/webhooks",
        json_body={"name": "Shop", "url": receiver.url_for("/hook"), "event": "payment_received"},
    )
    assert created.status_code == 201, created.get_json()
    webhook_id = created.get_json()["id"]
    assert urlsplit(created.headers["Location"]).path == f"/api/v1/webhooks/{webhook_id}"

    assert api("GET", "/webhooks/{webhook_id}", webhook_id=webhook_id).status_code == 200
    listed = api("GET", "/webhooks", query={"per_page": 1, "event": "payment_received"})
    assert listed.status_code == 200
    assert [hook["id"] for hook in listed.get_json()["data"]] == [webhook_id]
    changed = api(
        "PATCH",
        "/webhooks/{webhook_id}",
        webhook_id=webhook_id,
        json_body={"name": "Shop 2", "payload_format": "flat", "active": False},
    )
    assert changed.status_code == 200
    assert changed.get_json()["status"] == "inactive"
    assert api("GET", "/webhooks/{webhook_id}/secret", webhook_id=webhook_id).status_code == 200
    rotated = api("POST", "/webhooks/{webhook_id}/rotate-secret", webhook_id=webhook_id)
    assert rotated.status_code == 200
    assert rotated.get_json()["previous_secret_expires_at"] is not None
    sent = api("POST", "/webhooks/{webhook_id}/test", webhook_id=webhook_id)
    assert sent.status_code == 200
    assert sent.get_json()["ok"] is True
    assert api("DELETE", "/webhooks/{webhook_id}", webhook_id=webhook_id).status_code == 204
    assert api("GET", "/webhooks/{webhook_id}", webhook_id=webhook_id).status_code == 404


def test_more_webhooks_than_a_page_fit_the_list_schema(api):
    for number in range(3):
        body = {"name": f"Hook {number}", "url": "https://example.com/h", "event": "invoice_sent"}
        assert api("POST", "/webhooks", json_body=body).status_code == 201

    first = api("GET", "/webhooks", query={"per_page": 2})
    assert first.get_json()["total"] == 3
    following = first.get_json()["next"]
    assert following is not None
    second = api.client.get(following, headers=bearer(api.token))
    api.conforms("GET", "/webhooks", second)
    assert second.get_json()["next"] is None


def test_failed_test_send_fits_the_test_result_schema(api, make_webhook):
    # Nothing listens on port 9 of 127.0.0.1: the send fails without an answer.
    webhook_id = make_webhook(url="http://127.0.0.1:9/hook")

    sent = api("POST", "/webhooks/{webhook_id}/test", webhook_id=webhook_id)

    assert sent.status_code == 200
    assert sent.get_json()["ok"] is False
    assert sent.get_json()["status_code"] is None


def test_disabled_webhook_fits_the_schema(app, api, make_webhook, clock):
    webhook_id = make_webhook()
    update_webhook(
        app,
        webhook_id,
        active=False,
        disabled_at=clock.now,
        disabled_reason="Gone",
        failing_since=clock.now,
        last_delivery_at=clock.now,
        last_delivery_ok=False,
        last_delivery_summary="410 Gone",
    )

    shown = api("GET", "/webhooks/{webhook_id}", webhook_id=webhook_id).get_json()

    assert shown["status"] == "disabled"
    assert shown["disabled_at"].endswith("Z")


def test_catalogue_answers_fit_the_schemas(api):
    listed = api("GET", "/event-types")
    assert listed.status_code == 200
    slugs = [event["slug"] for event in listed.get_json()["data"]]
    assert "payment_received" in slugs
    for slug in slugs:
        assert api("GET", "/event-types/{slug}", slug=slug).status_code == 200
    assert api("GET", "/event-types/{slug}", slug="no_such_event").status_code == 404


def test_event_answers_fit_the_schemas(app, api, make_webhook):
    make_webhook()
    payload = {"type": "payment_received", "data": PAYMENT, "id": "order-7"}

    first = api("POST", "/events", json_body=payload)
    again = api("POST", "/events", json_body=payload)
    refused = api("POST", "/events", json_body={"type": "payment_received"})

    assert (first.status_code, again.status_code, refused.status_code) == (202, 200, 422)
    event_id = first.get_json()["id"]
    # Read back before and after the engine expanded it: null, then a count and a moment.
    unexpanded = api("GET", "/events/{event_id}", event_id=event_id)
    assert unexpanded.status_code == 200
    assert unexpanded.get_json()["deliveries"] is None
    assert expand(app) == 1
    expanded = api("GET", "/events/{event_id}", event_id=event_id)
    assert expanded.status_code == 200
    assert expanded.get_json()["deliveries"] == 1
    assert expanded.get_json()["expanded_at"].endswith("Z")
    assert api("POST", "/events", json_body=payload).get_json() == expanded.get_json()


def test_reading_an_event_is_a_documented_operation(doc):
    item = doc["paths"]["/events/{event_id}"]
    operation = item["get"]

    assert operation["operationId"] == "getEvent"
    assert set(item) - {"parameters"} == {"get"}  # read only
    assert operation["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Event"
    }
    assert {"401", "404"} <= set(operation["responses"])
    event = doc["components"]["schemas"]["Event"]
    assert {"expanded_at", "deliveries"} <= set(event["required"])
    assert "null" in event["properties"]["expanded_at"]["type"]
    assert "null" in event["properties"]["deliveries"]["type"]


def test_delivery_answers_fit_the_schemas(app, api, receiver, make_webhook):
    receiver.expect_request("/ok", method="POST").respond_with_handler(
        Script((200, {"X-Receiver": "yes"}))
    )
    working = make_webhook(name="Working", url=receiver.url_for("/ok"))
    failing = make_webhook(name="Failing", url="http://127.0.0.1:9/down")
    assert api("POST", "/events", json_body={"type": "payment_received", "data": PAYMENT})
    clock = FakeClock()
    work(app, clock)

    listed = api("GET", "/deliveries", query={"limit": 1})
    assert listed.status_code == 200
    assert listed.get_json()["next"] is not None
    everything = api("GET", "/deliveries", query={"event": "payment_received"}).get_json()["data"]
    by_webhook = {delivery["webhook_id"]: delivery for delivery in everything}
    assert set(by_webhook) == {working, failing}
    assert api("GET", "/deliveries", query={"webhook_id": failing, "status": "failing"})

    for delivery in everything:
        shown = api("GET", "/deliveries/{delivery_id}", delivery_id=delivery["id"])
        assert shown.status_code == 200
        assert len(shown.get_json()["attempts"]) == 1
    redelivered = api(
        "POST", "/deliveries/{delivery_id}/redeliver", delivery_id=by_webhook[working]["id"]
    )
    assert redelivered.status_code == 202

    update_delivery(app, by_webhook[failing]["id"], status="failed", next_attempt_at=None)
    since = clock.now.strftime("%Y-%m-%dT%H:%M")
    retried = api(
        "POST",
        "/deliveries/retry-failed",
        json_body={"webhook_id": failing, "since": since},
    )
    assert retried.status_code == 202, retried.get_json()
    assert retried.get_json() == {"queued": 1, "retried_now": 0}


def test_test_send_delivery_fits_the_schemas_and_cannot_be_redelivered(api, make_webhook):
    webhook_id = make_webhook(url="http://127.0.0.1:9/hook")
    api("POST", "/webhooks/{webhook_id}/test", webhook_id=webhook_id)
    (delivery,) = api("GET", "/deliveries", query={"status": "test"}).get_json()["data"]
    assert delivery["is_test"] is True
    assert delivery["event_id"] is None

    shown = api("GET", "/deliveries/{delivery_id}", delivery_id=delivery["id"]).get_json()
    assert shown["attempts"][0]["status_code"] is None

    refused = api("POST", "/deliveries/{delivery_id}/redeliver", delivery_id=delivery["id"])
    assert refused.status_code == 409


def test_zapier_answers_fit_the_schemas(api):
    subscribed = api(
        "POST",
        "/zapier/subscribe",
        json_body={"target_url": "https://hooks.zapier.com/hooks/1/2", "event": "invoice_sent"},
    )
    assert subscribed.status_code == 201, subscribed.get_json()
    webhook_id = subscribed.get_json()["id"]
    assert subscribed.get_json()["integration"] == "zapier"

    listed = api("GET", "/zapier/perform-list", query={"event": "invoice_sent"})
    assert listed.status_code == 200
    assert len(listed.get_json()) >= 1

    gone = api("DELETE", "/zapier/subscribe/{webhook_id}", webhook_id=webhook_id)
    assert gone.status_code == 200
    assert gone.get_json() == {"id": webhook_id, "deleted": True}


def test_zapier_cannot_unsubscribe_a_webhook_it_did_not_make(api, make_webhook):
    webhook_id = make_webhook()

    refused = api("DELETE", "/zapier/subscribe/{webhook_id}", webhook_id=webhook_id)

    assert refused.status_code == 409
    assert api("GET", "/webhooks/{webhook_id}", webhook_id=webhook_id).status_code == 200


@pytest.mark.parametrize(
    ("method", "template", "params", "query", "body", "status"),
    [
        ("GET", "/webhooks/{webhook_id}", {"webhook_id": 999}, None, None, 404),
        ("PATCH", "/webhooks/{webhook_id}", {"webhook_id": 999}, None, {"name": "xy"}, 404),
        ("POST", "/webhooks", {}, None, {"name": "x", "url": "ftp://x", "event": "nope"}, 422),
        ("POST", "/webhooks", {}, None, {"name": "Shop", "colour": "red"}, 422),
        ("POST", "/webhooks", {}, None, [], 422),
        ("GET", "/webhooks", {}, {"per_page": "0"}, None, 422),
        ("GET", "/deliveries", {}, {"limit": "lots"}, None, 422),
        ("GET", "/deliveries/{delivery_id}", {"delivery_id": 999}, None, None, 404),
        ("GET", "/events/{event_id}", {"event_id": "evt_missing"}, None, None, 404),
        ("POST", "/deliveries/{delivery_id}/redeliver", {"delivery_id": 999}, None, None, 404),
        ("POST", "/deliveries/retry-failed", {}, None, {"webhook_id": "x"}, 422),
        ("POST", "/zapier/subscribe", {}, None, {"target_url": "nope"}, 422),
        ("GET", "/zapier/perform-list", {}, None, None, 422),
    ],
    ids=[
        "get-missing-webhook",
        "patch-missing-webhook",
        "create-invalid",
        "create-unknown-field",
        "create-not-object",
        "list-bad-query",
        "deliveries-bad-query",
        "missing-delivery",
        "missing-event",
        "redeliver-missing",
        "retry-invalid",
        "subscribe-invalid",
        "perform-list-without-event",
    ],
)
def test_error_answers_fit_the_error_schema(api, method, template, params, query, body, status):
    response = api(method, template, json_body=body, query=query, **params)

    assert response.status_code == status, response.get_json()
    error = response.get_json()["error"]
    assert ("fields" in error) == (status == 422 and body != [])


@pytest.mark.parametrize(
    ("method", "template"),
    [("POST", "/webhooks"), ("PATCH", "/webhooks/{webhook_id}"), ("POST", "/zapier/subscribe")],
)
def test_body_not_sent_as_json_is_a_documented_415(
    client, token, doc, make_webhook, method, template
):
    path = API_PREFIX + template.format(webhook_id=make_webhook())
    response = client.open(
        path, method=method, data="name=x", headers=bearer(token), content_type="text/plain"
    )

    Api(client, token, doc).conforms(method, template, response)
    assert response.status_code == 415


def test_read_only_token_refusals_are_documented(app, client, doc, make_webhook):
    webhook_id = make_webhook()
    read_only = Api(client, api_token(app, "dashboard", scope="read"), doc)

    assert read_only("GET", "/webhooks/{webhook_id}", webhook_id=webhook_id).status_code == 200
    assert (
        read_only("GET", "/webhooks/{webhook_id}/secret", webhook_id=webhook_id).status_code == 403
    )
    assert read_only("DELETE", "/webhooks/{webhook_id}", webhook_id=webhook_id).status_code == 403
    assert read_only("POST", "/events", json_body={"type": "x", "data": {}}).status_code == 403
    assert read_only("GET", "/events/{event_id}", event_id="evt_missing").status_code == 404


# ---------------------------------------------------------------- the admin's API page


def test_api_page_needs_login(client):
    response = client.get("/api-docs/")

    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/login"


def test_api_page_shows_every_operation(admin, doc):
    page = admin.get("/api-docs/")

    assert page.status_code == 200
    html = page.get_data(as_text=True)
    for path, method in documented_operations(doc):
        assert f">{method}</span>" in html
        assert f"<code>{path}</code>" in html or f'<code class="url">{path}</code>' in html, path
    for name in doc["components"]["schemas"]:
        assert f'id="schema-{name}"' in html


def test_api_page_shows_parameters_request_fields_and_responses(admin):
    html = admin.get("/api-docs/").get_data(as_text=True)
    create = html[html.index('id="endpoint-createWebhook"') :]
    create = create[: create.index("</article>")]

    for text in ("<code>name</code>", "<code>url</code>", "<code>payload_format</code>"):
        assert text in create
    for status in ("201", "401", "403", "415", "422"):
        assert f">{status}</span>" in create
    deliveries = html[html.index('id="endpoint-listDeliveries"') :]
    assert "<code>before</code>" in deliveries[: deliveries.index("</article>")]


def test_api_page_tells_how_to_authenticate_with_an_example(admin):
    html = admin.get("/api-docs/").get_data(as_text=True)

    assert "Authorization: Bearer &lt;token&gt;" in html
    assert "curl -H" in html
    assert "http://localhost/api/v1/webhooks" in html
    assert 'href="/tokens/"' in html


def test_api_page_loads_nothing_from_elsewhere(admin):
    html = admin.get("/api-docs/").get_data(as_text=True)

    assert not re.search(r'<(?:script|link)[^>]+(?:src|href)="(?:https?:)?//', html)


def test_nav_links_to_the_api_page(admin):
    html = admin.get("/webhooks/").get_data(as_text=True)

    assert re.search(r'<a href="/api-docs/"[^>]*>API</a>', html)
    current = admin.get("/api-docs/").get_data(as_text=True)
    assert re.search(r'<a href="/api-docs/" aria-current="page">API</a>', current)
