"""The admin site in English and Turkish: the browser's Accept-Language picks the language until
the user chooses one with the language switch; the Turkish catalogue is complete; templates mark
every text a user sees; dates and numbers follow the language. The API stays English."""

import html
import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from flask import render_template_string, session
from flask_babel import format_datetime, format_decimal
from jinja2 import Environment
from sqlalchemy import select

from tests.conftest import csrf_token, post_form
from tests.engine_helpers import api_token, bearer
from webhooks.extensions import db
from webhooks.i18n import LANGUAGES, SESSION_KEY
from webhooks.models import Attempt, Delivery, Webhook

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "webhooks" / "translations"
CATALOGUE = TRANSLATIONS / "tr" / "LC_MESSAGES" / "messages.po"
COMPILED = CATALOGUE.with_suffix(".mo")
TEMPLATES = ROOT / "templates"
# The keywords docs/translations.md gives pybabel extract, besides its defaults.
KEYWORDS = ("_", "gettext", "ngettext:1,2", "lazy_gettext", "_l", "N_")
PLACEHOLDER_RE = re.compile(r"%(?:\((\w+)\))?[-#0 +]*\d*(?:\.\d+)?([sdifr%])")

VALID = {
    "name": "Zapier Integration",
    "url": "https://hooks.example.com/receiver",
    "event": "payment_received",
    "payload_format": "standard",
    "active": "y",
}


@pytest.fixture(autouse=True, scope="module")
def compiled_catalogue():
    """The site reads the compiled catalogue, which `make install` builds from the .po file."""
    if not COMPILED.exists() or COMPILED.stat().st_mtime < CATALOGUE.stat().st_mtime:
        pytest.fail(
            f"{COMPILED.relative_to(ROOT)} is missing or older than the .po file: run "
            "`make install` (or `pybabel compile -d webhooks/translations`)"
        )


def speaking(client, language: str):
    """The client's browser asks for ``language`` on every request."""
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = language
    return client


def text_of(response) -> str:
    """The page's text with the HTML entities decoded (Turkish apostrophes are escaped)."""
    return html.unescape(response.get_data(as_text=True))


def label(page: str, field_id: str) -> str:
    match = re.search(rf'<label[^>]*for="{field_id}"[^>]*>(.*?)</label>', page, re.S)
    assert match, f"no label for {field_id!r}"
    return html.unescape(match.group(1)).strip()


def placeholder(page: str, field_id: str) -> str | None:
    tag = re.search(rf'<input[^>]*id="{field_id}"[^>]*>', page)
    assert tag, f"no input {field_id!r}"
    value = re.search(r'placeholder="([^"]*)"', tag.group(0))
    return html.unescape(value.group(1)) if value else None


def switch_language(client, language, next_path="/login", token_from="/login"):
    return client.post(
        "/language",
        data={
            "csrf_token": csrf_token(client, token_from),
            "language": language,
            "next": next_path,
        },
    )


def create_webhook(client, name: str):
    return post_form(client, "/webhooks/new", {**VALID, "name": name}, "/webhooks/new")


# ---------------------------------------------------------------- Accept-Language


@pytest.mark.parametrize(
    ("language", "email", "password"),
    [
        ("tr", "E-posta", "Parola"),
        ("tr-TR,tr;q=0.9,en;q=0.5", "E-posta", "Parola"),
        ("en", "Email", "Password"),
        ("de", "Email", "Password"),
    ],
)
def test_login_page_labels_follow_the_browsers_language(client, language, email, password):
    page = speaking(client, language).get("/login").get_data(as_text=True)

    assert label(page, "email") == email
    assert label(page, "password") == password


