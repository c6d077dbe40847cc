"""Validation and normal forms of email addresses and phone numbers, so the same person matches."""

from __future__ import annotations

from functools import lru_cache

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from email_validator.rfc_constants import DOT_ATOM_TEXT, EMAIL_MAX_LENGTH

from messagehub_tui.e164 import fast_e164
from messagehub_tui.errors import MessagehubError, shown
from messagehub_tui.models import Channel

_PARSE_ERRORS = {
    phonenumbers.NumberParseException.NOT_A_NUMBER: "is not a phone number",
    phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD: "is too short",
    phonenumbers.NumberParseException.TOO_SHORT_NSN: "is too short",
    phonenumbers.NumberParseException.TOO_LONG: "is too long",
}


class InvalidAddress(MessagehubError):
    """An email address or phone number that cannot be used."""


@lru_cache(maxsize=4096)
def _domain(domain: str) -> tuple[str, str] | None:
    """A domain's normal and ASCII forms as the validator gives them, or None if it is not valid.

    Validating the domain is most of the validator's cost and a list has few domains.
    """
    try:
        found = validate_email("a@" + domain, check_deliverability=False)
    except EmailNotValidError:
        return None
    return found.domain, found.ascii_domain


def _fast_email(text: str) -> str | None:
    """The normal form of a plain ASCII address, exactly as `validate_email` would give it, or None.

    Only for a dot-atom local part (no quotes, no display name), where the validator keeps the
    local part as is; its length rules are checked here on the same three forms it checks.
    """
    local, _, domain = text.rpartition("@")
    if not local or not DOT_ATOM_TEXT.match(local):
        return None
    forms = _domain(domain)
    if forms is None:
        return None
    normal = f"{local}@{forms[0]}"
    for form in (text, normal, f"{local}@{forms[1]}"):
        if len(form.encode("utf-8")) > EMAIL_MAX_LENGTH:
            return None
    return normal.lower()


def normalise_email(raw: str) -> str:
    """The lower-cased normal form of a syntactically valid address (no DNS look-ups)."""
    text = raw.strip()
    fast = _fast_email(text)
    if fast is not None:
        return fast
    try:
        result = validate_email(text, check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidAddress(f"email {shown(text)} is not valid: {exc}") from None
    return result.normalized.lower()


def normalise_phone(raw: str, region: str | None) -> str:
    """The E.164 form of a valid number; national numbers need the default region."""
    text = raw.strip()
    fast = fast_e164(text)
    if fast is not None:
        return fast
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        if exc.error_type != phonenumbers.NumberParseException.INVALID_COUNTRY_CODE:
            raise InvalidAddress(f"phone {shown(text)} {_PARSE_ERRORS[exc.error_type]}") from None
        if text.startswith("+") or region:
            raise InvalidAddress(f"phone {shown(text)} has an unknown country code") from None
        raise InvalidAddress(f"phone {shown(text)} has no country code: write it as +CC… "
                             "or set [sms] default_region for national numbers") from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidAddress(f"phone {shown(text)} is not a valid number (check its digits "
                             "and country code)")
    if number.extension:
        # A text reaches the line, never its extension: without the extension it would reach
        # a switchboard or a colleague, so the number is refused rather than cut short.
        raise InvalidAddress(f"phone {shown(text)} has an extension ({number.extension}), "
                             "which a text cannot reach: give the person's own number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise(channel: str, raw: str, region: str | None) -> str:
    """The normal form of an address on a channel."""
    return normalise_email(raw) if channel == Channel.EMAIL else normalise_phone(raw, region)


def channel_of(text: str) -> Channel:
    """The channel a typed address is for: email when it has an @ (no phone number has one),
    else SMS; `normalise` then says whether it is valid there."""
    return Channel.EMAIL if "@" in text else Channel.SMS
