"""Twilio status callbacks the feedback endpoint takes per second, over real HTTP on loopback.

A home with one SMS campaign of `--messages` sent texts; for each, Twilio's usual pair of
callbacks, `sent` (not final: a look-up only) then `delivered` (final: one recorded feedback row),
each signed with RequestValidator against the public URL as Twilio signs them, posted by
`--concurrency` aiohttp clients at once. The endpoint checks every signature and does its
database work on its one database thread.

    python3 bench/bench_twilio_callbacks.py [--messages 3000] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

import aiohttp
from twilio.request_validator import RequestValidator

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from _table import print_table

from messagehub_tui import control, feedback
from messagehub_tui.models import db
from messagehub_tui.web.serving import start_endpoint
from tests.engine import make_home, poll
from tests.peers import free_port

TOKEN = "bench-token-not-secret"
PUBLIC = "https://news.example.com/mh"


def prepare(home: Path, messages: int, port: int):
    """A home whose campaign's deliveries are all sent, each with a MessageSid."""
    toml = (f'[sms]\ntransport = "twilio"\naccount_sid = "AC{"0" * 32}"\nfrom = "+15005550006"\n'
            f'[web]\nlisten = "127.0.0.1:{port}"\npublic_url = "{PUBLIC}"\n')
    settings, cid = make_home(home, toml, count=messages, channel="sms", body="x")
    control.launch(settings, cid, start=False)
    with db.atomic():
        db.execute_sql("UPDATE delivery SET status = 'sent', provider_id = printf('SM%032x', id) "
                       "WHERE campaign_id = ?", (cid,))
    sids = [row[0] for row in db.execute_sql(
        "SELECT provider_id FROM delivery WHERE campaign_id = ?", (cid,))]
    return settings, cid, sids


def signed_forms(sids: list[str]) -> list[tuple[bytes, str]]:
    validator = RequestValidator(TOKEN)
    forms = []
    for state in ("sent", "delivered"):
        for sid in sids:
            params = {"MessageSid": sid, "MessageStatus": state, "To": "+14155550000"}
            forms.append((urlencode(params).encode(),
                          validator.compute_signature(PUBLIC + "/twilio/status", params)))
    return forms


async def post_all(port: int, forms: list[tuple[bytes, str]], concurrency: int) -> float:
    url = f"http://127.0.0.1:{port}/twilio/status"
    queue = list(reversed(forms))

    async def worker(session: aiohttp.ClientSession) -> None:
        while queue:
            body, signature = queue.pop()
            async with session.post(url, data=body, headers={
                    "X-Twilio-Signature": signature,
                    "Content-Type": "application/x-www-form-urlencoded"}) as answer:
                assert answer.status == 200, await answer.text()

    started = time.perf_counter()
    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    os.environ["TWILIO_AUTH_TOKEN"] = TOKEN
    with tempfile.TemporaryDirectory() as folder:
        port = free_port()
        settings, cid, sids = prepare(Path(folder), args.messages, port)
        endpoint = start_endpoint(settings)
        poll(endpoint.serving.is_set, 30, what="the endpoint to serve")
        forms = signed_forms(sids)
        try:
            seconds = asyncio.run(post_all(port, forms, args.concurrency))
        finally:
            endpoint.stop()
        delivered = feedback.counts(cid).delivered
        assert delivered == len(sids), (delivered, len(sids))
    print_table("Twilio status callbacks (signed, real HTTP, SQLite)", [
        ("messages", str(len(sids))),
        ("callbacks", f"{len(forms)} (sent + delivered each)"),
        ("concurrent clients", str(args.concurrency)),
        ("seconds", f"{seconds:.2f}"),
        ("callbacks/s", f"{len(forms) / seconds:,.0f}"),
        ("final statuses recorded/s", f"{len(sids) / seconds:,.0f}"),
    ])


if __name__ == "__main__":
    main()