def test_turkish_browser_sees_the_webhook_form_and_flash_in_turkish(app, client, auth):
    speaking(client, "tr")
    auth.login()

    page = client.get("/webhooks/new").get_data(as_text=True)
    assert label(page, "name") == "Ad"
    assert label(page, "event") == "Olay"
    assert label(page, "payload_format") == "Yük biçimi"
    assert placeholder(page, "name") == "Örn. Zapier Entegrasyonu"
    assert '<option value="site_published">Site Yayınlandı</option>' in page

    response = create_webhook(client, "Fatura Sistemi")
    assert response.status_code == 302
    shown = text_of(client.get(response.headers["Location"]))
    assert "“Fatura Sistemi” webhook'u eklendi." in shown

    response = post_form(client, response.headers["Location"], {**VALID, "name": "Yeni Ad"})
    assert "“Yeni Ad” webhook'u kaydedildi." in text_of(client.get(response.headers["Location"]))
    with app.app_context():
        assert db.session.scalars(select(Webhook.name)).all() == ["Yeni Ad"]


def test_english_browser_sees_the_webhook_form_and_flash_in_english(client, auth):
    speaking(client, "en-GB,en;q=0.8")
    auth.login()

    page = client.get("/webhooks/new").get_data(as_text=True)
    assert label(page, "name") == "Name"
    assert placeholder(page, "name") == "E.g. Zapier Integration"

    response = create_webhook(client, "Billing")
    assert "Webhook “Billing” added." in text_of(client.get(response.headers["Location"]))


def test_validation_messages_are_turkish_for_a_turkish_browser(admin):
    speaking(admin, "tr")

    response = post_form(
        admin, "/webhooks/new", {**VALID, "name": "", "url": "ftp://x"}, "/webhooks/new"
    )

    shown = text_of(response)
    assert response.status_code == 200
    assert "Webhook'a bir ad verin." in shown
    assert "URL, http:// veya https:// ile başlamalıdır." in shown


def test_plural_flash_messages_use_the_count(app, admin, make_webhook):
    speaking(admin, "tr")
    ids = [make_webhook(name=f"Hook {n}") for n in range(3)]

    response = admin.post(
        "/webhooks/bulk",
        data={
            "csrf_token": csrf_token(admin, "/webhooks/"),
            "action": "deactivate",
            "ids": [str(i) for i in ids],
        },
    )

    assert "3 webhook devre dışı bırakıldı." in text_of(admin.get(response.headers["Location"]))
    speaking(admin, "en")
    response = admin.post(
        "/webhooks/bulk",
        data={
            "csrf_token": csrf_token(admin, "/webhooks/"),
            "action": "activate",
            "ids": [str(ids[0])],
        },
    )
    assert "1 webhook activated." in text_of(admin.get(response.headers["Location"]))


def test_too_many_logins_page_is_turkish_for_a_turkish_browser(app, client):
    app.config["LOGIN_LIMIT_PER_ADDRESS"] = "1 per minute"
    speaking(client, "tr")
    token = csrf_token(client)
    for _attempt in range(2):
        response = client.post(
            "/login", data={"csrf_token": token, "email": "x@example.com", "password": "no"}
        )

    assert response.status_code == 429
    assert re.search(r"Çok fazla giriş denemesi\. \d+ (saniye|dakika) sonra", text_of(response))


def test_the_log_in_prompt_is_turkish_for_a_turkish_browser(client):
    speaking(client, "tr")

    response = client.get("/webhooks/", follow_redirects=True)

    assert "Bu sayfayı açmak için lütfen giriş yapın." in text_of(response)


def test_error_pages_are_turkish_for_a_turkish_browser(admin):
    speaking(admin, "tr")

    missing = admin.get("/webhooks/999/edit")

    assert missing.status_code == 404
    shown = text_of(missing)
    assert "Bulunamadı" in shown
    assert "Bu kimliğe sahip bir webhook yok; silinmiş olabilir." in shown


# ---------------------------------------------------------------- the language switch


def test_chosen_language_wins_over_accept_language_on_every_page(client, auth):
    speaking(client, "tr")
    response = switch_language(client, "en", next_path="/login?next=%2Fwebhooks%2F")

    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=%2Fwebhooks%2F"
    assert label(client.get("/login").get_data(as_text=True), "email") == "Email"
    auth.login()
    assert label(client.get("/webhooks/new").get_data(as_text=True), "name") == "Name"
    assert label(client.get("/tokens/").get_data(as_text=True), "name") == "Name"


