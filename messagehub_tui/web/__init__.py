"""The feedback endpoint (aiohttp): one-click unsubscribe, the bounce webhook, health; it only
parses and verifies, the feedback service records. See app.py for the routes, serving.py for who
runs it."""

HEALTH_TEXT = "messagehub-tui ok\n"  # what GET /healthz answers; doctor looks for it
