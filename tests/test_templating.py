"""The shared template filters: highlighted JSON (escaped, its text unchanged), times told
relatively with the exact moment at hand, localized numbers."""

import html
import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from flask import render_template_string

from webhooks.templating import highlight_json, shorten


def text_of(markup: str) -> str:
    """What the browser shows, and a Copy button copies: the text without the spans."""
    return html.unescape(re.sub(r"<[^>]+>", "", str(markup)))


def spans(markup: str) -> list[tuple[str, str]]:
    return [
        (kind, html.unescape(token))
        for kind, token in re.findall(r'<span class="(j-[a-z]+)">(.*?)</span>', str(markup))
    ]


# ---------------------------------------------------------------- highlight_json


def test_json_is_pretty_printed_and_its_tokens_get_classes():
    markup = highlight_json('{"id": 7, "ok": true, "none": null, "tags": ["a"], "x": -1.5e3}')

    assert text_of(markup) == json.dumps(
        {"id": 7, "ok": True, "none": None, "tags": ["a"], "x": -1500.0}, indent=2
    )
    assert spans(markup) == [
        ("j-key", '"id"'),
        ("j-num", "7"),
        ("j-key", '"ok"'),
        ("j-lit", "true"),
        ("j-key", '"none"'),
        ("j-lit", "null"),
        ("j-key", '"tags"'),
        ("j-str", '"a"'),
        ("j-key", '"x"'),
        ("j-num", "-1500.0"),
    ]


def test_html_inside_json_strings_is_escaped():
    payload = {"note": "<script>alert('x')</script>", "<b>key</b>": "a & b", "q": '"quoted"'}

    markup = str(highlight_json(json.dumps(payload)))

    assert "<script>" not in markup and "<b>" not in markup
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in markup
    assert '<span class="j-key">&#34;&lt;b&gt;key&lt;/b&gt;&#34;</span>' in markup
    assert "a &amp; b" in markup
    # Only the highlighter's own tags are left.
    assert set(re.findall(r"<(/?\w+)", markup)) == {"span", "/span"}
    assert json.loads(text_of(markup)) == payload


def test_strings_that_look_like_tokens_stay_strings():
    payload = {"text": 'true, 12: "null" \\ {"a": 1}', "12": "34", "": ""}

    markup = highlight_json(json.dumps(payload))

    assert spans(markup) == [
        ("j-key", json.dumps("text")),
        ("j-str", json.dumps(payload["text"])),
        ("j-key", '"12"'),
        ("j-str", '"34"'),
        ("j-key", '""'),
        ("j-str", '""'),
    ]
    assert json.loads(text_of(markup)) == payload


def test_unicode_is_shown_as_it_is():
    markup = highlight_json('{"name": "Caf\\u00e9 M\\u00fcller \\u2713"}')
    assert "Café Müller ✓" in text_of(markup)


@pytest.mark.parametrize(
    "body",
    ["<html><body>Internal error</body></html>", "ok", "", "{not json", "[" * 100_000],
    ids=["html", "word", "empty", "broken", "too-deep"],
)
def test_text_that_is_not_json_comes_back_escaped_and_unhighlighted(body):
    markup = str(highlight_json(body))
    assert "<span" not in markup
    assert "<html>" not in markup
    assert html.unescape(markup) == body


def test_values_are_highlighted_too_and_none_is_nothing():
    assert text_of(highlight_json({"a": [1, 2]})) == json.dumps({"a": [1, 2]}, indent=2)
    assert str(highlight_json(None)) == ""


def test_the_filter_is_safe_in_a_template_with_autoescaping(app):
    with app.test_request_context():
        page = render_template_string(
            "<pre>{{ body|highlight_json }}</pre>", body='{"x": "</pre><script>1</script>"}'
        )
    assert "<script>" not in page and "</pre><script>" not in page
    assert page.startswith('<pre>{\n  <span class="j-key">&#34;x&#34;</span>: <span class="j-str">')


# ---------------------------------------------------------------- times


def render(app, source: str, language: str = "en", **values) -> str:
    with app.test_request_context(headers={"Accept-Language": language}):
        return render_template_string(source, **values)


def test_a_past_time_is_told_relatively_with_the_exact_moment_in_the_title(app):
    moment = datetime.now(UTC) - timedelta(minutes=3, seconds=5)

    tag = render(app, "{{ moment|time }}", moment=moment)

    found = re.fullmatch(r'<time datetime="([^"]+)" title="([^"]+)">([^<]+)</time>', tag)
    assert found, tag
    assert found.group(1) == moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert found.group(3) == "3 minutes ago"
    assert found.group(2).endswith(" UTC")
    assert f"{moment:%B} {moment.day}, {moment.year}" in found.group(2)


def test_a_future_time_and_a_naive_one(app):
    soon = (datetime.now(UTC) + timedelta(hours=2, minutes=1)).replace(tzinfo=None)  # as SQLite
    tag = render(app, "{{ moment|time }}", moment=soon)
    assert ">in 2 hours</time>" in tag
    assert f'datetime="{soon:%Y-%m-%dT%H:%M:%S}Z"' in tag


def test_exact_writes_the_moment_out_too_and_none_is_a_dash(app):
    moment = datetime(2026, 3, 10, 14, 0, tzinfo=UTC)
    shown = html.unescape(re.sub(r"<[^>]+>", "", render(app, "{{ m|time(exact=True) }}", m=moment)))
    assert shown.endswith("ago (March 10, 2026, 2:00:00\u202fPM UTC)")
    assert render(app, "{{ m|exact_time }}", m=moment) == "March 10, 2026, 2:00:00\u202fPM UTC"
    assert "—" in render(app, "{{ m|time }}", m=None)
    assert render(app, "{{ m|exact_time }}", m=None) == "—"


def test_times_and_numbers_follow_the_language_of_the_page(app):
    moment = datetime.now(UTC) - timedelta(minutes=3, seconds=5)
    assert ">3 dakika önce</time>" in render(app, "{{ m|time }}", "tr", m=moment)
    assert render(app, "{{ m|exact_time }}", "tr", m=datetime(2026, 3, 10, 14, tzinfo=UTC)) == (
        "10 Mart 2026 14:00:00 UTC"
    )
    assert render(app, "{{ n|number }}", n=1234567) == "1,234,567"
    assert render(app, "{{ n|number }}", "tr", n=1234567) == "1.234.567"


def test_clock_is_the_time_of_day(app):
    moment = datetime(2026, 3, 10, 14, 0, tzinfo=UTC)
    assert render(app, "{{ m|clock }}", m=moment) == "2:00\u202fPM"
    assert render(app, "{{ m|clock }}", "tr", m=moment) == "14:00"


# ---------------------------------------------------------------- shorten


def test_shorten_keeps_short_text_and_cuts_long_text_with_an_ellipsis():
    assert shorten("https://example.com/hook") == "https://example.com/hook"
    assert shorten("x" * 60, 50) == "x" * 49 + "…"
    assert shorten(None) == ""