def test_choosing_turkish_in_an_english_browser_turns_the_pages_turkish(admin):
    speaking(admin, "en")

    response = switch_language(admin, "tr", next_path="/webhooks/new", token_from="/webhooks/")

    assert response.headers["Location"] == "/webhooks/new"
    assert label(admin.get("/webhooks/new").get_data(as_text=True), "name") == "Ad"
    assert label(admin.get("/deliveries/").get_data(as_text=True), "status") == "Durum"
    with admin.session_transaction() as stored:
        assert stored[SESSION_KEY] == "tr"


def test_the_choice_survives_logging_out(client, auth):
    speaking(client, "en")
    auth.login()
    switch_language(client, "tr", token_from="/webhooks/")

    auth.logout()

    assert label(client.get("/login").get_data(as_text=True), "email") == "E-posta"


@pytest.mark.parametrize("language", ["de", "", "TR", "tr<script>", "x" * 500])
def test_an_unknown_language_is_refused_with_a_clear_message(client, language):
    speaking(client, "en")

    response = switch_language(client, language)

    assert response.status_code == 400
    shown = text_of(response)
    assert "There is no language “" in shown
    assert "Choose one of: English, Türkçe." in shown
    assert "<script>" not in response.get_data(as_text=True)
    with client.session_transaction() as stored:
        assert SESSION_KEY not in stored


def test_the_refusal_is_in_the_pages_language(client):
    speaking(client, "tr")

    response = switch_language(client, "de")

    assert response.status_code == 400
    assert "“de” diye bir dil yok. Şunlardan birini seçin: English, Türkçe." in text_of(response)


def test_the_switch_needs_its_csrf_token(client):
    response = client.post("/language", data={"language": "tr", "next": "/login"})

    assert response.status_code == 400
    with client.session_transaction() as stored:
        assert SESSION_KEY not in stored


def test_a_get_changes_nothing(client):
    response = client.get("/language?language=tr&next=/login")

    assert response.status_code == 405
    with client.session_transaction() as stored:
        assert SESSION_KEY not in stored


@pytest.mark.parametrize(
    "next_path",
    ["https://evil.example/", "//evil.example/", "/\\evil.example", "javascript:alert(1)", ""],
)
def test_the_switch_goes_back_only_to_a_page_of_this_site(client, next_path):
    response = switch_language(client, "tr", next_path=next_path)

    assert response.status_code == 302
    assert response.headers["Location"] == "/webhooks/"


def test_the_switch_works_before_logging_in(client):
    """It is public (PUBLIC_ENDPOINTS): the login page offers it."""
    response = switch_language(client, "tr")

    assert response.headers["Location"] == "/login"
    with client.session_transaction() as stored:
        assert stored[SESSION_KEY] == "tr"
        assert "_user_id" not in stored


@pytest.mark.parametrize(("language", "code"), [("tr", "tr"), ("en-US", "en"), ("fr", "en")])
def test_pages_know_their_language_for_html_lang(app, language, code):
    with app.test_request_context("/login", headers={"Accept-Language": language}):
        assert render_template_string("{{ current_language }}") == code
        assert render_template_string("{{ languages|length }}") == str(len(LANGUAGES))


def test_the_session_choice_is_the_language_of_html_lang(app):
    with app.test_request_context("/login", headers={"Accept-Language": "en"}):
        session[SESSION_KEY] = "tr"
        assert render_template_string("{{ current_language }}") == "tr"


# ---------------------------------------------------------------- the API stays English


def test_the_api_answers_in_english_to_a_turkish_client(app, client):
    headers = {**bearer(api_token(app)), "Accept-Language": "tr"}

    catalogue = client.get("/api/v1/event-types", headers=headers).get_json()
    refused = client.post("/api/v1/webhooks", json={"url": "ftp://x"}, headers=headers)

    assert catalogue["data"][0]["name"] == "Payment Received"
    assert refused.status_code == 422
    fields = refused.get_json()["error"]["fields"]
    assert fields["name"] == ["Give the webhook a name."]
    assert fields["url"] == ["The URL must start with http:// or https://."]


