"""The admin site's languages: English and Turkish, chosen by the user or the browser.

Only the admin pages are translated. The REST API (its JSON messages, the event catalogue it
serves), the CLI and the worker always speak English, whatever the client's Accept-Language:
their texts are read by programs and written to logs, so they must not change with a browser.

Strings made at import time (form labels, validator messages) are marked with
``lazy_gettext`` (``_l``) and translated each time they are shown; strings made while a request
is served use ``gettext`` (``_``) with named placeholders. Data that stays English in the API
(the event catalogue's names) is marked with ``N_`` and translated where a page shows it.
"""

from collections.abc import Iterable

from flask import Flask, has_request_context, request, session
from flask_babel import Babel, get_locale, gettext, lazy_gettext, refresh

LANGUAGES = {"en": "English", "tr": "Türkçe"}
DEFAULT_LANGUAGE = "en"
SESSION_KEY = "language"
API_PATH = "/api/"  # the API's blueprint and its error answers (webhooks.errors.wants_json)

babel = Babel()
_l = lazy_gettext

__all__ = [
    "DEFAULT_LANGUAGE",
    "LANGUAGES",
    "SESSION_KEY",
    "N_",
    "_l",
    "babel",
    "current_language",
    "init_app",
    "or_list",
    "select_locale",
]


def N_(text: str) -> str:
    """Mark ``text`` for the catalogue and return it untranslated (gettext_noop): for English
    data that a page translates when it shows it, with ``gettext(text)``."""
    return text


def select_locale() -> str:
    """The user's own choice when they made one, else the best match of Accept-Language;
    English for the API and outside a request (CLI, worker)."""
    if not has_request_context() or request.path.startswith(API_PATH):
        return DEFAULT_LANGUAGE
    chosen = session.get(SESSION_KEY)
    if chosen in LANGUAGES:
        return chosen
    return request.accept_languages.best_match(LANGUAGES) or DEFAULT_LANGUAGE


def current_language() -> str:
    """The language code of this request's pages ("en", "tr"), for ``<html lang>``."""
    locale = get_locale()
    return locale.language if locale is not None else DEFAULT_LANGUAGE


def or_list(items: Iterable[str]) -> str:
    """Words joined as “a or b or c” in the page's language."""
    words = [str(item) for item in items]
    if not words:
        return ""
    text = words[0]
    for word in words[1:]:
        text = gettext("%(first)s or %(second)s", first=text, second=word)
    return text


def language_context() -> dict:
    return {"current_language": current_language()}


def init_app(app: Flask) -> None:
    from webhooks.i18n.views import bp

    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT_LANGUAGE)
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", "UTC")
    babel.init_app(app, locale_selector=select_locale)
    # Choose the language afresh for every request, even one served inside an app context
    # that an earlier request already chose for (Flask-Babel keeps the choice in ``g``).
    app.before_request(refresh)
    app.add_template_global(LANGUAGES, "languages")
    app.context_processor(language_context)
    app.register_blueprint(bp)
