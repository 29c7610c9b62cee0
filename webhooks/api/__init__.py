"""The HTTP API under /api/v1, authenticated with bearer tokens."""

# Each module adds its routes to the blueprint.
from webhooks.api import events  # noqa: F401
from webhooks.api.blueprint import bp

__all__ = ["bp"]
