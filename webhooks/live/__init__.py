"""Live pages: the delivery list, a delivery, a webhook and the dashboard update themselves
while deliveries are in flight. The browser polls a small JSON answer (``views.py``) that says
whether the page's data changed (``versions.py``), then fetches the page again and swaps its
marked regions (``static/js/live.js``); docs/live-pages.md tells why it polls."""
