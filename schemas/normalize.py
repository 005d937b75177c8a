"""Pure normalization of phone numbers, email addresses and text sizes.

Phone and email parsing is slow (about 20 µs each) and the same contacts come back often, so the
results are cached. The caches hold personal data in memory: `clear_caches()` empties them, and a
worker calls it on its retention tick so nothing outlives the redaction window (DESIGN P3).
"""

from __future__ import annotations

from functools import lru_cache

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from schemas.limits import DEFAULT_REGION

MAX_PHONE_CHARS = 64
MAX_EMAIL_CHARS = 320  # 64 (local part) + 1 + 255 (domain), RFC 5321's upper bounds
_CACHE_SIZE = 65_536
_E164 = phonenumbers.PhoneNumberFormat.E164


@lru_cache(maxsize=_CACHE_SIZE)
def normalize_phone(raw: str, region: str = DEFAULT_REGION) -> str | None:
    """E.164 form of `raw` (national numbers read in `region`), or None if it is not possible.

    Invalid results are cached too, so a flood of one bad number costs one parse.
    """
    if len(raw) > MAX_PHONE_CHARS:
        return None
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return str(phonenumbers.format_number(number, _E164))


@lru_cache(maxsize=_CACHE_SIZE)
def normalize_email(raw: str) -> str | None:
    """`raw` trimmed, syntax-checked and with its domain lower-cased, or None if not an address.

    The local part is kept as written (mailbox names may be case-sensitive); no DNS look-up.
    """
    address = raw.strip()
    if not address or len(address) > MAX_EMAIL_CHARS:
        return None
    try:
        result = validate_email(address, check_deliverability=False)
    except EmailNotValidError:
        return None
    return str(result.normalized)


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
