"""`demo`: sample contacts and campaigns in outbox mode, so a newcomer sees the app working at
once."""

from __future__ import annotations

from datetime import timedelta

from messagehub_tui import campaigns, contacts, control
from messagehub_tui.config import Settings
from messagehub_tui.models import Campaign, utcnow

PEOPLE = [
    ("ada@example.com", "+14155550101", "Ada", "Lovelace", "London", "pro"),
    ("grace@example.com", "+14155550102", "Grace", "Hopper", "New York", "free"),
    ("zoe@example.com", "+33612345678", "Zoë", "Dupré", "Paris", "pro"),
    ("jose@example.com", "+34612345678", "José", "Núñez", "Sevilla", "free"),
    ("linus@example.com", "", "Linus", "Torvalds", "Portland", "pro"),
    ("", "+4915112345678", "Jürgen", "Schmidt", "Berlin", "free"),
    ("margaret@example.com", "+14155550107", "Margaret", "Hamilton", "Boston", "pro"),
    ("not-an-address", "", "Broken", "Row", "Nowhere", "free"),
]

NEWSLETTER = """Hello {{ first_name }},

Here is what is new this month in {{ city }}. Your {{ plan }} plan renews soon.

Regards,
The messagehub team
"""
NEWSLETTER_HTML = "<h1>Hello {{ first_name }}</h1><p>What is new in {{ city }}.</p>\n"


def fill_demo(settings: Settings) -> str:
    """Import sample contacts and create demo campaigns, once; returns what was done."""
    if Campaign.select().exists():
        return "the demo home already has campaigns; opening it as it is"
    path = settings.home / "demo-contacts.csv"
    rows = ["email,phone,first_name,last_name,city,plan"] + [",".join(p) for p in PEOPLE]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    result = contacts.import_csv(path, settings.home, "demo", settings.sms.default_region)
    contacts.suppress(["linus@example.com"], "email", "asked to stop (demo)")
    campaigns.create(settings, "Monthly newsletter", "email", "demo", NEWSLETTER,
                     subject="{{ first_name }}, your {{ city }} news", html=NEWSLETTER_HTML)
    campaigns.create(settings, "Renewal reminder", "sms", "demo",
                     "Hi {{ first_name }}, your {{ plan }} plan renews soon. "
                     "Reply STOP to opt out.")
    later = campaigns.create(settings, "Weekend offer", "email", "demo", NEWSLETTER,
                             subject="A weekend offer for {{ first_name }}")
    control.schedule(settings, later.id, utcnow() + timedelta(hours=1))
    return f"demo: {result.summary()} into list demo; 3 campaigns created (outbox mode)"
