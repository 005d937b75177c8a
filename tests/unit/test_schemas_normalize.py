"""Normalization helpers: fast paths taken where they should be, caches, limits."""

from __future__ import annotations

import pytest

from schemas import DEFAULT_LIMITS, Limits, clear_caches, normalize_email, normalize_phone
from schemas.normalize import _plain_email, _plain_international, text_fits


@pytest.mark.parametrize(
    ("digits", "expected"),
    [
        ("358501234567", (True, "+358501234567")),
        ("46701234567", (True, "+46701234567")),
        ("12025550100", (True, "+12025550100")),
        ("3585", (True, None)),  # too short to be a Finnish number
        ("3580501234567", (False, None)),  # trunk 0 after the country code: parse() decides
        ("390612345678", (False, None)),  # Italian leading zero
        ("86012345678", (False, None)),  # China's national prefix for parsing is 0
        ("999123456", (False, None)),  # no such country code
    ],
)
def test_the_phone_fast_path_settles_only_plain_international_numbers(
    digits: str, expected: tuple[bool, str | None]
) -> None:
    assert _plain_international(digits) == expected


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("matti.meikalainen@Example.FI", "matti.meikalainen@example.fi"),
        ("Matti+lehti@sub.EXAMPLE.com", "Matti+lehti@sub.example.com"),
        ("Info@example.fi", None),  # RFC 2142 role name: the library lower-cases it
        ("m@example.test", None),  # special-use domain: the library refuses it
        ("äiti@example.fi", None),  # internationalized: the library's business
        ("m@xn--esimerkki-6za.fi", None),  # punycode
        ("m@ex--ample.fi", None),
        ("m@" + "a" * 64 + ".fi", None),  # label too long
        ("m..m@example.fi", None),
    ],
)
def test_the_email_fast_path_settles_only_plain_addresses(
    address: str, expected: str | None
) -> None:
    assert _plain_email(address) == expected


def test_results_are_cached_until_cleared() -> None:
    clear_caches()
    assert normalize_phone("050 123 4567") == "+358501234567"
    assert normalize_phone("050 123 4567") == "+358501234567"
    assert normalize_phone.cache_info().hits == 1
    assert normalize_email("nobody") is None
    assert normalize_email("nobody") is None
    assert normalize_email.cache_info().hits == 1
    clear_caches()
    assert normalize_phone.cache_info().currsize == 0
    assert normalize_email.cache_info().currsize == 0


def test_normalization_is_idempotent_on_examples() -> None:
    for written in ("050 123 4567", "+46 70 123 45 67", "(09) 1234 567", "+1 (202) 555-0100"):
        once = normalize_phone(written)
        assert once is not None
        assert normalize_phone(once) == once
        assert normalize_phone(once, "SE") == once
    for written in (" Matti@Example.FI", "Äiti@ESIMERKKI.fi", "INFO@Example.fi"):
        once = normalize_email(written)
        assert once is not None
        assert normalize_email(once) == once


def test_text_fits_counts_utf8_bytes() -> None:
    assert text_fits("", 1)
    assert text_fits("a" * 10, 10)
    assert not text_fits("a" * 11, 10)
    assert text_fits("ä" * 5, 10)
    assert not text_fits("ä" * 6, 10)
    assert not text_fits("😀" * 3, 11)
    assert text_fits("\ud800", 3)  # a lone surrogate (Python input only) does not crash


def test_limits_have_the_documented_defaults_and_check_themselves() -> None:
    assert Limits(max_text_bytes=65_536, default_region="FI") == DEFAULT_LIMITS
    with pytest.raises(ValueError, match="max_text_bytes"):
        Limits(max_text_bytes=0)
    with pytest.raises(AttributeError):
        DEFAULT_LIMITS.max_text_bytes = 5  # type: ignore[misc]
