"""The delivery engine: the dispatcher that claims due deliveries within each webhook's limits
and sends them on the process's event loop, the claims, the retry schedule and outcomes, and
the two engines it runs in (embedded: the web process or `flask worker`; Celery workers)."""
