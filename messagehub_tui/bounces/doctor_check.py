"""`doctor`'s bounce checks: log in to the mailbox and look at its folders, without changing it."""

from __future__ import annotations

import imaplib

from messagehub_tui.config import Settings


def mailbox_checks(settings: Settings) -> list:
    """One check when [bounces] names a mailbox; none otherwise."""
    from messagehub_tui.doctor import Check  # doctor imports this module: import Check late
    bounces = settings.bounces
    if not bounces.reads_mailbox:
        return []
    # imap-tools and flufl.bounce load only when a mailbox is configured
    from imap_tools.errors import ImapToolsError

    from messagehub_tui.bounces.mailbox import MailboxProblem, open_mailbox
    try:
        box = open_mailbox(bounces)
    except MailboxProblem as exc:
        return [Check("bounces", False, str(exc))]
    try:
        if not box.folder.exists(bounces.imap_folder):
            return [Check("bounces", False, f"logged in as {bounces.imap_user!r}, but there is no "
                                            f"folder {bounces.imap_folder!r}; set imap_folder")]
        count = box.folder.status(bounces.imap_folder, ["MESSAGES"])["MESSAGES"]
        processed = ("exists" if box.folder.exists(bounces.imap_processed_folder)
                     else "will be created at the first bounce")
    except (OSError, imaplib.IMAP4.error, ImapToolsError) as exc:
        return [Check("bounces", False, f"reading the mailbox failed: {type(exc).__name__}")]
    finally:
        box.logout()
    return [Check("bounces", True, f"logged in as {bounces.imap_user!r} at {bounces.imap_host}:"
                                   f"{bounces.effective_port}; {bounces.imap_folder} holds {count} "
                                   f"messages; {bounces.imap_processed_folder} {processed}")]
