"""Bad input, generated: hypothesis throws random and hostile values at the webhook form, at
POST /api/v1/events and at `flask events send`.

Whatever comes in, the answer is never a server error (nor, on the command line, a traceback);
a refusal says what is wrong and writes nothing; an acceptance stores exactly what was sent.
Each example is checked against an oracle written from the documented rules, so a value that
should be accepted but is refused fails as surely as a crash. The runs are derandomized: CI
tries the same inputs every time.
"""

import html
import json
import math
import re
from dataclasses import dataclass, field
from urllib.parse import quote_from_bytes

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from werkzeug.http import parse_options_header

from tests.conftest import csrf_token
from tests.engine_helpers import api_token, assert_api_error, bearer, expand, stored
from tests.test_webhook_form import field_block, webhook_count
from webhooks.catalogue import all_events
from webhooks.extensions import db
from webhooks.models import Event, Webhook

SLUGS = frozenset(event_type.slug for event_type in all_events())
FORMATS = ("standard", "flat")
FORM_FIELDS = ("name", "url", "event", "payload_format", "active")
MAX_DEPTH = 64  # the documented nesting limit of an event's data
MISSING = None


def fuzz(examples: int):
    """Reproducible settings: the same inputs on every run, no example database."""
    return settings(
        deadline=None,
        max_examples=examples,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


# ---------------------------------------------------------------- hostile values


def mostly(usual, other):
    """``usual`` about three times in four, else ``other``."""
    return st.sampled_from([usual, usual, usual, other]).flatmap(lambda chosen: chosen)


NASTY = [
    "",
    " ",
    "\x00",
    "Shop\x00hook",
    "\r\n",
    "two\r\nlines",
    "tab\there",
    "\x7f",
    "\x1b[31mred",
    "\u202egnp.exe",  # right-to-left override
    "مرحبا بالعالم",
    "שלום עולם",
    "e\u0301\u0302\u0303\u0304",  # combining marks
    "Z\u0351\u0364\u0300a\u0337\u0316l\u0360g\u0334o",
    "\U0001f600\U0001f469\u200d\U0001f469\u200d\U0001f467",
    "\ufeffBOM",
    "\u2028\u2029",
    "\x85NEL",
    "\u00a0\u3000",
    "\ud800",
    "\udfff",
    "a\udcffb",
    "\uffff\ufffe",
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "{{ 7*7 }}{% raw %}",
    "' OR 1=1 --",
    "%00%ff",
    "../../etc/passwd",
    "null",
    "[]",
    "y",
    "false",
    "payment_received",
    "standard",
    "flat",
    "javascript:alert(1)",
    "https://example.com/hook",
    "HTTPS://EXAMPLE.COM/",
    "http://127.0.0.1:8080/hook",
    "http://[::1",
    "http://:80/",
    "https://user:pw@example.com/",
    "https://example.com:0/",
    "https://example.com:99999/",
    "https://" + "a" * 64 + ".com/",
    "https://xn--/",
    "https://exa mple.com/",
    "https://example.com/\x00",
]
MARKUP = ("<script>alert(1)</script>", "<img src=x onerror=alert(1)>")

nasty = st.sampled_from(NASTY)
any_text = st.text(max_size=40)  # every code point, lone surrogates and controls included
huge = st.builds(
    lambda unit, count: unit * count,
    st.sampled_from(["N", "é", "\U0001f600", "<b>", "\x00", "a b", "\u202e", "https://x.io/"]),
    st.integers(150, 5_000),
)
hostile_text = st.one_of(nasty, any_text, huge, st.builds("".join, st.lists(nasty, max_size=4)))


def as_bytes(value: str | bytes) -> bytes:
    """What a client puts on the wire: UTF-8, a lone surrogate as its (invalid) 3 bytes."""
    return value if isinstance(value, bytes) else value.encode("utf-8", "surrogatepass")


hostile_value = st.one_of(hostile_text, st.binary(max_size=30))


# ---------------------------------------------------------------- 1. the webhook form

valid_names = st.text(
    st.characters(min_codepoint=32, exclude_characters="\x7f", exclude_categories=("Cs",)),
    min_size=2,
    max_size=191,
).filter(lambda name: len(name.strip()) >= 2)
labels = st.from_regex(r"[a-z0-9]{1,12}", fullmatch=True)
valid_urls = st.builds(
    lambda scheme, host, port, path: f"{scheme}://{'.'.join(host)}{port}{path}",
    st.sampled_from(["http", "https", "HTTPS"]),
    st.lists(labels, min_size=1, max_size=4),
    st.one_of(st.just(""), st.integers(1, 65535).map(lambda port: f":{port}")),
    st.from_regex(r"(/[A-Za-z0-9._~-]{0,20}){0,4}", fullmatch=True),
)
SAFE_URL = re.compile(
    r"https?://([a-z0-9]{1,63})(\.[a-z0-9]{1,63})*(:(?P<port>[0-9]{1,5}))?(/[A-Za-z0-9._~/-]*)?",
    re.I,
)
FIELD_VALUES = {
    "name": mostly(valid_names, hostile_value),
    "url": mostly(valid_urls, st.one_of(valid_urls.map(lambda url: url + "\x00"), hostile_value)),
    "event": mostly(st.sampled_from(sorted(SLUGS)), hostile_value),
    "payload_format": mostly(st.sampled_from(FORMATS), hostile_value),
    "active": mostly(st.sampled_from(["y", "on", "false", "", "0"]), hostile_value),
}
JUNK_FIELDS = ["secret", "integration", "sent_count", "id", "submit", "disabled_at", "NAME"]


@dataclass(frozen=True)
class Part:
    name: str
    value: bytes
    is_file: bool = False


@dataclass(frozen=True)
class FormPost:
    """A form as it goes over the wire: URL-encoded or multipart, fields in any order,
    repeated, missing, or sent as a file upload."""

    encoding: str
    parts: tuple[Part, ...] = field(default_factory=tuple)

    def body(self, token: str) -> tuple[bytes, str]:
        parts = (Part("csrf_token", token.encode()), *self.parts)
        if self.encoding == "urlencoded":
            pairs = (
                f"{quote_from_bytes(p.name.encode(), safe='')}={quote_from_bytes(p.value, safe='')}"
                for p in parts
            )
            return "&".join(pairs).encode(), "application/x-www-form-urlencoded"
        boundary = b"hypothesis-form-boundary-7f3b2c9e4d1a"
        lines = []
        for part in parts:
            disposition = f'form-data; name="{part.name}"'
            lines.append(b"--" + boundary)
            if part.is_file:
                lines.append(f'Content-Disposition: {disposition}; filename="x.txt"'.encode())
                lines.append(b"Content-Type: application/octet-stream")
            else:
                lines.append(f"Content-Disposition: {disposition}".encode())
            lines += [b"", part.value]
        lines += [b"--" + boundary + b"--", b""]
        return b"\r\n".join(lines), f"multipart/form-data; boundary={boundary.decode()}"

    def seen(self, name: str) -> str | None:
        """The value the form reads for ``name``: the first one posted as a field (an upload
        is no field), decoded as Werkzeug decodes it; MISSING if there is none."""
        for part in self.parts:
            if part.name == name and not part.is_file:
                if self.encoding == "urlencoded":  # undecodable bytes stay percent-encoded
                    return part.value.decode("utf-8", "werkzeug.url_quote")
                return part.value.decode("utf-8", "replace")
        return MISSING


@st.composite
def form_posts(draw) -> FormPost:
    encoding = draw(st.sampled_from(["urlencoded", "multipart"]))
    shapes = ["one"] * 8 + ["missing", "repeated"]
    if encoding == "multipart":
        shapes.append("file")
    parts = []
    for name in FORM_FIELDS:
        shape = draw(st.sampled_from(shapes))
        if shape == "missing":
            continue
        count = draw(st.integers(2, 4)) if shape == "repeated" else 1
        for _ in range(count):
            value = as_bytes(draw(FIELD_VALUES[name]))
            parts.append(Part(name, value, is_file=shape == "file"))
    for name in draw(st.lists(st.sampled_from(JUNK_FIELDS), max_size=2)):
        parts.append(Part(name, as_bytes(draw(hostile_value))))
    return FormPost(encoding, tuple(draw(st.permutations(parts))))


def has_control(text: str) -> bool:
    return any(ord(ch) < 32 or ord(ch) == 127 for ch in text)


def refused_fields(post: FormPost, editing: bool) -> set[str]:
    """The fields the documented rules certainly refuse."""
    wrong = set()
    name = post.seen("name")
    if name is MISSING or not 2 <= len(name.strip()) <= 191 or has_control(name.strip()):
        wrong.add("name")
    url = post.seen("url")
    if (
        url is MISSING
        or not url.strip()
        or len(url.strip()) > 2048
        or any(ch.isspace() or has_control(ch) for ch in url.strip())
        or not url.strip().lower().startswith(("http:", "https:"))
    ):
        wrong.add("url")
    event_slug = post.seen("event")
    if (event_slug is MISSING and not editing) or event_slug not in SLUGS | {MISSING}:
        wrong.add("event")
    payload_format = post.seen("payload_format")
    if payload_format is not MISSING and payload_format not in FORMATS:
        wrong.add("payload_format")
    return wrong


def surely_valid_url(url: str) -> bool:
    match = SAFE_URL.fullmatch(url)
    if not match or len(url) > 2048:
        return False
    return match["port"] is None or 0 < int(match["port"]) <= 65535


def expected_row(post: FormPost, before: dict) -> dict:
    """The webhook a valid post gives: name and URL without surrounding spaces, event and
    format as chosen (kept when left out of an edit), Active when the box was ticked."""

    def chosen(name):
        value = post.seen(name)
        return before[name] if value is MISSING else value

    return {
        "name": post.seen("name").strip(),
        "url": post.seen("url").strip(),
        "event": chosen("event"),
        "payload_format": chosen("payload_format"),
        "active": post.seen("active") not in (MISSING, "false", ""),
        "secret": before["secret"],
        "integration": "manual",
    }


def row_values(app, webhook_id: int) -> dict | None:
    with app.app_context():
        hook = db.session.get(Webhook, webhook_id)
        if hook is None:
            return None
        return {
            "name": hook.name,
            "url": hook.url,
            "event": hook.event,
            "payload_format": hook.payload_format,
            "active": hook.active,
            "secret": hook.secret,
            "integration": hook.integration,
        }


def check_form_post(app, admin, path: str, post: FormPost, webhook_id: int | None) -> None:
    """Post ``post`` to ``path`` (Add New Webhook, or the edit form of ``webhook_id``) and
    check the answer and the database against the rules."""
    editing = webhook_id is not None
    before = row_values(app, webhook_id) if editing else {"event": None, "secret": None}
    before.setdefault("payload_format", "standard")
    rows = webhook_count(app)
    body, content_type = post.body(csrf_token(admin, path))
    response = admin.post(path, data=body, content_type=content_type)
    page = response.get_data(as_text=True)
    status = response.status_code
    assert status < 500, page[:2000]
    if len(body) > app.config["MAX_CONTENT_LENGTH"]:
        assert status == 413
    if status == 413:
        event("form: refused as too large (413)")
        assert len(body) > app.config["MAX_FORM_MEMORY_SIZE"], len(body)
        assert "Too Large" in page
        assert webhook_count(app) == rows
        if editing:
            assert row_values(app, webhook_id) == before
        return
    wrong = refused_fields(post, editing)
    url = post.seen("url")
    must_accept = not wrong and surely_valid_url(url.strip())
    if status == 302:
        event("form: accepted")
        assert not wrong, wrong
        target = re.fullmatch(r"/webhooks/(\d+)/edit", response.headers["Location"])
        assert target, response.headers["Location"]
        saved_id = int(target.group(1))
        if editing:
            assert saved_id == webhook_id
            assert webhook_count(app) == rows
        else:
            assert webhook_count(app) == rows + 1
            before["secret"] = row_values(app, saved_id)["secret"]
        assert before["secret"].startswith("whsec_")
        assert all(part.value != before["secret"].encode() for part in post.parts)
        assert row_values(app, saved_id) == expected_row(post, before)
        return
    event(f"form: refused, {'+'.join(sorted(wrong)) or 'other url'} wrong")
    assert status == 200, page[:2000]
    assert not must_accept, "a valid post was refused:\n" + page[:3000]
    blocks = {name: field_block(page, name) for name in FORM_FIELDS}
    for name in wrong:
        assert "has-error" in blocks[name], (name, blocks[name])
    flagged = [name for name, block in blocks.items() if "has-error" in block]
    assert flagged, "refused without a message beside a field"
    for name in flagged:
        message = re.search(r'<p class="error"[^>]*>([^<]{10,})</p>', blocks[name])
        assert message, blocks[name]
    for markup in MARKUP:
        assert markup not in page
    assert webhook_count(app) == rows
    if editing:
        assert row_values(app, webhook_id) == before


NUL_NAME = FormPost(
    "urlencoded",
    (
        Part("name", b"Shop\x00hook"),
        Part("url", b"https://example.com/hook"),
        Part("event", b"payment_received"),
    ),
)
SURROGATE_NAME = FormPost(
    "urlencoded",
    (
        Part("name", as_bytes("\ud800 lone")),
        Part("url", b"https://example.com/"),
        Part("event", b"invoice_sent"),
    ),
)
NAME_AS_FILE = FormPost(
    "multipart",
    (
        Part("name", b"Uploaded", is_file=True),
        Part("url", b"https://example.com/"),
        Part("event", b"payment_received"),
    ),
)
EVERY_FIELD_AS_FILE = FormPost(
    "multipart", tuple(Part(name, b"x" * 3, is_file=True) for name in FORM_FIELDS)
)
REPEATED_HOSTILE_FIRST = FormPost(
    "multipart",
    (
        Part("name", b"<script>alert(1)</script>\r\n"),
        Part("name", b"Good name"),
        Part("url", b"javascript:alert(1)"),
        Part("url", b"https://example.com/"),
        Part("event", b"payment_received"),
        Part("payload_format", b"flat"),
        Part("payload_format", b"xml"),
        Part("active", b"false"),
        Part("secret", b"whsec_chosen_by_the_attacker"),
    ),
)
OVER_ONE_MEGABYTE = FormPost(
    "urlencoded",
    (
        Part("name", b"N" * 1_100_000),
        Part("url", b"https://example.com/"),
        Part("event", b"payment_received"),
    ),
)
HUGE_MULTIPART_FIELD = FormPost(
    "multipart",
    (
        Part("name", "\U0001f600".encode() * 150_000),
        Part("url", b"https://example.com/"),
        Part("event", b"payment_received"),
    ),
)
FORM_EXAMPLES = [
    NUL_NAME,
    SURROGATE_NAME,
    NAME_AS_FILE,
    EVERY_FIELD_AS_FILE,
    REPEATED_HOSTILE_FIRST,
    OVER_ONE_MEGABYTE,
    HUGE_MULTIPART_FIELD,
]


def with_examples(examples):
    def decorate(test):
        for value in reversed(examples):
            test = example(post=value)(test)
        return test

    return decorate


@fuzz(160)
@with_examples(FORM_EXAMPLES)
@given(post=form_posts())
def test_add_webhook_form_never_fails_on_hostile_input(app, admin, post):
    check_form_post(app, admin, "/webhooks/new", post, None)


@fuzz(120)
@with_examples(FORM_EXAMPLES)
@given(post=form_posts())
def test_edit_webhook_form_never_fails_on_hostile_input(app, admin, make_webhook, post):
    webhook_id = make_webhook(name="Original", url="https://old.example.com/hook")
    check_form_post(app, admin, f"/webhooks/{webhook_id}/edit", post, webhook_id)


# Regressions found by the properties above.


def test_field_sent_as_a_file_upload_is_a_missing_field_not_a_server_error(app, admin):
    """A multipart post with the name as a file reached the Length rule as a FileStorage: a
    500. The form now reads posted fields only."""
    body, content_type = NAME_AS_FILE.body(csrf_token(admin, "/webhooks/new"))

    response = admin.post("/webhooks/new", data=body, content_type=content_type)

    assert response.status_code == 200
    block = html.unescape(field_block(response.get_data(as_text=True), "name"))
    assert "has-error" in block and "Give the webhook a name." in block
    assert webhook_count(app) == 0


@pytest.mark.parametrize(
    "payload",
    [[1, 2], "name", 7, {"name": ["a", "b"], "url": {"x": 1}, "event": 5, "active": []}],
    ids=["list", "string", "number", "wrong-types"],
)
def test_webhook_form_posted_as_json_is_refused_not_a_server_error(app, admin, payload):
    """Flask-WTF filled the form from a JSON body: a list or a number crashed it (a 500)."""
    token = csrf_token(admin, "/webhooks/new")

    response = admin.post("/webhooks/new", json=payload, headers={"X-CSRFToken": token})

    assert response.status_code == 200
    assert "Give the webhook a name." in response.get_data(as_text=True)
    assert webhook_count(app) == 0


@fuzz(40)
@given(payload=st.deferred(lambda: json_values))
def test_webhook_form_posted_as_any_json_document_saves_nothing(app, admin, payload):
    """A body of any JSON shape (a list where one value is expected, numbers, objects) with a
    valid CSRF header: the form is shown again with its messages, nothing is saved."""
    rows = webhook_count(app)
    token = csrf_token(admin, "/webhooks/new")

    response = admin.post("/webhooks/new", json=payload, headers={"X-CSRFToken": token})

    assert response.status_code == 200
    assert "Give the webhook a name." in response.get_data(as_text=True)
    assert webhook_count(app) == rows


def test_bulk_action_posted_as_json_changes_nothing(app, admin, make_webhook):
    make_webhook()
    token = csrf_token(admin, "/webhooks/")

    response = admin.post("/webhooks/bulk", json=[1, 2], headers={"X-CSRFToken": token})

    assert response.status_code == 302
    assert webhook_count(app) == 1
    assert "Choose a bulk action." in admin.get("/webhooks/").get_data(as_text=True)


def test_form_body_that_is_not_utf8_is_refused_not_a_server_error(app, admin):
    token = csrf_token(admin, "/webhooks/new")
    body = f"csrf_token={token}&name=Caf\xe9&url=https://example.com/&event=invoice_sent"

    response = admin.post(
        "/webhooks/new",
        data=body.encode("latin-1"),
        content_type="application/x-www-form-urlencoded",
    )

    assert response.status_code == 400
    assert "The form has expired" in response.get_data(as_text=True)
    assert webhook_count(app) == 0


# ---------------------------------------------------------------- 2. POST /api/v1/events

json_text = st.one_of(st.text(max_size=20), nasty)
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([math.nan, math.inf, -math.inf, -0.0, 1e308, 5e-324, 2**64, -(2**63)]),
    json_text,
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=5), st.dictionaries(json_text, children, max_size=5)
    ),
    max_leaves=25,
)
json_objects = st.dictionaries(json_text, json_values, max_size=6)
event_types = st.one_of(st.sampled_from(sorted(SLUGS)), nasty, any_text, json_values)
text_keys = st.one_of(
    st.text(min_size=1, max_size=20),
    st.text(st.sampled_from("ab\x00"), min_size=1, max_size=4),
    st.sampled_from(["k" * 255, "k" * 256, "", "\x00", "\ud800"]),
)
keys = st.one_of(st.none(), text_keys, json_values)


