"""GET /api/v1/event-types: the catalogue as an integration reads it, each event with its sample
data and a JSON Schema of that data.

``jsonschema`` is not installed, so schemas are checked by a small validator of the keywords the
catalogue's schemas may use; it refuses any other keyword, so a schema cannot pass by using
something the check does not understand.
"""

import json

import pytest

from tests.engine_helpers import api_token, assert_api_error, bearer
from webhooks.catalogue import all_events
from webhooks.catalogue.events import EventType
from webhooks.catalogue.schema import data_schema, json_type

DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_KEYWORDS = {
    "$schema",
    "title",
    "description",
    "type",
    "properties",
    "required",
    "additionalProperties",
}
BILLING_FIELDS = {
    "company_name",
    "billing_email",
    "billing_address_line_1",
    "billing_address_line_2",
    "billing_country",
    "billing_state",
    "billing_city",
    "billing_zip_code",
}
MODEL_EVENTS = [
    f"{model}_{change}"
    for model in ("customer", "membership", "payment")
    for change in ("created", "updated")
]
JSON_TYPES = {
    "string": str,
    "integer": int,
    "number": (int, float),
    "boolean": bool,
    "null": type(None),
    "array": list,
    "object": dict,
}


@pytest.fixture
def config(config):
    config["PROPAGATE_EXCEPTIONS"] = False  # a crash must come back as the 500 a client sees
    return config


@pytest.fixture
def token(app):
    return api_token(app, "reader", scope="read")


def get(client, token, path: str):
    return client.get(f"/api/v1{path}", headers=bearer(token))


def has_type(value, name: str) -> bool:
    """JSON Schema's idea of ``value`` being of type ``name``."""
    if isinstance(value, bool) and name in ("integer", "number"):
        return False
    if name == "integer" and isinstance(value, float):
        return value.is_integer()
    return isinstance(value, JSON_TYPES[name])


def schema_errors(schema: dict, instance) -> list[str]:
    """What is wrong with ``instance`` by ``schema`` (an object schema of typed properties)."""
    assert set(schema) <= SCHEMA_KEYWORDS, set(schema) - SCHEMA_KEYWORDS
    if not has_type(instance, schema["type"]):
        return [f"not {schema['type']}"]
    errors = [f"{name} is missing" for name in schema.get("required", []) if name not in instance]
    for name, value in instance.items():
        field = schema.get("properties", {}).get(name)
        if field is None:
            if schema.get("additionalProperties", True) is False:
                errors.append(f"{name} is not allowed")
            continue
        assert set(field) == {"type"}, field
        if not has_type(value, field["type"]):
            errors.append(f"{name} is not {field['type']}")
    return errors


# ---------------------------------------------------------------- the list and one


def test_event_types_list_the_whole_catalogue_in_its_order(app, client, token):
    response = get(client, token, "/event-types")

    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"data"}
    assert [shown["slug"] for shown in body["data"]] == [event.slug for event in all_events()]
    for shown, event in zip(body["data"], all_events(), strict=True):
        assert set(shown) == {"slug", "name", "description", "sample", "schema", "schema_mode"}
        assert shown["schema_mode"] == "warn"  # SCHEMA_ENFORCEMENT's default
        assert shown["name"] == event.name
        assert shown["description"] == event.description
        assert shown["sample"] == json.loads(json.dumps(dict(event.sample)))
        assert shown["schema"] == data_schema(event)


def test_one_event_type_is_read_by_its_slug(client, token):
    response = get(client, token, "/event-types/domain_created")

    assert response.status_code == 200
    shown = response.get_json()
    assert shown["slug"] == "domain_created"
    assert shown["name"] == "New Domain Mapping Added"
    assert shown["sample"]["domain_domain"] == "example.com"
    assert shown["schema"]["properties"]["domain_active"] == {"type": "boolean"}
    assert shown["schema"]["properties"]["domain_id"] == {"type": "integer"}
    assert shown["schema"]["properties"]["membership_amount_raw"] == {"type": "number"}
    assert shown["schema"]["properties"]["site_url"] == {"type": "string"}


