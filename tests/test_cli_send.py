"""`send` end to end: it returns as soon as the campaign settles, and its exit code says how it went."""

from __future__ import annotations

import subprocess
from datetime import datetime, timezone

from tests.clitools import COMMAND, campaign_with, stored_time


def test_send_without_a_terminal_returns_right_after_the_campaign_finishes(tmp_path):
    campaign_id = campaign_with(tmp_path, [f"q{i}@example.com" for i in range(3)])
    with (tmp_path / "send.out").open("w") as out:
        sender = subprocess.Popen([*COMMAND, "--home", str(tmp_path), "send", campaign_id],
                                  stdout=out, stderr=subprocess.PIPE, text=True)
        sender.wait(timeout=120)
        returned = datetime.now(timezone.utc).replace(tzinfo=None)
    assert sender.returncode == 0, sender.stderr.read()
    assert f"campaign {campaign_id} completed: sent 3" in (tmp_path / "send.out").read_text()
    finished = stored_time(tmp_path, "SELECT finished_at FROM campaign WHERE id = ?", campaign_id)
    assert (returned - finished).total_seconds() < 1.0, (finished, returned)
