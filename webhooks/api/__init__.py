"""The HTTP API under /api/v1, authenticated with bearer tokens (see docs/api.md)."""

# Each module adds its routes to the blueprint.
from webhooks.api import catalogue, deliveries, events, openapi, webhooks, zapier  # noqa: F401
from webhooks.api.blueprint import bp

__all__ = ["bp"]
