"""A private Postfix and Dovecot on loopback: a real mail loop for bounce tests.

Postfix (`postfix -c DIR`) accepts mail for the test domain on a free port and delivers it itself:
known users into Maildirs, unknown users bounce *after* acceptance (so Postfix writes its own
RFC 3464 DSN to the envelope sender), `bounces+TOKEN@` lands in the `bounces` Maildir (VERP via
`recipient_delimiter`), and `vacation@` goes to a pipe(8) auto-responder that answers the envelope
sender over SMTP with `Auto-Submitted: auto-replied`, and `unsubscribe@` (a List-Unsubscribe
mailto) is an alias of `bounces@`, so unsubscribe requests reach the same mailbox. Dovecot
(`dovecot -c FILE`) serves the Maildirs over IMAP (plaintext, loopback only). Both need root:
Postfix's master starts as root and the delivery agents switch to a static uid.
"""

from __future__ import annotations

import os
import shutil
import signal
import smtplib
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from imap_tools import MailBoxUnencrypted

from tests.peers import free_port, require, wait_for_port

DOMAIN = "loop.example.net"  # not .test: the address validator refuses special-use names
MAIL_UID = 5000          # any number: virtual(8) and Dovecot need no passwd entry for it
IMAP_PASSWORD = "loop-secret"
SYSTEM_PYTHON = "/usr/bin/python3"  # pipe(8) runs the responder as nobody, who cannot read /root
POSTFIX = shutil.which("postfix", path="/usr/sbin:/usr/bin:" + os.environ.get("PATH", ""))
DOVECOT = shutil.which("dovecot", path="/usr/sbin:/usr/bin:" + os.environ.get("PATH", ""))

MAILBOXES = ("alice", "bounces", "vacation")

# The responder pipe(8) runs for vacation@: one reply to the envelope sender, null return path
# (RFC 3834 5.1), the headers a real out-of-office sends.
AUTOREPLY = '''\
import sys, smtplib
from email.message import EmailMessage
from email.parser import BytesParser
sender, port = sys.argv[1], int(sys.argv[2])
original = BytesParser().parse(sys.stdin.buffer, headersonly=True)
if not sender or original.get("Auto-Submitted", "no").lower() != "no":
    sys.exit(0)
reply = EmailMessage()
reply["From"] = "Vacation <vacation@{domain}>"
reply["To"] = sender
reply["Subject"] = "Out of office: " + str(original.get("Subject", ""))
reply["Auto-Submitted"] = "auto-replied"
reply["X-Autoreply"] = "yes"
if original.get("Message-ID"):
    reply["In-Reply-To"] = original["Message-ID"]
reply.set_content("I am away until Monday and will read your message then.")
with smtplib.SMTP("127.0.0.1", port) as smtp:
    smtp.send_message(reply, from_addr="", to_addrs=[sender])
'''


def available() -> bool:
    return bool(POSTFIX and DOVECOT and os.geteuid() == 0 and Path(SYSTEM_PYTHON).exists())


