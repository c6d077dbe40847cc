"""Outbox channel: each message becomes a file under <home>/outbox/<campaign>/; nothing leaves."""

from __future__ import annotations

import json
from pathlib import Path

from messagehub_tui.channels.base import Outcome, Outgoing, SendResult


class OutboxChannel:
    """Writes `<key>.eml` for email and `<key>.json` for SMS."""

    lanes = 1
    looks_ahead = False

    def __init__(self, folder: Path, sender: str):
        self.folder = folder
        self.sender = sender

    async def open(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)

    async def send(self, lane: int, message: Outgoing, then: Outgoing | None = None
                   ) -> SendResult:
        if isinstance(message.payload, bytes):
            path = self.folder / f"{message.key}.eml"
            path.write_bytes(message.payload)
        else:
            path = self.folder / f"{message.key}.json"
            path.write_text(json.dumps({"to": message.recipient, "from": self.sender,
                                        "body": message.payload}, ensure_ascii=False),
                            encoding="utf-8")
        return SendResult(Outcome.SENT, provider_id=path.name)

    def abandon(self) -> None:
        return None  # a file write is never left half set up

    async def close(self) -> None:
        return None
