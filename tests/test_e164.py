"""The E.164 fast path accepts exactly what phonenumbers accepts, with the same normal form.

Numbers are generated from the metadata itself (every region's example numbers, perturbed), from
every country calling code with random digits, and from random strings; each is judged by both
paths. Where the fast path declines (not `+` then digits, or a national prefix parse may strip)
phonenumbers decides, so those are the only numbers it may leave alone.
"""

import re

import phonenumbers
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from phonenumbers import COUNTRY_CODE_TO_REGION_CODE, PhoneMetadata

from messagehub_tui.addresses import InvalidAddress, normalise_phone
from messagehub_tui.e164 import fast_e164

CODES = sorted(COUNTRY_CODE_TO_REGION_CODE)
REGIONS = sorted(phonenumbers.SUPPORTED_REGIONS)
TYPES = ("fixed_line", "mobile", "toll_free", "premium_rate", "shared_cost", "voip",
         "personal_number", "pager", "uan", "voicemail")


def _examples() -> list[tuple[int, str]]:
    """(country code, national number) of every example number in the metadata."""
    found = []
    for code in CODES:
        for region in COUNTRY_CODE_TO_REGION_CODE[code]:
            metadata = PhoneMetadata.metadata_for_region_or_calling_code(code, region)
            for kind in TYPES:
                example_number = getattr(getattr(metadata, kind, None), "example_number", None)
                if example_number:
                    found.append((code, example_number))
    return found


EXAMPLES = _examples()
DIGITS = st.text(st.sampled_from("0123456789"), max_size=19)


@st.composite
def perturbed(draw) -> str:
    """An example number, often changed by a digit or two: near the edge of the patterns."""
    code, national = draw(st.sampled_from(EXAMPLES))
    digits = list(national)
    for _ in range(draw(st.integers(0, 2))):
        where = draw(st.integers(0, len(digits)))
        what = draw(st.sampled_from(["change", "insert", "delete"]))
        digit = draw(st.sampled_from("0123456789"))
        if what == "insert":
            digits.insert(where, digit)
        elif digits and where < len(digits):
            if what == "change":
                digits[where] = digit
            else:
                del digits[where]
    return f"+{code}{''.join(digits)}"


NUMBERS = st.one_of(
    perturbed(),
    st.builds(lambda code, rest: f"+{code}{rest}", st.sampled_from(CODES), DIGITS),
    st.builds(lambda digits: f"+{digits}", DIGITS),
    st.text(st.sampled_from("+0123456789 -()x#１"), max_size=20),
)
REGION = st.one_of(st.none(), st.sampled_from(["US", "GB", "FR", "IT", "DE", "BR", "IN"]))


def reference(text: str, region: str | None) -> str | None:
    """What phonenumbers alone says: the E.164 form of a valid number, or None."""
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def declined_by_design(text: str) -> bool:
    """The numbers the fast path leaves to phonenumbers on purpose (see e164.py)."""
    if not re.fullmatch(r"\+[1-9][0-9]{2,19}", text, re.ASCII):
        return True
    size = next((size for size in (1, 2, 3)
                 if int(text[1:1 + size]) in COUNTRY_CODE_TO_REGION_CODE), None)
    if size is None:
        return True
    code, national = int(text[1:1 + size]), text[1 + size:]
    main = PhoneMetadata.metadata_for_region_or_calling_code(code,
                                                            COUNTRY_CODE_TO_REGION_CODE[code][0])
    prefix = main.national_prefix_for_parsing
    return not 2 <= len(national) <= 17 or bool(prefix and re.match(prefix, national))


HARD = [
    "+14155550101",      # US
    "+114155550101",     # US national prefix 1 after the country code: parse strips it
    "+16045550101",      # Canada: found after trying the other NANPA regions
    "+12425550101",      # Bahamas, by leading digits (555 is not a valid exchange there)
    "+12423570000",      # Bahamas, valid
    "+16847331234",      # American Samoa
    "+390612345678",     # Italy: the national number keeps its leading zero
    "+39000000",         # all zeros
    "+447911123456",     # GB mobile
    "+447624123456",     # Isle of Man (shares +44 with GB by leading digits)
    "+4407911123456",    # GB with the trunk 0 kept
    "+77012345678",      # Kazakhstan under +7
    "+79123456789",      # Russia under +7
    "+262692123456",     # Mayotte/Réunion share +262
    "+80012345678",      # non-geographic (freephone)
    "+88213000000",      # non-geographic networks
    "+9991234567",       # unknown country code
    "+0114155550101",    # a leading 0 after the plus
    "+1", "+12", "+123", "+1415",
    "+1" + "4" * 17, "+1" + "4" * 18, "+1" + "4" * 19,
    "++14155550101", "+1 415 555 0101", "+１４１５５５５０１０１", "14155550101",
]


@pytest.mark.parametrize("text", HARD)
@pytest.mark.parametrize("region", [None, "US", "GB"])
def test_hard_cases_agree(text, region):
    fast = fast_e164(text)
    expected = reference(text, region)
    assert fast == expected or (fast is None and declined_by_design(text))


@settings(max_examples=3000, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(text=NUMBERS, region=REGION)
@example(text="+14155550101", region=None)
def test_fast_path_agrees_with_phonenumbers(text, region):
    fast = fast_e164(text)
    expected = reference(text, region)
    if fast is not None:
        assert fast == expected  # never accepts what phonenumbers rejects, same normal form
    else:
        assert expected is None or declined_by_design(text)  # declines only by design


@settings(max_examples=500, deadline=None, database=None)
@given(text=NUMBERS, region=REGION, padding=st.sampled_from(["", " ", "\t"]))
def test_normalise_phone_is_what_phonenumbers_says(text, region, padding):
    try:
        got = normalise_phone(padding + text + padding, region)
    except InvalidAddress:
        got = None
    assert got == reference(text, region)


def test_every_example_number_takes_the_fast_path_unless_declined():
    """The fast path is used: every valid example in E.164 form that it may take, it takes."""
    taken = 0
    for code, national in EXAMPLES:
        text = f"+{code}{national}"
        if reference(text, None) is not None and not declined_by_design(text):
            assert fast_e164(text) == text
            taken += 1
    assert taken > len(EXAMPLES) * 0.8
