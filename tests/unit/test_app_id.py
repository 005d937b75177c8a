"""The app id is refused when the worker's PREFIXED ACLs on it would reach the deployment's
topics (issue 20, finding 6): in the settings, with one line from the CLI."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from streams.config import Settings
from tests.support.cli import cli


@pytest.mark.parametrize(
    ("prefix", "app_id"),
    [("contacts", "contacts"), ("contacts", "contact"), ("contacts", "c"), ("a-b", "a-")],
)
def test_an_app_id_that_covers_the_topic_prefix_is_refused(prefix: str, app_id: str) -> None:
    with pytest.raises(ValidationError, match="would reach every topic"):
        Settings(topic_prefix=prefix, app_id=app_id)


@pytest.mark.parametrize("app_id", ["contacts.raw", "a b", "", "-x", "x" * 102])
def test_an_app_id_is_a_plain_name(app_id: str) -> None:
    with pytest.raises(ValidationError):
        Settings(topic_prefix="contacts", app_id=app_id)


@pytest.mark.parametrize(
    ("prefix", "app_id"),
    [("contacts", "contactstream"), ("contacts", "contacts-worker"), ("t1", "t1-worker")],
)
def test_the_usual_app_ids_pass(prefix: str, app_id: str) -> None:
    assert Settings(topic_prefix=prefix, app_id=app_id).app_id == app_id


def test_the_cli_says_what_is_wrong_with_the_app_id_in_one_line() -> None:
    result = cli(
        "topics",
        "ensure",
        env={"CONTACTSTREAM_TOPIC_PREFIX": "contacts", "CONTACTSTREAM_APP_ID": "contacts"},
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("contactstream: error: invalid setting CONTACTSTREAM_APP_ID")
    assert "would reach every topic" in result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
