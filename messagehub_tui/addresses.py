"""Validation and normal forms of email addresses and phone numbers, so the same person matches."""

from __future__ import annotations

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from messagehub_tui.errors import MessagehubError


class InvalidAddress(MessagehubError):
    """An email address or phone number that cannot be used."""


def normalise_email(raw: str) -> str:
    """The lower-cased normal form of a syntactically valid address (no DNS look-ups)."""
    try:
        result = validate_email(raw.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidAddress(f"email {raw!r} is not valid: {exc}") from None
    return result.normalized.lower()


def normalise_phone(raw: str, region: str | None) -> str:
    """The E.164 form of a valid number; national numbers need the default region."""
    try:
        number = phonenumbers.parse(raw.strip(), region)
    except phonenumbers.NumberParseException as exc:
        hint = "" if region or raw.strip().startswith("+") else \
            " (set [sms] default_region for national numbers)"
        raise InvalidAddress(f"phone {raw!r} is not a number: {exc}{hint}") from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidAddress(f"phone {raw!r} is not a valid number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise(channel: str, raw: str, region: str | None) -> str:
    """The normal form of an address on a channel."""
    return normalise_email(raw) if channel == "email" else normalise_phone(raw, region)
