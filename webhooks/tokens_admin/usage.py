"""The curl command the token pages show: it works when pasted into a shell, with the real
token (on the page that shows it once), this site's host and port, and a body the catalogue's
schema accepts."""

import json
import shlex

from webhooks.catalogue import get_event

EXAMPLE_EVENT = "payment_received"


def report_command(events_url: str, token: str | None) -> str:
    """``curl`` reporting the example event to ``events_url``; without ``token`` it reads the
    token from the WEBHOOKS_TOKEN variable of the shell."""
    event = get_event(EXAMPLE_EVENT)
    body = json.dumps({"type": event.slug, "data": event.sample_data()}, separators=(",", ":"))
    authorization = (
        shlex.quote(f"Authorization: Bearer {token}")
        if token
        else '"Authorization: Bearer $WEBHOOKS_TOKEN"'
    )
    return (
        f"curl -H {authorization} -H 'Content-Type: application/json' \\\n"
        f"  -d {shlex.quote(body)} \\\n"
        f"  {shlex.quote(events_url)}"
    )
