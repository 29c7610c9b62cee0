"""Security headers on every answer: a Content-Security-Policy that allows no inline script,
no MIME sniffing, no framing by other sites, a strict referrer policy, and HSTS over HTTPS.

The pages load their CSS and JavaScript from ``static/`` only and carry no inline handlers or
style attributes (``tests/test_security_headers.py`` keeps it so), which is what lets the policy
be this strict: a receiver's response shown in the delivery log cannot run as script even if
escaping ever failed.

No answer but a static file may be kept by a browser or a proxy (``Cache-Control: no-store``):
the webhook page, a new webhook's API answer and the token page carry signing secrets and
tokens, and every other answer shows the delivery log, which is the platform's data.
"""

from flask import Flask, Response, request

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}
# Sent only over HTTPS: browsers ignore it on plain HTTP, and a site tried out on
# http://127.0.0.1 must not be pinned to HTTPS.
HSTS = "max-age=31536000"


def add_security_headers(response: Response) -> Response:
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    if request.is_secure:
        response.headers.setdefault("Strict-Transport-Security", HSTS)
    if request.endpoint != "static":
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def shown_once(response: Response) -> Response:
    """A page that shows a secret once (a new token, a generated password): kept out of
    HTTP/1.0 caches too, beside the ``no-store`` every answer gets."""
    response.headers["Pragma"] = "no-cache"
    return response


def init_app(app: Flask) -> None:
    app.after_request(add_security_headers)
