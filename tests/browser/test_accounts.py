"""The accounts pages in a real browser, in English and in Turkish: change your password from
the header's email and log in with the new one; add an admin on the Admins page and remove
them through the confirmation page."""

import re

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from tests.browser.conftest import log_in
from tests.browser.test_language import choose_language
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD
from webhooks.extensions import db
from webhooks.models import User

NEW_PASSWORD = "a brand new passphrase"
NEWCOMER = "new.admin@example.com"

WORDS = {
    "en": {
        "language": "English",
        "email": "Email",
        "password": "Password",
        "log_in": "Log in",
        "log_out": "Log out",
        "current": "Current password",
        "new": "New password",
        "again": "New password again",
        "change": "Change password",
        "wrong": "The current password is wrong.",
        "changed": "Password changed. Your other sessions have been logged out.",
        "admins": "Admins",
        "initial": "Initial password",
        "add": "Add admin",
        "remove": "Remove",
        "confirm": f"Remove {NEWCOMER}?",
        "copy_now": "Copy this password now.",
        "removed": f"Admin {NEWCOMER} removed; their sessions have ended.",
    },
    "tr": {
        "language": "Türkçe",
        "email": "E-posta",
        "password": "Parola",
        "log_in": "Giriş yap",
        "log_out": "Çıkış yap",
        "current": "Mevcut parola",
        "new": "Yeni parola",
        "again": "Yeni parola (tekrar)",
        "change": "Parolayı değiştir",
        "wrong": "Mevcut parola yanlış.",
        "changed": "Parola değiştirildi. Diğer oturumlarınız kapatıldı.",
        "admins": "Yöneticiler",
        "initial": "İlk parola",
        "add": "Yöneticiyi ekle",
        "remove": "Kaldır",
        "confirm": f"{NEWCOMER} kaldırılsın mı?",
        "copy_now": "Bu parolayı şimdi kopyalayın.",
        "removed": f"{NEWCOMER} yöneticisi kaldırıldı; oturumları kapatıldı.",
    },
}


def logged_in_page(open_page, language: str) -> Page:
    page = open_page()
    log_in(page)
    if language != "en":
        choose_language(page, WORDS[language]["language"])
    expect(page.locator("html")).to_have_attribute("lang", language)
    return page


def admins(app) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(User.email).order_by(User.email)))


@pytest.mark.parametrize("language", ["en", "tr"])
def test_change_the_password_then_log_in_with_the_new_one(app, open_page, language):
    words = WORDS[language]
    page = logged_in_page(open_page, language)
    page.get_by_role("link", name=re.compile(re.escape(ADMIN_EMAIL))).click()
    expect(page.get_by_role("heading", name=words["change"])).to_be_visible()

    page.get_by_label(words["current"], exact=True).fill("not my password")
    page.get_by_label(words["new"], exact=True).fill(NEW_PASSWORD)
    page.get_by_label(words["again"], exact=True).fill(NEW_PASSWORD)
    page.get_by_role("button", name=words["change"]).click()
    expect(page.get_by_text(words["wrong"])).to_be_visible()

    page.get_by_label(words["current"], exact=True).fill(ADMIN_PASSWORD)
    page.get_by_label(words["new"], exact=True).fill(NEW_PASSWORD)
    page.get_by_label(words["again"], exact=True).fill(NEW_PASSWORD)
    page.get_by_role("button", name=words["change"]).click()
    expect(page.get_by_text(words["changed"])).to_be_visible()

    page.get_by_role("button", name=words["log_out"]).click()
    page.get_by_label(words["email"], exact=True).fill(ADMIN_EMAIL)
    page.get_by_label(words["password"], exact=True).fill(NEW_PASSWORD)
    page.get_by_role("button", name=words["log_in"]).click()
    expect(page.get_by_role("button", name=words["log_out"])).to_be_visible()


@pytest.mark.parametrize("language", ["en", "tr"])
def test_add_an_admin_then_remove_them_after_confirming(app, open_page, screenshot, language):
    words = WORDS[language]
    page = logged_in_page(open_page, language)
    page.get_by_role("link", name=words["admins"], exact=True).click()
    expect(page.get_by_role("heading", name=words["admins"]).first).to_be_visible()

    page.get_by_label(words["email"], exact=True).fill(NEWCOMER)
    page.get_by_role("button", name=words["add"]).click()
    expect(page.get_by_text(words["copy_now"])).to_be_visible()
    password = page.locator("#new-password").inner_text().strip()
    assert len(password) >= 8
    assert admins(app) == [ADMIN_EMAIL, NEWCOMER]
    if language == "en":
        screenshot(page, "admin-added")

    newcomer = open_page()
    log_in(newcomer, NEWCOMER, password)
    expect(newcomer.get_by_role("button", name="Log out")).to_be_visible()

    page.goto("/admins/")
    if language == "en":
        screenshot(page, "admins")
    row = page.get_by_role("row").filter(has_text=NEWCOMER)
    row.get_by_role("link", name=re.compile(words["remove"], re.IGNORECASE)).click()
    expect(page.get_by_role("heading", name=words["confirm"])).to_be_visible()
    page.get_by_role("button", name=words["remove"], exact=True).click()
    expect(page.get_by_text(words["removed"])).to_be_visible()
    expect(page.get_by_role("row").filter(has_text=NEWCOMER)).to_have_count(0)
    assert admins(app) == [ADMIN_EMAIL]

    newcomer.reload()
    expect(newcomer).to_have_url(re.compile(r"/login"))