def test_an_unknown_api_path_answers_in_english(client):
    response = client.get("/api/v1/nothing-here", headers={"Accept-Language": "tr"})

    assert response.status_code in (401, 404)
    assert "ı" not in response.get_data(as_text=True)


# ---------------------------------------------------------------- the catalogue


def read_catalogue():
    with CATALOGUE.open("rb") as file:
        return read_po(file)


def placeholders(text: str) -> list[tuple[str | None, str]]:
    return sorted(PLACEHOLDER_RE.findall(text), key=str)


def test_catalogue_is_turkish_with_turkish_plural_forms():
    catalogue = read_catalogue()

    assert str(catalogue.locale) == "tr"
    assert catalogue.plural_forms == "nplurals=2; plural=(n != 1);"


def test_every_message_has_a_turkish_translation_with_the_same_placeholders():
    catalogue = read_catalogue()
    messages = [message for message in catalogue if message.id]

    assert len(messages) > 100
    problems = []
    for message in messages:
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if message.fuzzy or not all(text.strip() for text in strings):
            problems.append((ids[0], "untranslated or fuzzy"))
            continue
        for text in strings:
            # ngettext's plural forms have %(num)d; each form keeps every placeholder.
            if placeholders(text) != placeholders(ids[-1]):
                problems.append((ids[0], f"placeholders differ in {text!r}"))
    assert problems == []


def test_translations_add_no_html_syntax():
    """Lazy strings (labels, placeholders) go into pages as markup, unescaped: a translation
    must not bring in a character that means something in HTML."""
    added = []
    for message in read_catalogue():
        if not message.id:
            continue
        source = "".join(message.id if isinstance(message.id, tuple) else (message.id,))
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        for text in strings:
            extra = {ch for ch in '<>&"' if ch in text and ch not in source}
            if extra:
                added.append((message.id, sorted(extra)))
    assert added == []


def test_every_marked_string_is_in_the_catalogue():
    """Extract as docs/translations.md does: a string marked since the last `pybabel update`
    has no translation yet."""
    with (ROOT / "babel.cfg").open() as file:
        method_map, options_map = parse_mapping_cfg(file)
    keywords = {}
    for keyword in KEYWORDS:
        name, _, spec = keyword.partition(":")
        keywords[name] = tuple(int(n) for n in spec.split(",")) if spec else None
    marked = {
        message if isinstance(message, str) else message[0]
        for _file, _line, message, _comments, _context in extract_from_dir(
            str(ROOT), method_map, options_map, keywords=keywords
        )
    }
    known = {
        message.id if isinstance(message.id, str) else message.id[0]
        for message in read_catalogue()
        if message.id
    }

    assert sorted(marked - known) == []


# ---------------------------------------------------------------- dates and numbers


def test_dates_and_numbers_follow_the_language(app):
    moment = datetime(2026, 11, 30, 18, 5, tzinfo=UTC)
    shown = {}
    for language in ("en", "tr"):
        with app.test_request_context("/login", headers={"Accept-Language": language}):
            shown[language] = (format_datetime(moment, "long"), format_decimal(1234.5))

    assert shown["en"] != shown["tr"]
    assert "November" in shown["en"][0]
    assert "Kasım" in shown["tr"][0]
    assert shown["en"][1] == "1,234.5"
    assert shown["tr"][1] == "1.234,5"


# ---------------------------------------------------------------- templates mark their texts

