"""The event catalogue: its events, their sample payloads, and the pages that list them."""

import html
import json
import re

import pytest

from webhooks.catalogue import all_events, event_choices, event_name, get_event, sample_envelopes

REQUIRED_SLUGS = [
    "payment_received",
    "site_published",
    "confirm_email_address",
    "domain_created",
    "renewal_payment_created",
    "invoice_sent",
    "payment_failed",
    "membership_expired",
    "demo_site_expiring",
    "customer_created",
    "customer_updated",
    "membership_created",
    "membership_updated",
    "payment_created",
    "payment_updated",
]


def test_catalogue_slugs_are_unique():
    slugs = [event.slug for event in all_events()]
    assert len(slugs) == len(set(slugs))


@pytest.mark.parametrize("slug", REQUIRED_SLUGS)
def test_catalogue_has_event_with_name_description_and_sample(slug):
    event = get_event(slug)
    assert event is not None, f"{slug} is missing from the catalogue"
    assert event.slug == slug
    assert event.name.strip() and event.name != slug
    assert len(event.description.strip()) > 10
    assert event.sample and len(event.sample) > 0
    assert event_name(slug) == event.name
    assert (slug, event.name) in event_choices()


def test_payment_received_sample_uses_original_field_names():
    sample = get_event("payment_received").sample_data()
    for field in ("payment_total", "membership_id", "customer_user_email"):
        assert field in sample, field
    assert "@" in sample["customer_user_email"]


# The original's payload groups (``wu_generate_event_payload`` and the billing address object),
# written out here so that a change to the catalogue's mock objects cannot pass unnoticed.
PAY = [
    "payment_id",
    "payment_status",
    "payment_reference_code",
    "payment_subtotal",
    "payment_subtotal_raw",
    "payment_tax_total",
    "payment_tax_total_raw",
    "payment_total",
    "payment_total_raw",
    "payment_currency",
    "payment_product_names",
    "payment_date_created",
    "payment_gateway",
    "payment_invoice_url",
    "payment_manage_url",
]
MEM = [
    "membership_id",
    "membership_status",
    "membership_reference_code",
    "membership_initial_amount",
    "membership_initial_amount_raw",
    "membership_amount",
    "membership_amount_raw",
    "membership_currency",
    "membership_description",
    "membership_gateway",
    "membership_date_expiration",
    "membership_manage_url",
]
CUS = [
    "customer_id",
    "customer_name",
    "customer_user_id",
    "customer_user_email",
    "customer_email_verification",
    "customer_avatar",
    "customer_billing_address",
    "customer_manage_url",
]
BILL = [
    "company_name",
    "billing_email",
    "billing_address_line_1",
    "billing_address_line_2",
    "billing_country",
    "billing_state",
    "billing_city",
    "billing_zip_code",
]
MODEL_EVENTS = {
    "customer_created": CUS + BILL,
    "customer_updated": CUS + BILL,
    "membership_created": MEM + CUS + BILL,
    "membership_updated": MEM + CUS + BILL,
    "payment_created": PAY + MEM + CUS + BILL,
    "payment_updated": PAY + MEM + CUS + BILL,
}


@pytest.mark.parametrize(("slug", "fields"), MODEL_EVENTS.items(), ids=list(MODEL_EVENTS))
def test_model_event_samples_carry_the_fields_the_original_sends(slug, fields):
    sample = get_event(slug).sample_data()
    assert list(sample) == fields
    assert len(BILL) == 8 and set(BILL) <= set(sample)
    assert all(isinstance(sample[field], str) and sample[field] for field in BILL)
    assert get_event(slug).optional == frozenset(BILL)


@pytest.mark.parametrize("slug", ["payment_created", "payment_updated"])
def test_payment_model_events_carry_the_twelve_membership_fields(slug):
    sample = get_event(slug).sample_data()
    membership = [field for field in sample if field.startswith("membership_")]
    assert membership == MEM and len(membership) == 12
    assert len(sample) == 43  # the original's 44 keys but its wu_version


def test_named_events_carry_no_billing_fields():
    for event in all_events():
        if event.slug not in MODEL_EVENTS:
            assert not set(BILL) & set(event.sample), event.slug
            assert event.optional == frozenset(), event.slug


