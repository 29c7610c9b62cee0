"""The admin site's languages: English and Turkish, chosen by the user or the browser."""

from flask import Flask, request, session
from flask_babel import Babel

LANGUAGES = {"en": "English", "tr": "Türkçe"}
DEFAULT_LANGUAGE = "en"
SESSION_KEY = "language"

babel = Babel()


def select_locale() -> str:
    """The user's own choice when they made one, else the best match of Accept-Language."""
    chosen = session.get(SESSION_KEY)
    if chosen in LANGUAGES:
        return chosen
    return request.accept_languages.best_match(LANGUAGES) or DEFAULT_LANGUAGE


def init_app(app: Flask) -> None:
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT_LANGUAGE)
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", "UTC")
    babel.init_app(app, locale_selector=select_locale)
    app.add_template_global(LANGUAGES, "languages")