def nested_data(depth: int, kind: str = "object") -> str:
    """``data`` nesting ``depth`` levels deep (the data object itself is level 1), as text."""
    opening, closing = ('{"a":', "}") if kind == "object" else ("[", "]")
    return "{" + '"a":' + opening * (depth - 2) + "1" + closing * (depth - 2) + "}"


def envelope(data_text: str, event_type: str = "payment_received", key=None) -> str:
    extra = "" if key is None else f',"id":{json.dumps(key)}'
    return f'{{"type":{json.dumps(event_type)},"data":{data_text}{extra}}}'


@st.composite
def documents(draw) -> bytes:
    """A JSON document: anything, or an event with each member right, wrong or left out."""
    if draw(st.sampled_from([True, False, False, False, False])):
        document = draw(json_values)
    else:
        document = {}
        for member, values in (
            ("type", mostly(st.sampled_from(sorted(SLUGS)), event_types)),
            ("data", mostly(json_objects, json_values)),
            ("id", mostly(st.none(), keys)),
        ):
            if member == "id" or draw(st.sampled_from([True] * 6 + [False])):
                document[member] = draw(values)
        if draw(st.booleans()) and document.get("id", 0) is None:
            del document["id"]
        for junk in draw(st.lists(json_text, max_size=2)):
            document.setdefault(junk, draw(json_values))
    ascii_only = draw(st.booleans())
    return json.dumps(document, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


def sized_body(size: int, unit: str) -> bytes:
    """An event whose body is exactly ``size`` bytes, padded with ``unit``."""
    empty = envelope('{"blob":""}' if unit != "0," else '{"blob":[]}').encode()
    room = size - len(empty)
    if unit == "0,":
        items = ",".join(["0"] * ((room + 1) // 2))
        text = envelope('{"blob":[' + items + "]}")
        return (text + " " * (size - len(text.encode()))).encode()
    filler = unit * (room // len(unit.encode()))
    text = envelope(json.dumps({"blob": filler}, ensure_ascii=False))
    return (text + " " * (size - len(text.encode()))).encode()


@st.composite
def hostile_bodies(draw) -> bytes:
    kind = draw(
        st.sampled_from(
            ["bomb", "deep-data", "around-limit", "binary", "flipped", "expanding", "huge-string"]
        )
    )
    if kind == "bomb":
        depth = draw(st.integers(65, 12_000))
        opening = draw(st.sampled_from(["[", '{"a":', '{"type":"payment_received","data":']))
        closed = draw(st.booleans())
        inner = opening * depth + ("1" + ("]" if opening == "[" else "}") * depth if closed else "")
        return inner.encode()
    if kind == "deep-data":
        depth = draw(st.integers(MAX_DEPTH - 3, 1100))
        return envelope(nested_data(depth, draw(st.sampled_from(["object", "list"])))).encode()
    if kind == "around-limit":
        limit = 256 * 1024
        return sized_body(
            draw(st.integers(limit - 64, limit + 64)), draw(st.sampled_from(["x", "é", "0,"]))
        )
    if kind == "binary":
        return draw(st.binary(max_size=200))
    if kind == "flipped":
        body = bytearray(draw(documents()))
        for _ in range(draw(st.integers(1, 3))):
            index = draw(st.integers(0, max(len(body) - 1, 0)))
            body[index : index + 1] = bytes([draw(st.integers(0, 255))])
        return bytes(body)
    if kind == "expanding":
        # Short in the request, long once stored: 1e15 is written out as 1000000000000000.0.
        count = draw(st.integers(1, 20_000))
        return envelope('{"x":[' + ",".join(["1e15"] * count) + "]}").encode()
    unit = draw(st.sampled_from(["\\u0000", "\\ud83d\\ude00", "\\u00e9", "\U0001f600", "\x00"]))
    count = draw(st.integers(1, 70_000))
    return envelope('{"s":"' + unit * count + '"}').encode("utf-8")


def depth_of(value) -> int:
    """How deeply a parsed JSON value nests (a scalar is 1), without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if isinstance(item, dict):
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
    return deepest


def storable_text(value) -> bool:
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


def is_json_type(content_type: str | None) -> bool:
    mimetype = parse_options_header(content_type or "")[0].lower()
    return mimetype == "application/json" or (
        mimetype.startswith("application/") and mimetype.endswith("+json")
    )


ACCEPT = (202, None)


def judge_event(payload, limit: int) -> set[tuple[int, str | None]]:
    """The answers the documented rules allow for an event ``payload`` already parsed."""
    allowed = set()
    if depth_of(payload) > 400:  # the server's deeper stack may give up parsing earlier
        allowed.add((400, "invalid_json"))
    if not isinstance(payload, dict):
        return allowed | {(422, "invalid_body")}
    if "type" not in payload:
        return allowed | {(422, "missing_type")}
    if "data" not in payload:
        return allowed | {(422, "missing_data")}
    event_type, data, key = payload["type"], payload["data"], payload.get("id")
    if not isinstance(event_type, str) or event_type not in SLUGS:
        return allowed | {(422, "unknown_event_type")}
    if key is not None and not (
        isinstance(key, str) and 0 < len(key) <= 255 and storable_text(key) and "\x00" not in key
    ):
        return allowed | {(422, "invalid_id")}
    if not isinstance(data, dict) or depth_of(data) > MAX_DEPTH:
        return allowed | {(422, "invalid_data")}
    try:
        text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        size = len(text.encode())
    except ValueError:  # NaN or infinity, or a lone surrogate
        return allowed | {(422, "invalid_data")}
    if size > limit:
        return allowed | {(413, "payload_too_large")}
    return allowed | {ACCEPT}


def judge_body(body: bytes, content_type: str | None, limit: int):
    """The allowed answers for a request body, and the parsed body when it is JSON."""
    if not is_json_type(content_type):
        return {(415, "unsupported_media_type")}, None
    if len(body) > limit:
        return {(413, "payload_too_large")}, None
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        return {(400, "invalid_json")}, None
    return judge_event(payload, limit), payload


def events_by_key(app, key) -> Event | None:
    with app.app_context():
        return db.session.scalar(select(Event).where(Event.idempotency_key == key))


def event_by_uid(app, uid: str) -> Event:
    with app.app_context():
        row = db.session.scalar(select(Event).where(Event.uid == uid))
        db.session.expunge(row)
        return row


@pytest.fixture
def api(app, client, make_webhook):
    """A token, one webhook subscribed to payment_received, and a check of one POST."""
    make_webhook(name="subscriber", url="https://example.com/hook")
    token = api_token(app)

    def check(body: bytes, content_type: str | None = "application/json") -> None:
        limit = app.config["MAX_EVENT_BYTES"]
        allowed, payload = judge_body(body, content_type, limit)
        earlier = None
        if ACCEPT in allowed and payload.get("id") is not None:
            earlier = events_by_key(app, payload["id"])
        counts = stored(app)
        headers = bearer(token) | ({"Content-Type": content_type} if content_type else {})
        response = client.post("/api/v1/events", data=body, headers=headers)
        status = response.status_code
        assert status < 500, response.get_data(as_text=True)[:2000]
        if status in (200, 202):
            event(f"api: {'repeated id' if status == 200 else 'accepted'}")
            assert ACCEPT in allowed, (allowed, response.get_json())
            check_accepted(app, response, payload, earlier, counts)
            return
        message = assert_api_error(response, status)
        code = response.get_json()["error"]["code"]
        event(f"api: refused {status} {code}")
        assert (status, code) in allowed, (allowed, status, code, message)
        assert stored(app) == counts

    return check


def check_accepted(app, response, payload, earlier, counts) -> None:
    answer = response.get_json()
    subscribed = 1 if payload["type"] == "payment_received" else 0
    if earlier is not None:
        assert response.status_code == 200
        assert answer["id"] == earlier.uid
        # Every accepted event is expanded before the next request: the first one's count.
        assert answer["deliveries"] == earlier.delivery_count
        assert stored(app) == counts
        return
    assert response.status_code == 202
    assert answer["type"] == payload["type"]
    assert answer["idempotency_key"] == payload.get("id")
    assert answer["expanded_at"] is None and answer["deliveries"] is None  # stored alone
    row = event_by_uid(app, answer["id"])
    assert (row.type, row.idempotency_key, row.source) == (
        payload["type"],
        payload.get("id"),
        "api",
    )
    assert json.loads(row.data) == payload["data"]
    assert stored(app) == {
        "events": counts["events"] + 1,
        "deliveries": counts["deliveries"],
        "attempts": counts["attempts"],
    }
    assert expand(app) == subscribed
    assert event_by_uid(app, answer["id"]).delivery_count == subscribed


@fuzz(250)
@example(envelope('{"name":"\\u0000","\\u0000":["a\\u0000b"]}').encode())
@example(envelope("{}", key="order\x00paid").encode())
@example(envelope('{"total":NaN}').encode())
@example(envelope('{"s":"\\ud800"}').encode())
@example(b'{"type":"payment_received","data":{"a":1},"data":[]}')
@given(body=documents())
def test_any_json_document_is_refused_clearly_or_stored_exactly(api, body):
    api(body)


@fuzz(120)
@example(("[" * 10_000).encode())
@example(envelope(nested_data(10_000)).encode())
@example(envelope(nested_data(MAX_DEPTH)).encode())
@example(envelope(nested_data(MAX_DEPTH + 1, "list")).encode())
@example(sized_body(256 * 1024, "x"))
@example(sized_body(256 * 1024 + 1, "x"))
@example(sized_body(256 * 1024, "é"))
@example(b'{"type":"payment_received","data":{"x":"\xff\xfe"}}')
@example(b'{"type":"payment_received","data":{"x":"\xed\xa0\x80"}}')
@example(b"\x00")
@example("\ufeff{}".encode())
@given(body=hostile_bodies())
def test_hostile_body_is_refused_clearly_or_stored_exactly(api, body):
    api(body)


CONTENT_TYPES = [
    "application/json",
    "application/json; charset=utf-8",
    "APPLICATION/JSON",
    "application/vnd.api+json",
    "application/problem+json; charset=latin-1",
    "text/plain",
    "text/json",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "application/jsonp",
    "application/",
    "json",
    "",
    None,
]


@fuzz(60)
@given(
    content_type=st.one_of(
        st.sampled_from(CONTENT_TYPES), st.text(st.characters(min_codepoint=32, max_codepoint=126))
    ),
    body=st.sampled_from(
        [
            envelope('{"payment_id":7}').encode(),
            b"payment_received",
            b"type=payment_received&data=%7B%7D",
            b"",
        ]
    ),
)
def test_body_not_sent_as_json_is_unsupported_media_type(api, content_type, body):
    api(body, content_type)


def test_event_id_with_a_nul_character_is_refused_not_a_server_error(app, client):
    """PostgreSQL cannot store a NUL in a text column: the INSERT failed, a 500 (SQLite stored
    it). The id is now refused before anything is written."""
    token = api_token(app)

    response = client.post(
        "/api/v1/events",
        json={"type": "payment_received", "data": {}, "id": "order-7\x00paid"},
        headers=bearer(token),
    )

    message = assert_api_error(response, 422, "invalid_id")
    assert "NUL" in message
    assert stored(app) == {"events": 0, "deliveries": 0, "attempts": 0}


def test_nul_characters_inside_the_data_are_stored_and_given_back(app, client):
    token = api_token(app)
    data = {"note\x00": "a\x00b", "list": ["\x00"]}

    response = client.post(
        "/api/v1/events", json={"type": "payment_received", "data": data}, headers=bearer(token)
    )

    assert response.status_code == 202
    assert json.loads(event_by_uid(app, response.get_json()["id"]).data) == data


# ---------------------------------------------------------------- 3. flask events send


@dataclass(frozen=True)
class CliCall:
    event_type: str
    data: bytes  # the payload as it is typed or saved, before any decoding
    via_file: bool = False
    key: str | None = None


@st.composite
def cli_calls(draw) -> CliCall:
    data = draw(
        mostly(
            json_objects.map(lambda value: json.dumps(value).encode("utf-8", "surrogatepass")),
            st.one_of(
                json_values.map(lambda value: json.dumps(value).encode("utf-8", "surrogatepass")),
                hostile_bodies(),
                hostile_text.map(as_bytes),
            ),
        )
    )
    return CliCall(
        event_type=draw(mostly(st.sampled_from(sorted(SLUGS)), st.one_of(nasty, any_text))),
        data=data,
        via_file=draw(st.booleans()),
        key=draw(mostly(st.none(), text_keys)),
    )


def judge_cli(call: CliCall, limit: int) -> tuple[set[int], object]:
    """The exit codes the documented rules allow, and the payload when it is valid JSON."""
    if call.via_file:
        try:
            text = call.data.decode("utf-8")
        except UnicodeDecodeError:
            return {2}, None
        text = text.replace("\r\n", "\n").replace("\r", "\n")  # a file is read in text mode
    else:
        text = call.data.decode("utf-8", "surrogateescape")  # as the OS hands argv over
    try:
        payload = json.loads(text)
    except (ValueError, RecursionError):
        return {2}, None
    envelope_ = {"type": call.event_type, "data": payload}
    if call.key is not None:
        envelope_["id"] = call.key
    # A refusal found while reading the JSON, or a bad --id, exits with 2 (a usage error), one
    # found when checking the event with 1.
    exits = {
        0 if answer == ACCEPT else 2 if answer[0] == 400 or answer[1] == "invalid_id" else 1
        for answer in judge_event(envelope_, limit)
    }
    return exits, payload


@pytest.fixture
def cli(app, make_webhook, tmp_path):
    make_webhook(name="subscriber", url="https://example.com/hook")
    runner = app.test_cli_runner()
    data_file = tmp_path / "payload.json"

    def check(call: CliCall) -> None:
        allowed, payload = judge_cli(call, app.config["MAX_EVENT_BYTES"])
        args = ["events", "send"]
        if call.key is not None:
            args.append(f"--id={call.key}")
        if call.via_file:
            data_file.write_bytes(call.data)
            args += ["--file", str(data_file), "--", call.event_type]
        else:
            args += ["--", call.event_type, call.data.decode("utf-8", "surrogateescape")]
        earlier = events_by_key(app, call.key) if 0 in allowed and call.key else None
        counts = stored(app)
        result = runner.invoke(args=args)
        output = result.output
        assert "Traceback" not in output
        if result.exit_code == 0:
            event("cli: " + ("repeated id" if earlier else "stored"))
            assert 0 in allowed, (allowed, output)
            # Standard output says what was stored; a schema warning goes to standard error.
            check_stored_by_cli(app, call, payload, earlier, counts, result.stdout, result.stderr)
            return
        event(f"cli: refused, exit {result.exit_code}")
        assert isinstance(result.exception, SystemExit), repr(result.exception)
        assert result.exit_code in allowed, (allowed, result.exit_code, output[:500])
        errors = [line for line in output.splitlines() if line.startswith("Error: ")]
        assert len(errors) == 1 and len(errors[0]) > 20, output[-500:]
        if result.exit_code == 1:
            assert output == errors[0] + "\n"
        assert stored(app) == counts

    return check


def check_stored_by_cli(app, call, payload, earlier, counts, output, warnings="") -> None:
    subscribed = 1 if call.event_type == "payment_received" else 0
    if earlier is not None:
        assert output.startswith(f"Already stored (same --id): event {earlier.uid};")
        assert stored(app) == counts
        return
    match = re.fullmatch(
        r"Stored: event (evt_\S+); the worker delivers it to every subscribed webhook\.\n",
        output,
    )
    assert match, output
    row = event_by_uid(app, match.group(1))
    assert warnings.startswith("Warning: the payload does not match") == bool(row.schema_problems)
    assert (row.type, row.idempotency_key, row.source) == (call.event_type, call.key, "cli")
    assert json.loads(row.data) == payload
    assert stored(app) == {
        "events": counts["events"] + 1,
        "deliveries": counts["deliveries"],
        "attempts": counts["attempts"],
    }
    assert expand(app) == subscribed


@fuzz(180)
@example(CliCall("payment_received", b"{}", key="order\x00paid"))
@example(CliCall("payment_received", b'{"a": "\xff"}', via_file=True))
@example(CliCall("payment_received", b"\xef\xbb\xbf{}", via_file=True))
@example(CliCall("payment_received", nested_data(10_000).encode()))
@example(CliCall("payment_received", ("[" * 10_000).encode(), via_file=True))
@example(CliCall("payment_received", b"[]"))
@example(CliCall("payment_received", b'{"a": "\x00"}'))
@example(CliCall("payment_received", b'{"a": "\\u0000", "\\u0000": 1}'))
@example(CliCall("payment_received", b'{"a": "\xed\xa0\x80"}'))
@example(CliCall("payment_received\x00", b"{}"))
@example(CliCall("--help", b"{}"))
@example(CliCall("payment_received", sized_body(300 * 1024, "x")))
@given(call=cli_calls())
def test_events_send_refuses_bad_input_in_one_line_or_stores_it_exactly(cli, call):
    cli(call)


def test_events_send_with_a_nul_in_the_id_fails_cleanly_and_stores_nothing(app, runner):
    """PostgreSQL cannot store a NUL: looking the id up raised DataError, a traceback."""
    result = runner.invoke(args=["events", "send", "payment_received", "{}", "--id", "a\x00b"])

    assert result.exit_code == 2
    assert isinstance(result.exception, SystemExit)
    assert "Invalid value for --id: `id` must not contain NUL characters" in result.output
    assert stored(app)["events"] == 0


def test_events_send_with_a_file_that_is_not_utf8_fails_cleanly(app, runner, tmp_path):
    """Reading a Latin-1 file raised UnicodeDecodeError: a traceback instead of a message."""
    payload = tmp_path / "latin1.json"
    payload.write_bytes('{"customer_name": "Zoë"}'.encode("latin-1"))

    result = runner.invoke(args=["events", "send", "payment_received", "--file", str(payload)])

    assert result.exit_code == 2
    assert isinstance(result.exception, SystemExit)
    assert "Invalid value for --file: not UTF-8 text" in result.output
    assert stored(app)["events"] == 0