# Attributes whose values a user reads or hears.
SHOWN_ATTRIBUTES = {"title", "placeholder", "alt", "aria-label", "aria-description", "label"}
SHOWN_DATA_ATTRIBUTE = re.compile(r"data-(?:[\w-]+-)?(?:label|text|message|confirm|title)$")
# Elements whose text is code or not shown as text.
NOT_PROSE = {"script", "style", "code", "pre", "kbd", "samp", "template"}
VOID = {
    "area",
    "base",
    "br",
    "col",
    "embed",
    "hr",
    "img",
    "input",
    "link",
    "meta",
    "source",
    "track",
    "wbr",
}
MARKER = "\ue000"  # where a Jinja expression or tag stood; not a letter
GETTEXT_CALLS = {"_", "gettext", "ngettext", "pgettext", "npgettext"}
# A string literal that reads like words for people: capitalised, or a sentence.
PROSE_LITERAL = re.compile(r"^[A-Z][a-z]|\s.*[.!?…:]$")
# Keyword arguments whose string values are names for the machine, not text.
NAME_ARGUMENTS = {
    "class",
    "class_",
    "id",
    "type",
    "name",
    "rel",
    "role",
    "method",
    "filename",
    "autocomplete",
    "inputmode",
    "state",
    "sort",
    "dir",
    "category",
}
LETTER = re.compile(r"[^\W\d_]")


class ShownText(HTMLParser):
    """Collects the text and user-visible attribute values of an HTML skeleton (a template
    whose Jinja parts are MARKER), skipping code, scripts and ``translate="no"``."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, bool]] = []  # (element, its content is not prose)
        self.found: list[str] = []

    def skipping(self) -> bool:
        return any(skip for _tag, skip in self.stack)

    def handle_starttag(self, tag, attrs):
        tag = tag.replace(MARKER, "")
        values = {name.replace(MARKER, ""): value or "" for name, value in attrs}
        for name, value in values.items():
            shown = name in SHOWN_ATTRIBUTES or SHOWN_DATA_ATTRIBUTE.match(name)
            shown = shown or (
                name == "value"
                and (tag == "button" or values.get("type") in ("submit", "button", "reset"))
            )
            if shown and not self.skipping():
                self.note(value, f"{tag}[{name}]")
        if tag not in VOID:
            skip = tag in NOT_PROSE or values.get("translate") == "no"
            self.stack.append((tag, skip))

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag.replace(MARKER, "") not in VOID:
            self.stack.pop()

    def handle_endtag(self, tag):
        tag = tag.replace(MARKER, "")
        for index in range(len(self.stack) - 1, -1, -1):
            if self.stack[index][0] == tag:
                del self.stack[index:]
                break

    def handle_data(self, data):
        if not self.skipping():
            self.note(data, "text")

    def note(self, text: str, where: str) -> None:
        text = " ".join(text.replace(MARKER, " ").split())
        if LETTER.search(text):
            self.found.append(f"{where}: {text}")


def unmarked_texts(env: Environment, source: str) -> list[str]:
    """What a user would read in the template that is not marked for translation: text outside
    ``{% trans %}``, the shown attributes, and string literals outside ``_()``/``gettext()``
    that read like words or that an expression writes into the page's text."""
    skeleton: list[str] = []
    literals: list[str] = []
    in_trans = in_output = in_tag = False
    starts_block = False
    depth = 0  # brackets open in the current {{ }} or {% %}
    gettext_depth = 0  # brackets open inside a gettext call
    previous: list[tuple[str, str]] = []  # the tokens before this one, whitespace left out
    for _line, kind, value in env.lex(source):
        if kind == "data":
            skeleton.append(MARKER if in_trans else value)
            if "<" in value or ">" in value:
                in_tag = value.rfind("<") > value.rfind(">")
            continue
        if kind == "whitespace":
            continue
        if not skeleton or skeleton[-1] != MARKER:
            skeleton.append(MARKER)
        if kind in ("variable_begin", "block_begin"):
            in_output, starts_block, depth, gettext_depth = kind == "variable_begin", True, 0, 0
        elif kind in ("variable_end", "block_end"):
            in_output = False
        elif kind == "name" and starts_block:
            in_trans = {"trans": True, "endtrans": False}.get(value, in_trans)
        elif kind == "operator" and value in "([{":
            depth += 1
            called = previous and previous[-1][0] == "name" and previous[-1][1] in GETTEXT_CALLS
            if gettext_depth or (value == "(" and called):
                gettext_depth += 1
        elif kind == "operator" and value in ")]}":
            depth -= 1
            gettext_depth = max(gettext_depth - 1, 0)
        elif kind == "string" and not gettext_depth and not in_trans:
            text = value[1:-1]
            keyword = [token[1] for token in previous[-2:]]
            if not LETTER.search(text) or (keyword[1:] == ["="] and keyword[0] in NAME_ARGUMENTS):
                pass
            elif keyword and keyword[-1] in ("==", "!=", "in", "is"):
                pass  # compared with a value, not shown
            elif PROSE_LITERAL.search(text) or (in_output and depth == 0 and not in_tag):
                literals.append(f"literal: {text}")
        if kind != "block_begin":
            starts_block = False
        previous.append((kind, value))
    parser = ShownText()
    parser.feed("".join(skeleton))
    parser.close()
    return parser.found + literals


