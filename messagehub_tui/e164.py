"""A fast path for phone numbers already written in E.164 form (`+` then digits).

`phonenumbers.parse` + `is_valid_number` cost about 40 µs a number: most of it is generic
extraction a `+digits` string does not need, and the validity check tries up to ten number
types in a fixed order, twice (once to find the region, once to validate for it). Here the
same metadata decides the same way with the cheap steps only:

- the country code is the first 1-3 digits that name one, as `phonenumbers` takes it;
- a number whose national part starts with the region's national prefix (which `parse` may
  strip, e.g. `+1 1 415…`) is left to `phonenumbers`, as is anything not `+` then digits;
- valid means: matches the region's general pattern and at least one type's pattern, which is
  what `_number_type_helper(...) != UNKNOWN` says, checked with the common types (fixed line,
  mobile) first. The region is chosen as `region_code_for_number` chooses it.

`fast_e164` answers only "valid, and this is its E.164 form" or None (ask `phonenumbers`), so it
can never accept what `phonenumbers` rejects; tests/test_e164.py checks both paths agree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from phonenumbers import COUNTRY_CODE_TO_REGION_CODE, REGION_CODE_FOR_NON_GEO_ENTITY, PhoneMetadata

_SHAPE = re.compile(r"\+[1-9][0-9]{2,19}", re.ASCII)  # cc (1-3) + national (2-17 digits)
_MIN_NSN, _MAX_NSN = 2, 17  # phonenumbers' _MIN_LENGTH_FOR_NSN and _MAX_LENGTH_FOR_NSN


@dataclass(frozen=True)
class _Desc:
    """A PhoneNumberDesc as `_is_number_matching_desc` reads it."""

    lengths: frozenset[int]  # empty: any length
    pattern: re.Pattern[str]

    def matches(self, number: str) -> bool:
        if self.lengths and len(number) not in self.lengths:
            return False
        return self.pattern.fullmatch(number) is not None


def _desc(desc: object) -> _Desc | None:
    """None where phonenumbers' matching always says no (no desc, no or empty pattern)."""
    pattern = getattr(desc, "national_number_pattern", None)
    if not pattern:
        return None
    return _Desc(frozenset(getattr(desc, "possible_length", None) or ()), re.compile(pattern))


@dataclass(frozen=True)
class _Region:
    """One region's validity rule, and how `region_code_for_number` recognises its numbers."""

    leading_digits: re.Pattern[str] | None
    general: _Desc | None
    types: tuple[_Desc, ...]
    usable: bool  # is_valid_number_for_region accepts this region for the country code at all

    def valid(self, number: str) -> bool:
        """`_number_type_helper(number, metadata) != PhoneNumberType.UNKNOWN`."""
        if self.general is None or not self.general.matches(number):
            return False
        return any(desc.matches(number) for desc in self.types)


def _region(code: str, country_code: int) -> _Region | None:
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(country_code, code.upper())
    if metadata is None:
        return None
    # Fixed line and mobile first: the order does not change the answer, only its cost. Mobile
    # counts only when its pattern differs from fixed line's, as in _number_type_helper.
    descs = [metadata.fixed_line]
    if not metadata.same_mobile_and_fixed_line_pattern:
        descs.append(metadata.mobile)
    descs += [metadata.premium_rate, metadata.toll_free, metadata.shared_cost, metadata.voip,
              metadata.personal_number, metadata.pager, metadata.uan, metadata.voicemail]
    leading = metadata.leading_digits
    usable = code == REGION_CODE_FOR_NON_GEO_ENTITY or metadata.country_code == country_code
    return _Region(re.compile(leading) if leading is not None else None,
                   _desc(metadata.general_desc),
                   tuple(d for d in map(_desc, descs) if d is not None), usable)


@dataclass(frozen=True)
class _Country:
    national_prefix: re.Pattern[str] | None  # what parse may strip from the national number
    regions: tuple[_Region | None, ...]  # in COUNTRY_CODE_TO_REGION_CODE order


@cache
def _country(code: str) -> _Country | None:
    """The rules of a country calling code given as digits, or None if it names none."""
    country_code = int(code)
    regions = COUNTRY_CODE_TO_REGION_CODE.get(country_code)
    if regions is None:
        return None
    # parse strips a national prefix with the metadata of the code's main region
    main = PhoneMetadata.metadata_for_region_or_calling_code(country_code, regions[0])
    prefix = main.national_prefix_for_parsing if main is not None else None
    return _Country(re.compile(prefix) if prefix else None,
                    tuple(_region(region, country_code) for region in regions))


def _valid(country: _Country, number: str) -> bool:
    """is_valid_number: the region region_code_for_number picks, then validity for it."""
    if len(country.regions) == 1:
        region = country.regions[0]
        return region is not None and region.usable and region.valid(number)
    for region in country.regions:
        if region is None:
            continue
        if region.leading_digits is not None:
            if region.leading_digits.match(number):
                return region.usable and region.valid(number)
        elif region.valid(number):  # found by full validation: it is valid for this region
            return region.usable
    return False


def fast_e164(text: str) -> str | None:
    """`text` itself if it is a valid number in E.164 form, or None: then ask phonenumbers."""
    if _SHAPE.fullmatch(text) is None:
        return None
    for size in (1, 2, 3):
        country = _country(text[1:1 + size])
        if country is not None:
            break
    else:
        return None
    national = text[1 + size:]
    if not _MIN_NSN <= len(national) <= _MAX_NSN:
        return None
    if country.national_prefix is not None and country.national_prefix.match(national):
        return None
    return text if _valid(country, national) else None
