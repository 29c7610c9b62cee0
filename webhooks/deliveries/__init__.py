"""The delivery log: every message sent to a webhook, its attempts, redelivery and recovery."""