@pytest.fixture
def jinja(app):
    return app.jinja_env


@pytest.mark.parametrize(
    "source",
    [
        "<p>Hello</p>",
        "<h1>{{ count }} webhooks</h1>",
        '<input type="search" placeholder="Search">',
        '<button type="button" title="Close">×</button>',
        '<a href="/x" aria-label="Next page">›</a>',
        '<img src="/logo.svg" alt="Logo">',
        '<input type="submit" value="Save">',
        '<button data-busy-label="Sending…">{{ _("Send") }}</button>',
        "{{ 'Delete' }}",
        "{{ post_button(url, 'Send Test Event') }}",
        "{{ 'their receivers' if many else 'its receiver' }}",
        "{{ token.last_used_at|time if token.last_used_at else 'never' }}",
        "{{ count }} webhook{{ 's' if count != 1 }}",
        "{% set note = 'Kept failing.' %}{{ note }}",
        "{% if x %}<p>Shown sometimes</p>{% endif %}",
        '<div class="a"{% if x %} hidden{% endif %}>Text after a tag with Jinja inside</div>',
    ],
)
def test_the_checker_flags_unmarked_text(jinja, source):
    assert unmarked_texts(jinja, source) != []


@pytest.mark.parametrize(
    "source",
    [
        "<p>{{ _('Hello') }}</p>",
        "<p>{% trans %}Hello {{ name }}{% endtrans %}</p>",
        "{% trans count=n %}One webhook{% pluralize %}{{ count }} webhooks{% endtrans %}",
        '<input type="search" placeholder="{{ _(\'Search\') }}">',
        '<button type="button" title="{{ _("Close") }}">×</button>',
        "{{ post_button(url, _('Send Test Event'), class='primary') }}",
        "{{ ngettext('%(num)d webhook', '%(num)d webhooks', n) }}",
        "<p>{{ _('Saved: %(name)s', name=webhook.name) }}</p>",
        '<code>flask tokens create</code><pre>{"type": "x"}</pre>',
        "<script>const label = 'Hi there';</script><style>p { color: red }</style>",
        '<span translate="no">Ultimate Multisite</span>',
        "<!-- A note for developers --> &nbsp;&middot; — 42 · {{ product }}",
        "<a href=\"{{ url_for('webhooks.index', state='disabled') }}\" class=\"button primary\">"
        "{{ _('Review') }}</a>",
        '<input type="hidden" name="next" value="{{ request.path }}">'
        '<input type="text" value="typed by the user">',
        "{# Jinja comment with words #}{% extends 'base.html' %}{% block title %}{% endblock %}",
        "<a class=\"{{ 'current' if on else '' }}\" href=\"{{ url_for('events.index') }}\">"
        "{{ _('Events') }}</a>",
        "{{ post_button(url, _('Delete'), class='danger small', next=request.path) }}",
        "{% for category, message in get_flashed_messages(with_categories=true) %}{% endfor %}",
        "{% if f.type == 'BooleanField' %}{{ f() }}{% endif %}",
    ],
)
def test_the_checker_passes_marked_text(jinja, source):
    assert unmarked_texts(jinja, source) == []


