"""The host names the site answers to (TRUSTED_HOSTS): a request naming another host in its Host
header gets a 400 page, so no link or redirect the site builds can point at the attacker's host.

The list becomes Flask's own TRUSTED_HOSTS, which Werkzeug checks wherever the request's host
is read. Flask's check alone, though, leaves the request without the URL map it needs to draw
an error page (a 500). So a request naming another host is first given the site's own name
here, and marked to be refused with 400 before any view runs, with the site's error page, or
the API's JSON error. Unset, every host is answered, as with ``make run``.
"""

import re

from flask import Flask, abort, request
from werkzeug.sansio.utils import host_is_trusted
from werkzeug.wsgi import get_host

from webhooks.i18n import _l
from webhooks.settings import SettingError

# A DNS name or an IPv4 address; a leading dot also accepts every subdomain (".example.com").
HOST_NAME = re.compile(r"^\.?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$")
UNTRUSTED = "webhooks.untrusted_host"
EXPECTED = "comma-separated host names without a port, such as webhooks.example.com"
MESSAGE = _l("This site is not served under the host name in the request.")


def parse_trusted_hosts(setting) -> list[str] | None:
    """Host names from a comma-separated setting (or a list); None when unset or empty.

    A bad entry raises ``SettingError`` naming the setting."""
    if setting is None:
        return None
    items = setting.split(",") if isinstance(setting, str) else setting
    if not isinstance(items, list | tuple):
        raise SettingError("TRUSTED_HOSTS", setting, "is not a list of host names", EXPECTED)
    hosts = []
    for item in items:
        name = item.strip().lower() if isinstance(item, str) else item
        if name == "":
            continue
        if not isinstance(name, str) or not HOST_NAME.match(name):
            raise SettingError("TRUSTED_HOSTS", item, "is not a host name", EXPECTED)
        hosts.append(name)
    return hosts or None


class HostGuard:
    """WSGI middleware: a request for a host not in ``hosts`` is sent on under the first trusted
    name, marked so that the app refuses it."""

    def __init__(self, wsgi_app, hosts: list[str]) -> None:
        self.wsgi_app = wsgi_app
        self.hosts = hosts
        self.stand_in = hosts[0].lstrip(".")

    def __call__(self, environ, start_response):
        if not host_is_trusted(get_host(environ), self.hosts):
            environ[UNTRUSTED] = True
            environ["HTTP_HOST"] = self.stand_in
        return self.wsgi_app(environ, start_response)


def refuse_untrusted_host():
    if request.environ.get(UNTRUSTED):
        abort(400, description=str(MESSAGE))


def init_app(app: Flask) -> None:
    """Before the reverse proxy fix is applied, so that the host checked is the one the
    trusted proxy forwarded."""
    hosts = parse_trusted_hosts(app.config.get("TRUSTED_HOSTS"))
    app.config["TRUSTED_HOSTS"] = hosts
    if hosts:
        app.wsgi_app = HostGuard(app.wsgi_app, hosts)
        # First of all, before the login check could redirect the request elsewhere.
        app.before_request_funcs.setdefault(None, []).insert(0, refuse_untrusted_host)
