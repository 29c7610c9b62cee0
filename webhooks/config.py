"""Default settings; set each in instance/config.py or as WEBHOOKS_<NAME> in the environment."""

DEFAULTS = {
    # Seconds to wait for a receiver to connect and to answer.
    "DELIVERY_TIMEOUT": 15,
    # Bytes of a receiver's response body kept in the delivery log.
    "RESPONSE_BODY_LIMIT": 20 * 1024,
    # Comma-separated CIDR ranges the recipient guard lets through although they are not public,
    # e.g. "127.0.0.0/8" to deliver to a receiver on this machine.
    "ALLOWED_NETWORKS": "",
    # Seconds between attempts after a failure (± RETRY_JITTER); after the last step it has failed.
    "RETRY_SCHEDULE": "5,300,1800,7200,18000,36000,50400,72000,86400",
    "RETRY_JITTER": 0.2,
    # A webhook whose attempts have all failed for this many days is disabled.
    "DISABLE_AFTER_DAYS": 5,
    # Deliveries older than this many days are purged (daily by the worker, or `flask deliveries
    # purge`).
    "RETENTION_DAYS": 30,
    # Largest event payload the API, CLI and Python call accept, in bytes of JSON.
    "MAX_EVENT_BYTES": 256 * 1024,
    # What a reported event's data is checked against its event type's JSON Schema for, unless
    # the event type has a mode of its own (set on the Events page or through the API): "off"
    # (not checked), "warn" (stored with the problems found, flagged on its pages) or "reject"
    # (refused, nothing stored). See docs/schema-checks.md.
    "SCHEMA_ENFORCEMENT": "warn",
    # Worker: attempts in flight at once in one worker process, and how often it looks for work
    # written by other processes (work from this process wakes it at once).
    "WORKER_CONCURRENCY": 1000,
    "WORKER_POLL_INTERVAL": 1.0,
    # A webhook whose receiver fails this many attempts in a row (timeouts, no connection,
    # 5xx) is paused: its deliveries wait, and one probe goes at each step of RETRY_SCHEDULE.
    "BREAKER_AFTER": 5,
    # Run a delivery worker inside each web server process too. Off: `make run` starts the
    # worker as a process of its own (`flask worker`), so delivering never holds the web
    # server's GIL; on suits a small site served by one process.
    "EMBEDDED_WORKER": False,
    # The delivery engine: "embedded" (the worker above, in the web server or `flask worker`) or
    # "celery" (the same worker inside Celery worker processes, woken through
    # CELERY_BROKER_URL; Celery beat runs the daily purge).
    "QUEUE": "embedded",
    "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0",
    # Put before every Redis key this install writes (the Celery broker's queues and the login
    # limits' counters), e.g. "shop:", so several installs can share one Redis database.
    "REDIS_KEY_PREFIX": "",
    "WEBHOOKS_PER_PAGE": 20,
    "DELIVERIES_PER_PAGE": 50,
    "RECENT_DELIVERIES": 10,
    # Live pages (the delivery list, a delivery, a webhook, the dashboard): seconds between
    # looks for changes while they show deliveries pending, in flight or retrying within a
    # minute, and otherwise (0: none until the page is shown again).
    "LIVE_POLL_SECONDS": 2,
    "LIVE_IDLE_POLL_SECONDS": 15,
    # Largest request body of a form; the events API has its own limit (MAX_EVENT_BYTES).
    "MAX_CONTENT_LENGTH": 1024 * 1024,
    "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
    # How admin passwords are hashed (a werkzeug method string); the tests use a fast one.
    "PASSWORD_HASH_METHOD": "scrypt",
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "REMEMBER_COOKIE_HTTPONLY": True,
    "REMEMBER_COOKIE_SAMESITE": "Lax",
    # True marks the session cookie Secure always; otherwise it is Secure whenever the request
    # came over HTTPS.
    "SESSION_COOKIE_SECURE": False,
    # Reverse proxies in front of the site whose X-Forwarded-For, -Proto, -Host and -Port are
    # believed (the client address for the login limits, HTTPS for the Secure cookie, the site's
    # address for redirects); 0 trusts no such header, since any client can send one.
    "TRUSTED_PROXIES": 0,
    # Comma-separated host names the site answers to, e.g. "webhooks.example.com" (".example.com"
    # takes every subdomain too); a request naming another host gets a 400. Unset: any host.
    "TRUSTED_HOSTS": None,
    # Password checks: all login POSTs from one client address; for one email (known or not),
    # the attempts from browsers without a device cookie for it; and the attempts of one
    # browser with such a cookie (webhooks.auth.throttle). Flask-Limiter syntax, e.g.
    # "10 per minute".
    "LOGIN_LIMIT_PER_ADDRESS": "10 per minute",
    "LOGIN_LIMIT_PER_ACCOUNT": "5 per 15 minutes",
    "LOGIN_LIMIT_PER_DEVICE": "10 per 15 minutes",
    # Where the login limits count: memory:// counts in each process; with several processes
    # use a shared store, e.g. redis://127.0.0.1:6379/1. While that store is unreachable each
    # process counts in memory.
    "RATELIMIT_STORAGE_URI": "memory://",
    "RATELIMIT_STRATEGY": "moving-window",
    "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
    # Logs: "text" (lines for people) or "json" (one JSON object per line, with a line per
    # delivery attempt naming its delivery, webhook, message id, status and duration).
    "LOG_FORMAT": "text",
    # The bearer token a Prometheus scraper sends to GET /metrics; unset, /metrics answers 404.
    "METRICS_TOKEN": "",
}
