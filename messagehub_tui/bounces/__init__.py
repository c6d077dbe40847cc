"""Hearing back from a mailbox: VERP tokens, DSN/ARF/auto-reply classification, IMAP polling and
the suppression policy that follows from a bounce or a complaint."""
