"""Event definitions and their sample payloads.

Slugs and payload field names follow the original Ultimate Multisite webhooks, so receivers
built for it (Zapier zaps, custom endpoints) find the fields they expect. Sample payloads are
assembled from one mock object per model, as the original's mock data does, and each event's
sample shows the state the original is in when it raises that event (a pending payment for a
renewal, an expired membership when it expires).
"""

from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from webhooks.i18n import N_


@dataclass(frozen=True)
class EventType:
    """An event. ``name`` and ``description`` are English, as the API and the CLI show them;
    a page shows them translated (``gettext(event.name)``; the catalogue has them)."""

    slug: str
    name: str
    description: str
    sample: MappingProxyType
    # Fields of the sample that a real event may leave out: the original sends the billing
    # address fields only when they are filled in.
    optional: frozenset[str] = frozenset()

    def sample_data(self) -> dict[str, Any]:
        """A fresh, mutable copy of the sample payload."""
        return dict(self.sample)


CUSTOMER = {
    "customer_id": 42,
    "customer_name": "John McMocked",
    "customer_user_id": 7,
    "customer_user_email": "mockeduser@dev.dev",
    "customer_email_verification": "verified",
    "customer_avatar": "https://www.gravatar.com/avatar/00000000000000000000000000000000",
    "customer_billing_address": "Mocked Street 1, Suite 2, 12345 Mocktown, CA, US",
    "customer_manage_url": "https://network.example.com/wp-admin/network/admin.php?page=wp-ultimo-edit-customer&id=42",
}

MEMBERSHIP = {
    "membership_id": 17,
    "membership_status": "active",
    "membership_reference_code": "MEMB-7F3A9C",
    "membership_initial_amount": "$29.00",
    "membership_initial_amount_raw": 29.0,
    "membership_amount": "$29.00",
    "membership_amount_raw": 29.0,
    "membership_currency": "USD",
    "membership_description": "Premium plan, billed monthly",
    "membership_gateway": "stripe",
    "membership_date_expiration": "2026-12-31 23:59:59",
    "membership_manage_url": "https://network.example.com/wp-admin/network/admin.php?page=wp-ultimo-edit-membership&id=17",
}

PAYMENT = {
    "payment_id": 105,
    "payment_status": "completed",
    "payment_reference_code": "PAY-2C81D0",
    "payment_subtotal": "$29.00",
    "payment_subtotal_raw": 29.0,
    "payment_tax_total": "$0.00",
    "payment_tax_total_raw": 0.0,
    "payment_total": "$29.00",
    "payment_total_raw": 29.0,
    "payment_currency": "USD",
    "payment_product_names": "Premium",
    "payment_date_created": "2026-11-30 12:00:00",
    "payment_gateway": "stripe",
    "payment_invoice_url": "https://network.example.com/?action=invoice_pdf&reference=PAY-2C81D0",
    "payment_manage_url": "https://network.example.com/wp-admin/network/admin.php?page=wp-ultimo-edit-payment&id=105",
}

# The customer's billing address, which the original adds to its model events
# (``get_model_payload``); it sends only the fields that are filled in.
BILLING = {
    "company_name": "McMocked Ltd",
    "billing_email": "mockeduser@dev.dev",
    "billing_address_line_1": "Mocked Street 1",
    "billing_address_line_2": "Suite 2",
    "billing_country": "US",
    "billing_state": "CA",
    "billing_city": "Mocktown",
    "billing_zip_code": "12345",
}

SITE = {
    "site_id": 3,
    "site_title": "Example Site",
    "site_description": "Just another example site",
    "site_url": "https://examplesite.dev",
    "site_admin_url": "https://examplesite.dev/wp-admin/",
    "site_manage_url": "https://network.example.com/wp-admin/network/admin.php?page=wp-ultimo-edit-site&id=3",
}

DOMAIN = {
    "domain_id": 9,
    "domain_domain": "example.com",
    "domain_site_id": 3,
    "domain_stage": "checking-dns",
    "domain_active": True,
    "domain_primary": True,
    "domain_secure": False,
    "domain_date_created": "2026-11-30 12:00:00",
    "domain_manage_url": "https://network.example.com/wp-admin/network/admin.php?page=wp-ultimo-edit-domain&id=9",
}


def _event(slug: str, name: str, description: str, *parts: dict[str, Any]) -> EventType:
    sample: dict[str, Any] = {}
    for part in parts:
        sample.update(part)
    optional = frozenset(BILLING) & frozenset(sample)
    return EventType(slug, name, description, MappingProxyType(sample), optional)


def _with(part: dict[str, Any], **values: Any) -> dict[str, Any]:
    """A copy of a mock object with some fields changed, in the same field order."""
    if unknown := set(values) - set(part):
        raise KeyError(f"no such fields in the mock object: {sorted(unknown)}")
    return {**part, **values}


