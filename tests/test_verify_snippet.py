"""The "Verify this signature" snippet on a webhook's page works as shown: a receiver that
pastes the Python snippet, puts the webhook's secret in place of the placeholder and passes
the raw body and headers it got, reads the payload back — and a forged request is refused."""

import html
import json
import re

import pytest
from standardwebhooks.webhooks import WebhookVerificationError

from tests.conftest import post_form
from tests.engine_helpers import received_headers
from webhooks.extensions import db
from webhooks.models import Webhook

PLACEHOLDER = "whsec_…"


def snippet(page: str, element_id: str) -> str:
    found = re.search(rf'<pre id="{element_id}"[^>]*>(.*?)</pre>', page, re.S)
    assert found, f"no {element_id} snippet on the page"
    return html.unescape(found.group(1))


def run_python_snippet(code: str, secret: str, body: str, headers: dict[str, str]):
    """Run the snippet as a receiver would paste it, with its secret filled in."""
    assert code.count(PLACEHOLDER) == 1
    namespace = {"body": body, "headers": headers}
    exec(code.replace(PLACEHOLDER, secret), namespace)  # noqa: S102 - the page's own sample
    return namespace["payload"]


def test_python_snippet_verifies_a_real_test_event(app, admin, receiver, make_webhook):
    receiver.expect_request("/hook", method="POST").respond_with_data("ok")
    webhook_id = make_webhook(url=receiver.url_for("/hook"))
    with app.app_context():
        secret = db.session.get(Webhook, webhook_id).secret

    page = admin.get(f"/webhooks/{webhook_id}/edit").get_data(as_text=True)
    code = snippet(page, "verify-python")
    assert secret not in code  # the page shows the placeholder, never the secret
    post_form(admin, f"/webhooks/{webhook_id}/test", {}, f"/webhooks/{webhook_id}/edit")
    [(request, _response)] = receiver.log
    body, headers = request.get_data(as_text=True), received_headers(request)

    assert run_python_snippet(code, secret, body, headers) == json.loads(body)
    with pytest.raises(WebhookVerificationError):
        run_python_snippet(code, secret, body.replace("}", ' , "forged": 1}', 1), headers)


def test_node_snippet_uses_the_same_library_call(admin, make_webhook):
    webhook_id = make_webhook()
    page = admin.get(f"/webhooks/{webhook_id}/edit").get_data(as_text=True)
    code = snippet(page, "verify-node")

    assert 'import { Webhook } from "standardwebhooks";' in code
    assert f'const secret = "{PLACEHOLDER}";' in code
    assert "new Webhook(secret)" in code and "wh.verify(body, headers)" in code