@pytest.mark.parametrize(
    "template", sorted(TEMPLATES.rglob("*.html")), ids=lambda path: str(path.relative_to(TEMPLATES))
)
def test_templates_mark_every_text_a_user_sees(jinja, template):
    assert unmarked_texts(jinja, template.read_text()) == []


# ---------------------------------------------------------------- every screen in both languages

# What each screen shows: (path, or "token-created" for the page a POST answers with,
# texts only the Turkish page has, the same screen's English texts). The English texts are
# UI words that must not be left over on the Turkish page.
SCREENS = {
    "dashboard": (
        "/",
        ["Kontrol paneli", "Webhook'lar, önce başarısız olanlar", "Rakamları tablo olarak göster"],
        [
            "Dashboard",
            "Webhooks, failing first",
            "All webhooks",
            "Last delivery",
            "Show the figures as a table",
            "Failed or retrying",
            "Add New Webhook",
            "webhook was disabled</strong>",
        ],
    ),
    "webhook list": (
        "/webhooks/",
        ["Ad veya URL ara", "Toplu işlemler", "Test Olayı Gönder", "Ödeme Alındı"],
        [
            "Search by name or URL",
            "Bulk actions",
            "Send Test Event",
            "Last delivery",
            "Apply",
            "Every event a webhook can subscribe to",
            "Payment Received",
            "Select all webhooks",
        ],
    ),
    "add": (
        "/webhooks/new",
        ["Yeni Webhook Ekle", "Olay yükü", "Listeye dön", "Yük biçimi"],
        ["Add New Webhook", "Event payload", "Back to the list", "Payload format", "Copy<"],
    ),
    "edit": (
        "/webhooks/{webhook}/edit",
        ["Değişiklikleri Kaydet", "İmzalama anahtarı", "Bu imzayı doğrulayın", "Son teslimatlar"],
        [
            "Save Changes",
            "Signing secret",
            "Verify this signature",
            "Recent deliveries",
            "Reveal secret",
            "Send Test Event",
            "real deliveries succeeded",
            "Delete this webhook",
        ],
    ),
    "confirm delete": (
        "/webhooks/{webhook}/delete",
        ["1 webhook silinsin mi?", "Bu işlem geri alınamaz.", "Vazgeç"],
        ["Delete 1 webhook?", "This cannot be undone.", "Cancel"],
    ),
    "confirm rotate": (
        "/webhooks/{webhook}/rotate",
        ["İmzalama anahtarı yenilensin mi?", "Anahtarı yenile", "24 saat boyunca"],
        ["Rotate the signing secret?", "Rotate secret", "after the rotation", "Cancel"],
    ),
    "deliveries": (
        "/deliveries/?webhook={webhook}",
        ["Teslimatları filtrele", "Başarısız teslimatları yeniden dene", "Sonraki deneme"],
        [
            "Filter deliveries",
            "Retry failed deliveries",
            "Retry all failed since this time",
            "Next retry",
            "Last result",
            "Deliveries to",
            "All deliveries",
        ],
    ),
    "delivery": (
        "/deliveries/{delivery}",
        ["Gönderilen gövde", "İstek başlıkları", "Yanıt gövdesi", "Yeniden teslim et"],
        [
            "Body sent",
            "Request headers",
            "Response body",
            "Send again",
            "Redeliver",
            "Response status",
            "Message id",
            "Failed</span>",
        ],
    ),
    "events": (
        "/events/",
        ["Olay kataloğu", "Ödeme Alındı", "Bir müşteri ödeme yaptığında tetiklenir"],
        ["Event catalogue", "Payment Received", "Fired when a customer pays", "Add New Webhook"],
    ),
    "tokens": (
        "/tokens/",
        ["Token kullanımı", "Son kullanım", "İptal et"],
        ["Create a token", "Using a token", "Last used", "Revoke<", "Actions"],
    ),
    "token created": (
        "token-created",
        ["Bu token'ı şimdi kopyalayın", "API token'larına dön"],
        ["Copy this token now", "Back to the API tokens", "Using a token"],
    ),
    "API docs": (
        "/api-docs/",
        ["Kimlik doğrulama", "Uç noktalar", "İstek gövdesi", "Nesneler"],
        ["Authentication", ">Endpoints<", "Request body", ">Objects<", ">Responses<"],
    ),
    "login": (
        "/login",
        ["Giriş yap", "Parola", "Webhook'ları yönetin"],
        ["Log in", "Password", "Manage webhooks and follow their deliveries."],
    ),
    "error": (
        "/webhooks/999999/edit",
        ["Bulunamadı", "Hata 404", "Kontrol paneline git"],
        ["Not Found", "Error 404", "Go to the dashboard", "Back to the webhooks"],
    ),
}
# Every page but the login page also has the header of a logged-in admin.
HEADER = (
    ["Çıkış yap", "İçeriğe geç"],
    ["Log out", "Skip to content", ">Deliveries</a>", ">Dashboard</a>"],
)


