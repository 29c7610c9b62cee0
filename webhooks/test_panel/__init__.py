"""The test panel of a webhook's page: send one of the webhook's events with a payload the
admin edits, through the same pipeline and record as Send Test Event, and show the result
without holding the page (the send runs in the background, the page polls for its result)."""
