from tests.conftest import post_form


def test_logged_in_admin_sees_empty_state_with_add_button(admin):
    page = admin.get("/webhooks/").get_data(as_text=True)
    assert "No webhooks yet" in page
    assert "Add New Webhook" in page
    assert "Payment Received" in page


def test_send_test_event_reaches_receiver(admin, receiver, make_webhook):
    receiver.expect_request("/hook", method="POST").respond_with_data("thanks", status=200)
    webhook_id = make_webhook(url=receiver.url_for("/hook"))
    response = post_form(admin, f"/webhooks/{webhook_id}/test", {}, f"/webhooks/{webhook_id}/edit")
    assert response.status_code == 302
    page = admin.get(response.headers["Location"]).get_data(as_text=True)
    assert "Test event delivered" in page, page
    assert "HTTP 200 OK" in page
    assert len(receiver.log) == 1