EVENTS: tuple[EventType, ...] = (
    _event(
        "payment_received",
        N_("Payment Received"),
        N_("Fired when a customer pays: a first payment, a renewal or an upgrade."),
        PAYMENT,
        MEMBERSHIP,
        CUSTOMER,
    ),
    _event(
        "site_published",
        N_("Site Published"),
        N_("Fired when a new site is created and published on the network."),
        SITE,
        CUSTOMER,
        MEMBERSHIP,
    ),
    _event(
        "confirm_email_address",
        N_("Email Verification Needed"),
        N_("Fired when a customer signs up and has to confirm their email address."),
        {
            "verification_link": "https://network.example.com/?email-verification-key=3f9a2b7c&customer=42"
        },
        _with(CUSTOMER, customer_email_verification="pending"),
    ),
    _event(
        "domain_created",
        N_("New Domain Mapping Added"),
        N_("Fired when a custom domain is mapped to a site."),
        DOMAIN,
        SITE,
        MEMBERSHIP,
        CUSTOMER,
    ),
    _event(
        "renewal_payment_created",
        N_("New Renewal Payment Created"),
        N_("Fired when a renewal payment is created for a membership that is paid manually."),
        {"default_payment_url": "https://network.example.com/login/?payment=PAY-2C81D0"},
        # The original creates the payment as pending and puts the membership on hold first.
        _with(PAYMENT, payment_status="pending"),
        _with(MEMBERSHIP, membership_status="on-hold"),
        CUSTOMER,
    ),
    _event(
        "invoice_sent",
        N_("Invoice Sent"),
        N_("Fired when an invoice for a pending payment is sent to a customer."),
        {
            "payment_url": "https://network.example.com/login/?payment=PAY-2C81D0",
            "invoice_message": "Here is your invoice for the Premium plan.",
        },
        _with(PAYMENT, payment_status="pending"),
        CUSTOMER,
    ),
    _event(
        "payment_failed",
        N_("Recurring Payment Failed"),
        N_("Fired when the gateway reports that a recurring payment could not be charged."),
        MEMBERSHIP,
        CUSTOMER,
        {"payment_gateway": "stripe"},
    ),
    _event(
        "membership_expired",
        N_("Membership Expired"),
        N_("Fired when a membership reaches its expiration date without being renewed."),
        _with(MEMBERSHIP, membership_status="expired"),
        CUSTOMER,
    ),
    _event(
        "demo_site_expiring",
        N_("Demo Site Expiring"),
        N_(
            "Fired shortly before a demo site expires, so the customer can be reminded to "
            "convert it."
        ),
        SITE,
        MEMBERSHIP,
        CUSTOMER,
        {
            "demo_expires_at": "2026-12-01 12:00:00",
            "demo_time_remaining": "1 day",
            "site_admin_url": "https://examplesite.dev/wp-admin/",
            "site_url": "https://examplesite.dev",
        },
    ),
    _event(
        "customer_created",
        N_("Customer Created"),
        N_("Fired when a new customer is added."),
        CUSTOMER,
        BILLING,
    ),
    _event(
        "customer_updated",
        N_("Customer Updated"),
        N_("Fired when a customer's details change."),
        CUSTOMER,
        BILLING,
    ),
    _event(
        "membership_created",
        N_("Membership Created"),
        N_("Fired when a new membership is added."),
        MEMBERSHIP,
        CUSTOMER,
        BILLING,
    ),
    _event(
        "membership_updated",
        N_("Membership Updated"),
        N_("Fired when a membership changes: status, plan, amount or expiration."),
        MEMBERSHIP,
        CUSTOMER,
        BILLING,
    ),
    _event(
        "payment_created",
        N_("Payment Created"),
        N_("Fired when a new payment record is added."),
        PAYMENT,
        MEMBERSHIP,
        CUSTOMER,
        BILLING,
    ),
    _event(
        "payment_updated",
        N_("Payment Updated"),
        N_("Fired when a payment changes, for example from pending to completed or refunded."),
        PAYMENT,
        MEMBERSHIP,
        CUSTOMER,
        BILLING,
    ),
    _event(
        "webhook_disabled",
        N_("Webhook Disabled"),
        N_(
            "Fired when a webhook is disabled because its receiver kept failing or answered "
            "410 Gone."
        ),
        {
            "webhook_id": 12,
            "webhook_name": "Zapier Integration",
            "webhook_url": "https://hooks.example.com/catch/123",
            "webhook_event": "payment_received",
            "disabled_reason": "Every attempt failed for 5 days; the last: HTTP 500 in 31 ms",
            "disabled_at": "2026-11-30T12:00:00+00:00",
        },
    ),
)
