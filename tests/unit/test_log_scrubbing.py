"""The log scrubber masks phone numbers in every way phonenumbers writes them, and leaves a log
line's offsets, counts, dates and durations alone."""

from __future__ import annotations

import re

import phonenumbers
import pytest
from hypothesis import given
from hypothesis import strategies as st
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from streams.observability.logs import scrub

FORMATS = [PhoneNumberFormat.E164, PhoneNumberFormat.INTERNATIONAL, PhoneNumberFormat.RFC3966]
TYPES = [PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE]


def written_forms(number: phonenumbers.PhoneNumber) -> list[str]:
    """Every form of `number` the scrubber must catch: the international ones, the E.164 digits
    without their + or with 00, and the national form where it is written with a trunk 0.
    (A national form without one, "(11) 2345-6789", cannot be told from other digits by shape.)"""
    forms = [phonenumbers.format_number(number, f) for f in FORMATS]
    forms.append(forms[0].removeprefix("+"))
    forms.append("00" + forms[0].removeprefix("+"))
    national = phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL)
    if _NOT_DIGIT.sub("", national).startswith("0"):
        forms += [national, _NOT_DIGIT.sub("", national)]
    return forms


_NOT_DIGIT = re.compile(r"\D")


def assert_masked(written: str) -> None:
    scrubbed = scrub(f"caller {written} was not answered;")
    assert not _NOT_DIGIT.sub("", scrubbed), (written, scrubbed)
    assert "[phone]" in scrubbed


def example_numbers() -> list[phonenumbers.PhoneNumber]:
    numbers = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in TYPES:
            number = phonenumbers.example_number_for_type(region, kind)
            if number is not None:
                numbers.append(number)
    return numbers


def test_every_regions_example_numbers_are_masked_in_every_form() -> None:
    numbers = example_numbers()
    assert len(numbers) > 400
    for number in numbers:
        for written in written_forms(number):
            assert_masked(written)


@given(
    prefix=st.sampled_from(["40", "41", "44", "45", "46", "50", "9", "2", "3"]),
    rest=st.text("0123456789", min_size=5, max_size=8),
    grouping=st.sampled_from([" ", "-", ""]),
)
def test_random_finnish_numbers_are_masked_in_every_form(
    prefix: str, rest: str, grouping: str
) -> None:
    number = phonenumbers.parse(f"+358{prefix}{rest}")
    if not phonenumbers.is_valid_number(number):
        return
    for written in written_forms(number):
        assert_masked(written)
    # The way people type them: spaced or dashed by hand.
    national = f"0{prefix}{grouping}{rest[:3]}{grouping}{rest[3:]}"
    assert_masked(national)
    assert_masked(f"+358{grouping}{prefix}{grouping}{rest}")


@pytest.mark.parametrize(
    "line",
    [
        "offset 1234567 of partition 3",
        "offsets 12345678-12345999 re-read",
        "at 2026-12-04T23:07:46Z",
        "at 2026-12-04 23:07:46,123",
        "took 0.1234567 s; 0.30000000000000004 of a core",
        "epoch 1733356800000 ms, 1733356800 s",
        "ClickHouse error 241 (MEMORY_LIMIT_EXCEEDED) after 2000 rows",
        "contact c-1234567 of batch 17",
    ],
)
def test_a_log_lines_own_numbers_stay(line: str) -> None:
    assert scrub(line) == line
