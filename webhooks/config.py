"""Default settings; set each in instance/config.py or as WEBHOOKS_<NAME> in the environment."""

DEFAULTS = {
    # Seconds to wait for a receiver to connect and to answer.
    "DELIVERY_TIMEOUT": 15,
    # Bytes of a receiver's response body kept in the delivery log.
    "RESPONSE_BODY_LIMIT": 20 * 1024,
    # Comma-separated CIDR ranges the recipient guard lets through although they are not public,
    # e.g. "127.0.0.0/8" to deliver to a receiver on this machine.
    "ALLOWED_NETWORKS": "",
    "WEBHOOKS_PER_PAGE": 20,
    "RECENT_DELIVERIES": 10,
    "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "REMEMBER_COOKIE_HTTPONLY": True,
    "REMEMBER_COOKIE_SAMESITE": "Lax",
}
