"""What every test shares: the environment of the test process and the integration marker.
Fixtures live in tests/unit/conftest.py and tests/integration/conftest.py, helpers in
tests/support/."""

from __future__ import annotations

import os
import signal

import pytest

# Tests run on a test machine: the placeholder salt and a generated DPO key pair are allowed
# (production refuses both; tests/unit/test_cli.py checks that).
os.environ.setdefault("CONTACTSTREAM_MODE", "dev")
# A shell starts background jobs with SIGINT ignored, and an ignored signal stays ignored in
# every child: the commands under test would never see the Ctrl-C the tests send them (Python
# installs its KeyboardInterrupt handler only where SIGINT is at its default). A handler of
# ours is reset to the default in each child instead.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration" in str(item.path):
            item.add_marker(pytest.mark.integration)
