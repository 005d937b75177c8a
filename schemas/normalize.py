"""Pure normalization of phone numbers, email addresses and text sizes.

phonenumbers.parse and email_validator take 15-20 µs per call, more than the rest of an event's
validation together. So results are cached (contacts come back, and every lifecycle event of a
contact repeats its number), and the shapes upstream systems send most (E.164 numbers, plain
ASCII addresses) take a fast path whose results tests prove equal to the libraries'.

The caches hold personal data in memory: `clear_caches()` empties them; a worker calls it on its
retention tick so nothing outlives the redaction window (DESIGN P3).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Final

import phonenumbers
from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email
from email_validator.rfc_constants import CASE_INSENSITIVE_MAILBOX_NAMES

from schemas.limits import DEFAULT_REGION

MAX_PHONE_CHARS: Final = 64
MAX_EMAIL_CHARS: Final = 254  # RFC 5321 as email_validator applies it
_CACHE_SIZE: Final = 65_536
_E164: Final = phonenumbers.PhoneNumberFormat.E164

# "+" and the digits of an international number, once spaces and hyphens are gone.
_INTERNATIONAL: Final = re.compile(r"\+([1-9][0-9]{5,16})")
# A plain ASCII address: dot-atom local part of common characters; domain labels of 1-63 letters,
# digits and single inner hyphens (double hyphens are IDNA's business); a letters-only TLD.
_PLAIN_EMAIL: Final = re.compile(
    r"([A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*)"
    r"@((?:(?=[A-Za-z0-9-]{1,63}\.)[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*\.)+[A-Za-z]{2,63})"
)
_SPECIAL_LOCAL_PARTS: Final = frozenset(CASE_INSENSITIVE_MAILBOX_NAMES)
_SPECIAL_SUFFIXES: Final = tuple("." + name for name in SPECIAL_USE_DOMAIN_NAMES)


@lru_cache(maxsize=_CACHE_SIZE)
def normalize_phone(raw: str, region: str = DEFAULT_REGION) -> str | None:
    """E.164 form of `raw` (national numbers read in `region`), or None if it is not possible.

    Invalid results are cached too, so a flood of one bad number costs one parse.
    """
    if len(raw) > MAX_PHONE_CHARS:
        return None
    match = _INTERNATIONAL.fullmatch(raw.replace(" ", "").replace("-", ""))
    if match is not None:
        settled, result = _plain_international(match.group(1))
        if settled:
            return result
    return _parse_phone(raw, region)


def _parse_phone(raw: str, region: str) -> str | None:
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return str(phonenumbers.format_number(number, _E164))


def _plain_international(digits: str) -> tuple[bool, str | None]:
    """(True, what _parse_phone gives for "+digits") if settled cheaply, else (False, None).

    parse() splits off the country code and keeps the rest as the national number unless that
    starts with 0 (leading zeros, trunk prefixes) or with the country's national prefix for
    parsing, which parse() may strip or rewrite: those take the slow way.
    """
    for length in (1, 2, 3):
        country_code = int(digits[:length])
        if country_code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            break
    else:
        return False, None
    national = digits[length:]
    metadata = _metadata(country_code)
    prefix = metadata.national_prefix_for_parsing if metadata else None
    if metadata is None or national[:1] in ("", "0") or (prefix and re.match(prefix, national)):
        return False, None
    number = phonenumbers.PhoneNumber(country_code=country_code, national_number=int(national))
    return True, ("+" + digits if phonenumbers.is_possible_number(number) else None)


def _metadata(country_code: int) -> phonenumbers.PhoneMetadata | None:
    region = phonenumbers.region_code_for_country_code(country_code)
    if region == phonenumbers.REGION_CODE_FOR_NON_GEO_ENTITY:
        return phonenumbers.PhoneMetadata.metadata_for_nongeo_region(country_code)
    return phonenumbers.PhoneMetadata.metadata_for_region(region)


@lru_cache(maxsize=_CACHE_SIZE)
def normalize_email(raw: str) -> str | None:
    """`raw` trimmed, syntax-checked and with its domain lower-cased, or None if not an address.

    The local part is kept as written (mailbox names may be case-sensitive) except RFC 2142 role
    names (info, support, ...), which email_validator lower-cases; no DNS look-up.
    """
    address = raw.strip()
    if not address or len(address) > MAX_EMAIL_CHARS:
        return None
    plain = _plain_email(address)
    if plain is not None:
        return plain
    try:
        result = validate_email(address, check_deliverability=False)
    except EmailNotValidError:
        return None
    return str(result.normalized)


def _plain_email(address: str) -> str | None:
    """What validate_email normalizes a plain ASCII `address` to; None to ask it."""
    match = _PLAIN_EMAIL.fullmatch(address)
    if match is None:
        return None
    local, domain = match.group(1), match.group(2).lower()
    if len(domain) > 253 or local.lower() in _SPECIAL_LOCAL_PARTS:
        return None
    if ("." + domain).endswith(_SPECIAL_SUFFIXES):  # reserved names (.test, .local, ...)
        return None
    return f"{local}@{domain}"


def text_fits(text: str, max_bytes: int) -> bool:
    """Whether `text` encodes to at most `max_bytes` bytes of UTF-8."""
    # A character is at most 4 bytes, so almost every text is settled without encoding it.
    if len(text) * 4 <= max_bytes:
        return True
    return len(text.encode("utf-8", "surrogatepass")) <= max_bytes


def clear_caches() -> None:
    """Forget every cached phone number and email address."""
    normalize_phone.cache_clear()
    normalize_email.cache_clear()
