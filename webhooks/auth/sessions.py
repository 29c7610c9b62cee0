"""The session cookie over HTTPS, and who the client is behind a reverse proxy.

The cookie is marked Secure whenever the request came over HTTPS, so a site served over HTTPS
needs no setting for it; SESSION_COOKIE_SECURE=True marks it Secure always. Behind a proxy that
ends TLS, set TRUSTED_PROXIES so that its X-Forwarded-Proto (and X-Forwarded-For, the address
the login limits count by, and X-Forwarded-Host and -Port, the site's address in the links and
redirects it builds) are believed; no forwarded header is believed otherwise, since any client
can send one.
"""

from flask import Flask, has_request_context, request
from flask.sessions import SecureCookieSessionInterface
from werkzeug.middleware.proxy_fix import ProxyFix

from webhooks.numbers import plain_digits
from webhooks.settings import SettingError


class HttpsAwareSessionInterface(SecureCookieSessionInterface):
    def get_cookie_secure(self, app: Flask) -> bool:
        return super().get_cookie_secure(app) or (has_request_context() and request.is_secure)


def trusted_proxies(app: Flask) -> int:
    value = app.config["TRUSTED_PROXIES"]
    if isinstance(value, str) and plain_digits(value.strip()):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise SettingError(
            "TRUSTED_PROXIES", value, "is not a number of proxies", "a whole number, such as 0 or 1"
        )
    return value


def init_app(app: Flask) -> None:
    app.session_interface = HttpsAwareSessionInterface()
    proxies = trusted_proxies(app)
    if proxies:
        app.wsgi_app = ProxyFix(
            app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies, x_port=proxies
        )
