"""Turkish that reads as Turkish: the wording the UX review asked for, as the pages show it."""

import re

import pytest

from tests.engine_helpers import api_token, bearer, expand
from tests.test_i18n import speaking, text_of


@pytest.fixture
def turkish(client, auth):
    speaking(client, "tr")
    auth.login()
    return client


def squeezed(response) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", text_of(response)).split())


def test_the_dashboard_counts_take_no_plural_after_a_number(turkish, make_webhook):
    make_webhook(name="Bir")
    make_webhook(name="İki")

    page = squeezed(turkish.get("/"))

    assert "2 ✓ Etkin webhook" in page
    assert "Etkin webhook'lar" not in page and "Etkin değil webhook'lar" not in page
    assert "Son 24 saatteki teslimatlar" in page
    assert "Kontrol paneli" in page


def test_deleting_one_webhook_speaks_of_its_history_in_the_singular(turkish, client, make_webhook):
    webhook = make_webhook(name="Tek")

    assert "Teslimat geçmişi de silinir." in squeezed(turkish.get(f"/webhooks/{webhook}/delete"))
    speaking(client, "en")
    assert "Its delivery history is deleted too." in squeezed(
        client.get(f"/webhooks/{webhook}/delete")
    )


def test_a_delivery_names_its_source_in_capitals(app, turkish, make_webhook):
    make_webhook(name="CRM")
    answer = turkish.post(
        "/api/v1/events",
        json={"type": "payment_received", "data": {}},
        headers=bearer(api_token(app)),
    )
    assert answer.status_code == 202
    assert expand(app) == 1
    listed = turkish.get("/api/v1/deliveries", headers=bearer(api_token(app, "reader", "read")))
    delivery = listed.get_json()["data"][0]["id"]

    page = squeezed(turkish.get(f"/deliveries/{delivery}"))

    assert "API üzerinden bildirildi" in page
    assert "Oluşturulma tarihi" in page or "Son güncelleme" in page or "Olay" in page


def test_the_search_placeholder_fits_its_field(turkish, make_webhook):
    make_webhook()

    assert 'placeholder="Ad veya URL ara"' in text_of(turkish.get("/webhooks/"))
