"""Render time per message: the fast path against Jinja2, on bench_send's text+HTML campaign."""

import argparse
import sys
import time
from pathlib import Path

from jinja2 import StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from _table import print_table  # noqa: E402

from messagehub_tui.compose import Composer  # noqa: E402

# the campaign bench_send.py sends (about 4.6 KB a message)
TEXT = ("Dear {{ first_name }} {{ last_name }},\n\n" + "Your plan {{ plan }} in {{ city }} "
        "renews soon; here is what changed this month and what it means for you.\n" * 30 +
        "\nRegards,\nThe team\n")
HTML = ("<html><body><h1>Hello {{ first_name }}</h1>" + "<p>Your plan <b>{{ plan }}</b> in "
        "{{ city }} renews soon; here is what changed this month.</p>\n" * 25 + "</body></html>\n")
SUBJECT = "{{ first_name }}, your {{ plan }} plan"


def contacts(count: int) -> list[dict]:
    return [{"first_name": f"Zoë{i}", "last_name": f"O'Brien & Co {i}", "plan": "<gold>",
             "city": "Zürich", "email": f"user{i}@example.com", "phone": ""}
            for i in range(count)]


def per_message(renders: dict, people: list[dict], passes: int) -> dict:
    """Microseconds per message of each render, best of `passes` interleaved passes (the
    machine is shared: interleaving gives every contender the same quiet moments)."""
    best = dict.fromkeys(renders, float("inf"))
    for _ in range(passes):
        for name, render in renders.items():
            started = time.perf_counter()
            for variables in people:
                render(variables)
            best[name] = min(best[name], time.perf_counter() - started)
    return {name: seconds / len(people) * 1e6 for name, seconds in best.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--passes", type=int, default=7)
    args = parser.parse_args()
    people = contacts(args.messages)

    text_env = SandboxedEnvironment(undefined=StrictUndefined, keep_trailing_newline=True)
    html_env = SandboxedEnvironment(undefined=StrictUndefined, keep_trailing_newline=True,
                                    autoescape=True)
    plain = (text_env.from_string(SUBJECT), text_env.from_string(TEXT),
             html_env.from_string(HTML))
    fast = Composer("email", TEXT, subject=SUBJECT, html=HTML, sender="News <news@example.com>")
    slow = Composer("email", TEXT, subject=SUBJECT, html=HTML, sender="News <news@example.com>")
    for compiled in (slow._subject, slow._body, slow._html):
        compiled.fast = None  # what every message cost before the fast path
    templates = [fast._subject.fast, fast._body.fast, fast._html.fast]
    assert None not in templates

    def email(composer):
        return lambda v: composer.email_bytes(v, v["email"], "1.1.1")
    us = per_message({
        "plain": lambda v: [t.render(v) for t in plain],
        "fast": lambda v: [t.render(v) for t in templates],
        "email jinja": email(slow),
        "email fast": email(fast),
    }, people, args.passes)
    size = len(fast.email_bytes(people[0], people[0]["email"], "1.1.1"))
    print_table("render time per message (bench_send's text+HTML campaign)", [
        ("messages", f"{len(people):,}, best of {args.passes} interleaved passes"),
        ("message size", f"{size:,} bytes"),
        ("3 templates, Jinja2 sandbox", f"{us['plain']:.1f} us"),
        ("3 templates, fast path", f"{us['fast']:.1f} us  "
                                   f"({us['plain'] / us['fast']:.1f}x faster)"),
        ("whole email, Jinja2 path", f"{us['email jinja']:.1f} us  "
                                     f"({1e6 / us['email jinja']:,.0f} msg/s on one core)"),
        ("whole email, fast path", f"{us['email fast']:.1f} us  "
                                   f"({1e6 / us['email fast']:,.0f} msg/s on one core)"),
        ("whole email speed-up", f"{us['email jinja'] / us['email fast']:.2f}x"),
    ])


if __name__ == "__main__":
    main()
