"""Message-IDs: unique across homes, the same for one attempt however often it is rendered."""

import email
import re
import subprocess
import sys
from email import policy

from messagehub_tui import control
from messagehub_tui.database import close_db
from tests.engine import make_home, wait_status
from tests.test_engine_smtp import smtp_toml

RENDER_AGAIN = """
import sys
from messagehub_tui import campaign_compose
from messagehub_tui.config_load import load_settings
from messagehub_tui.database import open_db
from messagehub_tui.models import Campaign, Delivery
settings = load_settings(sys.argv[1])
open_db(settings.db_location)
delivery = Delivery.get_by_id(int(sys.argv[2]))
composer = campaign_compose.make_composer(Campaign.get_by_id(delivery.campaign_id), settings)
data = composer.email_bytes(delivery.contact.template_vars(), delivery.address, sys.argv[3])
print(next(line for line in data.decode().splitlines() if line.startswith("Message-ID: ")))
"""


def test_message_ids_differ_across_homes_and_hold_for_one_attempt(tmp_path, smtp_server):
    port, handler = smtp_server
    homes = [tmp_path / "a", tmp_path / "b"]
    for home in homes:
        home.mkdir()
        settings, cid = make_home(home, smtp_toml(port), count=3)
        assert cid == 1
        control.launch(settings, cid)
        wait_status(cid, "completed")
        close_db()
    ids = [email.message_from_bytes(data, policy=policy.default)["Message-ID"]
           for _, data in handler.messages]
    assert len(ids) == 6 and len(set(ids)) == 6, ids
    tokens = set()
    for message_id in ids:
        found = re.fullmatch(r"<1\.(\d+)\.(\d+)\.([0-9a-f]{16})@example\.com>", message_id)
        assert found, message_id
        tokens.add(found[3])
    assert len(tokens) == 2
    # the same attempt rendered again, by another process, gets the same id
    first = ids[-1]
    delivery_id, attempt = re.match(r"<1\.(\d+)\.(\d+)\.", first).groups()
    again = subprocess.run([sys.executable, "-c", RENDER_AGAIN, str(homes[1]), delivery_id,
                            f"1.{delivery_id}.{attempt}"], capture_output=True, text=True,
                           timeout=60, check=True)
    assert again.stdout == f"Message-ID: {first}\n"
