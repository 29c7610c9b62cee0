"""The test panel's two requests: start a test send (answers at once with its id) and read its
result. The page's script posts the form with ``Accept: application/json`` and polls the
result; without the script the form posts as any other and the webhook's page shows the result
(``?test_send=<id>``)."""

from flask import Blueprint, current_app, jsonify, redirect, render_template, request, url_for

from webhooks import lifecycle
from webhooks.admin.views import get_webhook_or_404, render_edit
from webhooks.delivery.pipeline import current_deliverer
from webhooks.test_panel import background
from webhooks.test_panel.forms import TestPanelForm
from webhooks.test_panel.results import outcome, test_send_or_404

bp = Blueprint("test_panel", __name__)


def wants_json() -> bool:
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


@bp.post("/<id:webhook_id>/test-panel")
def send(webhook_id: int):
    webhook = get_webhook_or_404(webhook_id)
    form = TestPanelForm(webhook)
    if not form.validate_on_submit():
        if wants_json():
            errors = {
                name: [str(error) for error in errors] for name, errors in form.errors.items()
            }
            return jsonify({"errors": errors}), 422
        return render_edit(webhook, panel=form), 422
    deliverer = current_deliverer()
    test = lifecycle.begin_test_send(webhook, form.event.data, form.checked_data, deliverer)
    background.start(current_app._get_current_object(), deliverer, test)
    if wants_json():
        result_url = url_for(
            "test_panel.result", webhook_id=webhook.id, delivery_id=test.delivery_id
        )
        return jsonify({"id": test.delivery_id, "result_url": result_url}), 202
    return redirect(
        url_for(
            "webhooks.edit",
            webhook_id=webhook.id,
            test_send=test.delivery_id,
            _anchor="test-panel",
        ),
        303,
    )


@bp.get("/<id:webhook_id>/test-panel")
def panel(webhook_id: int):
    """The panel's address asked for again (a reload after a refused send): the page's panel."""
    get_webhook_or_404(webhook_id)
    return redirect(url_for("webhooks.edit", webhook_id=webhook_id, _anchor="test-panel"))


@bp.get("/<id:webhook_id>/test-sends/<bigid:delivery_id>")
def result(webhook_id: int, delivery_id: int):
    """``{"state": "sending" | "done" | "lost", "ok", "message", "status", "duration_ms",
    "response", "html"}``; ``html`` is the result as the page shows it."""
    found = outcome(test_send_or_404(webhook_id, delivery_id))
    html = render_template("test_panel/_result.html", outcome=found)
    return jsonify(found.as_json() | {"html": html})