@pytest.mark.parametrize(
    "slug",
    ["nope", "Payment_Received", "payment_received ", "pay%C3%A9", "x" * 5000, "%F0%9F%92%A5"],
)
def test_an_unknown_event_type_is_404_not_found(client, token, slug):
    response = get(client, token, f"/event-types/{slug}")
    message = assert_api_error(response, 404, "not_found")
    assert "/api/v1/event-types" in message


def test_event_types_need_a_token_and_are_read_only(app, client):
    assert_api_error(client.get("/api/v1/event-types"), 401, "unauthorized")
    assert_api_error(
        client.get("/api/v1/event-types", headers=bearer("whk_not-a-token")), 401, "invalid_token"
    )
    full = api_token(app, "writer")
    response = client.post("/api/v1/event-types", headers=bearer(full), json={})
    assert_api_error(response, 405, "method_not_allowed")


# ---------------------------------------------------------------- schemas


@pytest.mark.parametrize("event", all_events(), ids=lambda event: event.slug)
def test_every_sample_is_valid_by_its_own_schema(client, token, event):
    shown = get(client, token, f"/event-types/{event.slug}").get_json()
    schema = shown["schema"]

    assert schema["$schema"] == DIALECT
    assert schema["type"] == "object"
    assert schema["additionalProperties"] is True
    assert sorted(shown["sample"]) == sorted(schema["properties"])
    assert sorted(schema["required"]) == sorted(set(shown["sample"]) - BILLING_FIELDS)
    assert schema_errors(schema, shown["sample"]) == []


@pytest.mark.parametrize("slug", MODEL_EVENTS)
def test_a_model_event_without_billing_fields_is_valid_by_its_schema(client, token, slug):
    """The original sends only the billing fields that are filled in, so they may be missing;
    when present they are strings."""
    shown = get(client, token, f"/event-types/{slug}").get_json()
    schema, sample = shown["schema"], shown["sample"]

    assert {name: schema["properties"][name] for name in BILLING_FIELDS} == {
        name: {"type": "string"} for name in BILLING_FIELDS
    }
    unfilled = {name: value for name, value in sample.items() if name not in BILLING_FIELDS}
    assert schema_errors(schema, unfilled) == []
    assert schema_errors(schema, {**sample, "billing_city": 7}) == ["billing_city is not string"]
    missing = {name: value for name, value in sample.items() if name != "customer_id"}
    assert schema_errors(schema, missing) == ["customer_id is missing"]


def test_the_schema_check_refuses_data_that_breaks_the_schema(client, token):
    shown = get(client, token, "/event-types/domain_created").get_json()
    schema, sample = shown["schema"], shown["sample"]

    assert schema_errors(schema, {**sample, "domain_id": "9"}) == ["domain_id is not integer"]
    assert schema_errors(schema, {**sample, "domain_active": 1}) == ["domain_active is not boolean"]
    assert schema_errors(schema, {**sample, "payment_total_raw": 1.5}) == []  # extra is allowed
    missing = {name: value for name, value in sample.items() if name != "site_title"}
    assert schema_errors(schema, missing) == ["site_title is missing"]
    assert schema_errors(schema, [sample]) == ["not object"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("text", "string"),
        ("", "string"),
        (0, "integer"),
        (-7, "integer"),
        (29.0, "number"),
        (True, "boolean"),
        (False, "boolean"),
        (None, "null"),
        ([1, "a"], "array"),
        ((), "array"),
        ({"a": 1}, "object"),
    ],
)
def test_each_field_type_follows_the_sample_value(value, expected):
    assert json_type(value) == expected
    event = EventType("probe", "Probe", "A probe.", {"field": value})  # type: ignore[arg-type]
    schema = data_schema(event)
    assert schema["properties"] == {"field": {"type": expected}}
    assert schema["required"] == ["field"]
    assert schema_errors(schema, json.loads(json.dumps({"field": value}))) == []


def test_a_value_json_cannot_hold_is_refused():
    with pytest.raises(TypeError):
        json_type({1, 2})