@pytest.fixture
def screen_ids(app, make_webhook):
    """A webhook with a failed delivery (one attempt, answered 500), a webhook the system
    disabled and an API token, so every screen shows its tables, badges and notes."""
    api_token(app, name="Deploy script")
    webhook = make_webhook(name="Billing", url="https://example.com/billing")
    make_webhook(
        name="Old shop",
        disabled_at=datetime.now(UTC) - timedelta(hours=1),
        disabled_reason="HTTP 410 Gone",
        active=False,
    )
    with app.app_context():
        delivery = Delivery(
            webhook_id=webhook,
            event_type="payment_received",
            body='{"type": "payment_received"}',
            status="failed",
            attempt_count=1,
            last_summary="HTTP 500",
        )
        db.session.add(delivery)
        db.session.add(
            Attempt(
                delivery=delivery,
                url="https://example.com/billing",
                request_headers='{"webhook-id": "msg_1"}',
                succeeded=False,
                response_status=500,
                response_headers='{"content-type": "text/plain"}',
                response_body="oops",
                duration_ms=12,
                summary="HTTP 500",
            )
        )
        db.session.commit()
        return {"webhook": webhook, "delivery": delivery.id}


def open_screen(client, path: str, ids: dict):
    if path == "token-created":
        return post_form(
            client, "/tokens/", {"name": "Billing system", "scope": "full"}, "/tokens/"
        )
    return client.get(path.format(**ids))


@pytest.mark.parametrize("screen", list(SCREENS))
@pytest.mark.parametrize("language", ["tr", "en"])
def test_every_screen_speaks_the_browsers_language(client, auth, screen_ids, screen, language):
    path, turkish, english = SCREENS[screen]
    speaking(client, language)
    if screen != "login":
        auth.login()
        turkish, english = turkish + HEADER[0], english + HEADER[1]

    response = open_screen(client, path, screen_ids)

    assert response.status_code == (404 if screen == "error" else 200)
    shown = text_of(response)
    expected, foreign = (turkish, english) if language == "tr" else (english, turkish)
    assert [text for text in expected if text not in shown] == []
    assert [text for text in foreign if text in shown] == []
    assert f'<html lang="{language}">' in shown


@pytest.mark.parametrize("language", ["tr", "en"])
def test_the_language_switch_is_in_the_header_and_marks_the_current_language(client, language):
    page = speaking(client, language).get("/login?next=%2Fevents%2F").get_data(as_text=True)

    switch = re.search(r'<form class="language"[^>]*>.*?</form>', page, re.S)
    assert switch, "no language switch on the login page"
    form = switch.group(0)
    assert 'action="/language"' in form
    assert 'name="csrf_token"' in form
    assert '<input type="hidden" name="next" value="/login?next=%2Fevents%2F">' in form
    pressed = re.findall(r'<button[^>]*value="(\w+)"[^>]*aria-pressed="true"', form)
    assert pressed == [language]
    for code, name in LANGUAGES.items():
        assert f'lang="{code}"' in form
        assert f">{name}</button>" in form