class MailLoop:
    """Start with `MailLoop()`, stop with `.stop()`; `.log()` is Postfix's and Dovecot's log."""

    def __init__(self):
        require(available(), "root with Postfix and Dovecot (Debian packages postfix, "
                             "dovecot-imapd)")
        self.root = Path(tempfile.mkdtemp(prefix="mailloop-"))
        self.root.chmod(0o755)  # postfix, nobody and the mail uid must reach their parts
        self.smtp_port = free_port()
        self.imap_port = free_port()
        self.postfix_dir = self.root / "postfix"
        self.mail = self.root / "mail"
        self._started: list[str] = []
        try:
            self._start_postfix()
            self._start_dovecot()
        except BaseException:
            print(self.log())
            self.stop()
            raise

    # -- Postfix ---------------------------------------------------------------------------
    def _start_postfix(self) -> None:
        root, conf = self.root, self.postfix_dir
        for folder in (conf, root / "queue", root / "data", self.mail):
            folder.mkdir(mode=0o755)
        shutil.chown(root / "data", "postfix")
        (root / "data").chmod(0o700)
        shutil.chown(self.mail, MAIL_UID, MAIL_UID)
        (root / "vmailbox").write_text(
            "".join(f"{name}@{DOMAIN} {name}/\n" for name in MAILBOXES))
        (root / "transport").write_text(f"vacation@{DOMAIN} autoreply:\n")
        (root / "virtual").write_text(f"unsubscribe@{DOMAIN} bounces@{DOMAIN}\n")
        (root / "autoreply.py").write_text(AUTOREPLY.format(domain=DOMAIN))
        (conf / "main.cf").write_text(f"""\
compatibility_level = 3.6
queue_directory = {root}/queue
data_directory = {root}/data
maillog_file = {root}/maillog
maillog_file_prefixes = {root}
myhostname = mx.{DOMAIN}
mydomain = {DOMAIN}
myorigin = {DOMAIN}
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
smtpd_peername_lookup = no
smtpd_reject_unlisted_recipient = no
virtual_mailbox_domains = {DOMAIN}
virtual_mailbox_maps = texthash:{root}/vmailbox
virtual_mailbox_base = {self.mail}
virtual_alias_maps = texthash:{root}/virtual
virtual_uid_maps = static:{MAIL_UID}
virtual_gid_maps = static:{MAIL_UID}
recipient_delimiter = +
transport_maps = texthash:{root}/transport
autoreply_destination_recipient_limit = 1
alias_maps =
alias_database =
biff = no
""")
        services = [
            (f"127.0.0.1:{self.smtp_port}", "inet", "n", "-", "-", "smtpd"),
            ("pickup", "unix", "n", "60", "1", "pickup"),
            ("cleanup", "unix", "n", "-", "0", "cleanup"),
            ("qmgr", "unix", "n", "300", "1", "qmgr"),
            ("rewrite", "unix", "-", "-", "-", "trivial-rewrite"),
            ("bounce", "unix", "-", "-", "0", "bounce"),
            ("defer", "unix", "-", "-", "0", "bounce"),
            ("trace", "unix", "-", "-", "0", "bounce"),
            ("verify", "unix", "-", "-", "1", "verify"),
            ("flush", "unix", "n", "1000?", "0", "flush"),
            ("proxymap", "unix", "-", "-", "-", "proxymap"),
            ("showq", "unix", "n", "-", "-", "showq"),
            ("error", "unix", "-", "-", "-", "error"),
            ("retry", "unix", "-", "-", "-", "error"),
            ("discard", "unix", "-", "-", "-", "discard"),
            ("smtp", "unix", "-", "-", "-", "smtp"),
            ("relay", "unix", "-", "-", "-", "smtp"),
            ("anvil", "unix", "-", "-", "1", "anvil"),
            ("scache", "unix", "-", "-", "1", "scache"),
            ("postlog", "unix-dgram", "n", "-", "1", "postlogd"),
        ]
        lines = [f"{name} {kind} {private} - n {wake} {limit} {command}"
                 for name, kind, private, wake, limit, command in services]
        # the delivery agents run privileged (unpriv = n): they switch to the mailbox's uid
        lines.append("virtual unix - n n - - virtual")
        lines.append(f"autoreply unix - n n - - pipe flags=q user=nobody "
                     f"argv={SYSTEM_PYTHON} {root}/autoreply.py ${{sender}} {self.smtp_port}")
        (conf / "master.cf").write_text("\n".join(lines) + "\n")
        self._postfix("check")
        self._postfix("start")
        self._started.append("postfix")
        wait_for_port(self.smtp_port, timeout=60)

    def _postfix(self, action: str) -> None:
        done = subprocess.run([POSTFIX, "-c", str(self.postfix_dir), action],
                              capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"postfix {action} failed ({done.returncode}): "
                               f"{done.stdout}{done.stderr}")

    # -- Dovecot ---------------------------------------------------------------------------
    def _start_dovecot(self) -> None:
        base = self.root / "dovecot"
        for folder in (base, base / "run", base / "state"):
            folder.mkdir(mode=0o755)
        users = base / "users"
        users.write_text("".join(f"{name}:{{PLAIN}}{IMAP_PASSWORD}\n" for name in MAILBOXES))
        self.dovecot_conf = base / "dovecot.conf"
        self.dovecot_conf.write_text(f"""\
base_dir = {base}/run
state_dir = {base}/state
log_path = {self.root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = {MAIL_UID}
mail_location = maildir:{self.mail}/%n
passdb {{
  driver = passwd-file
  args = {users}
}}
userdb {{
  driver = static
  args = uid={MAIL_UID} gid={MAIL_UID} home={self.mail}/%n
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.imap_port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
""")
        # its daemon children keep the standard streams open: a file, not a pipe, or run() hangs
        with (base / "stderr").open("w+") as errors:
            done = subprocess.run([DOVECOT, "-c", str(self.dovecot_conf)],
                                  stdin=subprocess.DEVNULL, stdout=errors, stderr=errors,
                                  timeout=60, check=False)
            self._started.append("dovecot")
            if done.returncode != 0:
                errors.seek(0)
                raise RuntimeError(f"dovecot failed ({done.returncode}): {errors.read()}")
        wait_for_port(self.imap_port, timeout=60)

    # -- helpers for tests -----------------------------------------------------------------
    def send(self, raw: bytes, to: str, sender: str = f"someone@{DOMAIN}") -> None:
        """Hand a message to the private Postfix over SMTP."""
        with smtplib.SMTP("127.0.0.1", self.smtp_port, timeout=30) as smtp:
            smtp.sendmail(sender, [to], raw)

    def maildir_count(self, user: str) -> int:
        """Messages in a user's Maildir INBOX (new and cur), as Postfix and Dovecot leave them."""
        folder = self.mail / user
        return sum(len(list((folder / sub).iterdir())) for sub in ("new", "cur")
                   if (folder / sub).is_dir())

    def wait_for(self, user: str, count: int, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while self.maildir_count(user) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{user} has {self.maildir_count(user)} of {count} messages "
                                     f"after {timeout} s\n{self.log()}")
            time.sleep(0.05)

    def configure(self, home: Path, extra: str = "", email: str = "") -> dict:
        """Write a home's messagehub.toml sending through this Postfix and reading `bounces`
        over IMAP; returns the environment with the mailbox password. `extra` adds [bounces]
        keys, `email` [email] keys."""
        (home / "messagehub.toml").write_text(f"""\
[email]
transport = "smtp"
host = "127.0.0.1"
port = {self.smtp_port}
security = "none"
from = "News <news@example.org>"
{email}
[delivery]
max_attempts = 1

[bounces]
return_path = "bounces+{{token}}@{DOMAIN}"
imap_host = "127.0.0.1"
imap_port = {self.imap_port}
imap_user = "bounces"
security = "none"
{extra}""")
        return {**os.environ, "MESSAGEHUB_IMAP_PASSWORD": IMAP_PASSWORD}

    def mailbox_state(self, user: str = "bounces") -> dict:
        """Per folder: (subject, flags) of every message, read without marking anything."""
        with MailBoxUnencrypted("127.0.0.1", self.imap_port).login(
                user, IMAP_PASSWORD, initial_folder=None) as box:
            state = {}
            for folder in ("INBOX", "messagehub-processed"):
                if not box.folder.exists(folder):
                    continue
                box.folder.set(folder)
                # \Recent only says which session saw a message first; every other flag counts
                state[folder] = sorted((m.subject, tuple(f for f in m.flags if f != "\\Recent"))
                                       for m in box.fetch(mark_seen=False))
            return state

    def log(self) -> str:
        parts = []
        for name in ("maillog", "dovecot.log"):
            path = self.root / name
            if path.exists():
                parts.append(f"--- {name} ---\n{path.read_text(errors='replace')}")
        return "\n".join(parts)

    def stop(self) -> None:
        if "postfix" in self._started:
            try:
                self._postfix("stop")
            except (RuntimeError, subprocess.TimeoutExpired) as exc:
                print(exc)
        if "dovecot" in self._started:
            pid_file = self.root / "dovecot" / "run" / "master.pid"
            try:
                pid = int(pid_file.read_text().strip())
                os.kill(pid, signal.SIGTERM)
                deadline = time.monotonic() + 20
                while time.monotonic() < deadline:
                    os.kill(pid, 0)
                    time.sleep(0.05)
            except (OSError, ValueError):
                pass  # gone (or never wrote its pid)
        self._started.clear()
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def loop():
    """A started MailLoop, stopped after the test; its log is printed (shown on failure)."""
    started = MailLoop()
    yield started
    print(started.log())
    started.stop()