@pytest.mark.parametrize(
    ("slug", "field", "value"),
    [
        ("confirm_email_address", "customer_email_verification", "pending"),
        ("renewal_payment_created", "payment_status", "pending"),
        ("renewal_payment_created", "membership_status", "on-hold"),
        ("invoice_sent", "payment_status", "pending"),
        ("membership_expired", "membership_status", "expired"),
        # The events that fire on a settled payment or a live membership keep those.
        ("payment_received", "payment_status", "completed"),
        ("payment_received", "membership_status", "active"),
        ("customer_created", "customer_email_verification", "verified"),
    ],
)
def test_each_sample_shows_the_state_its_event_fires_in(slug, field, value):
    assert get_event(slug).sample_data()[field] == value


def test_renewal_payment_event_has_the_originals_name():
    assert get_event("renewal_payment_created").name == "New Renewal Payment Created"
    assert event_name("renewal_payment_created") == "New Renewal Payment Created"


def test_renewal_payment_event_name_is_turkish_on_a_turkish_page(admin):
    admin.environ_base["HTTP_ACCEPT_LANGUAGE"] = "tr"
    page = admin.get("/events/").get_data(as_text=True)
    entry = catalogue_entries(page)["renewal_payment_created"]
    assert "<strong>Yeni Yenileme Ödemesi Oluşturuldu</strong>" in entry


def test_sample_data_is_a_fresh_copy_each_time():
    first = get_event("payment_received").sample_data()
    first["payment_total"] = "changed"
    assert get_event("payment_received").sample_data()["payment_total"] != "changed"


def test_unknown_event_name_falls_back_to_slug():
    assert get_event("no_such_event") is None
    assert event_name("no_such_event") == "no_such_event"


def test_sample_envelopes_are_standard_webhooks_payloads():
    envelopes = sample_envelopes()
    assert set(envelopes) == {event.slug for event in all_events()}
    for event in all_events():
        payload = json.loads(envelopes[event.slug])
        assert payload["type"] == event.slug
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z", payload["timestamp"])
        assert payload["data"] == event.sample_data()


def catalogue_entries(page: str) -> dict[str, str]:
    """Each event's ``<details>`` block in the page, by slug."""
    blocks = re.findall(r'<details class="event" id="event-([a-z_]+)">(.*?)</details>', page, re.S)
    return dict(blocks)


def assert_page_lists_every_event(page: str) -> None:
    entries = catalogue_entries(page)
    assert list(entries) == [event.slug for event in all_events()]
    for event in all_events():
        block = entries[event.slug]
        summary = html.unescape(re.search(r"<summary>(.*?)</summary>", block, re.S).group(1))
        assert f"<code>{event.slug}</code>" in summary
        assert f"<strong>{event.name}</strong>" in summary
        assert event.description in summary
        pre = re.search(rf'<pre id="payload-{event.slug}"[^>]*>(.*?)</pre>', block, re.S)
        assert pre, f"no payload for {event.slug}"
        text = html.unescape(re.sub(r"<[^>]+>", "", pre.group(1)))  # highlighted JSON's text
        assert text.startswith('{\n  "type": '), "payload is not pretty-printed"
        payload = json.loads(text)
        assert payload["type"] == event.slug
        assert payload["data"] == event.sample_data()
        assert (
            f'data-copy-target="payload-{event.slug}" aria-label="Copy the {event.name} payload">'
            "Copy</button>"
        ) in block


def test_events_page_lists_every_event_with_pretty_payload(admin):
    response = admin.get("/events/")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "<h2>Events</h2>" in page
    assert "Standard Webhooks" in page
    assert_page_lists_every_event(page)


@pytest.mark.parametrize("with_webhooks", [False, True], ids=["empty-list", "with-webhooks"])
def test_webhook_list_shows_the_catalogue_at_the_bottom(admin, make_webhook, with_webhooks):
    if with_webhooks:
        make_webhook(name="Some receiver")
    page = admin.get("/webhooks/").get_data(as_text=True)
    assert_page_lists_every_event(page)
    catalogue_at = page.index('<section class="catalogue" id="events">')
    assert page.index("Add New Webhook") < catalogue_at
    if with_webhooks:
        assert page.index("Some receiver") < catalogue_at
        assert page.index("</table>") < catalogue_at
    # Nothing but the end of the page's main area follows the catalogue.
    catalogue_end = page.index("</section>", catalogue_at) + len("</section>")
    assert page[catalogue_end:].lstrip().startswith("</main>")
