"""A demo report as large as a large deployment's (the demo report and extras tests)."""

from __future__ import annotations

from datetime import datetime

from streams.dev.report import Report

CUTOFF = datetime(2025, 6, 5, 12, 0)  # ClickHouse returns UTC times without a zone


def sample_report() -> Report:
    """Figures as wide as a large deployment's: seven-digit counts, rates, long durations."""
    kpis = [
        ("email", 1_234_567, 0, 0, None, None, 3599.4, None, 0.0213),
        ("form", 987_654, 0, 0, None, None, 612.0, None, 0.031),
        ("phone", 2_345_678, 2_000_000, 880_000, 0.4412, 72.4, 265.0, 0.4567, 0.0512),
        ("sms", 123_456, 0, 0, None, None, 7325.0, None, 0.05),
    ]
    monthly = [  # months ago, period start (now - months ago - 1), personal, redacted, never
        (19, datetime(2025, 4, 5, 12), 0, 800, 3),
        (18, datetime(2025, 5, 5, 12), 0, 830, 0),
        (17, CUTOFF, 820, 0, 4),
        (0, datetime(2026, 11, 5, 12), 5_800, 0, 11),
    ]
    return Report(
        kpis=kpis,
        daily=[],
        overdue=0,
        due_30d=88,
        redacted={"retention": 1_630, "erasure": 2},
        contacts=8_250,
        monthly=monthly,
        cutoff=CUTOFF,
        months=18,
    )
