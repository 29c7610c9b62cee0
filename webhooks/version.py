__version__ = "0.1.0"
PRODUCT = "Webhooks"
USER_AGENT = f"{PRODUCT}/{__version__} (self-hosted webhook delivery)"
