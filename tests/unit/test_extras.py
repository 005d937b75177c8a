"""The core package runs without its extras: whatever needs chDB (`embedded`) or matplotlib
(`demo`) says so in one line naming the extra to install, never with a traceback.

A missing module is simulated the way Python itself marks one: None in sys.modules makes every
`import` of it raise ModuleNotFoundError, even when the test process already imported it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from streams.config import Settings
from streams.errors import ConfigError, MissingExtraError
from streams.extras import MODULES, require, require_embedded_engine
from tests.support.cli import run

EMBEDDED_HINT = "pip install 'contactstream[embedded]'"
DEMO_HINT = "pip install 'contactstream[demo]'"


@pytest.fixture
def without_chdb(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "chdb", None)


@pytest.fixture
def without_matplotlib(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CONTACTSTREAM_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("CONTACTSTREAM_CLICKHOUSE_DSN", raising=False)
    return tmp_path


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_each_extra_names_the_module_it_brings() -> None:
    assert MODULES == {"embedded": "chdb", "demo": "matplotlib"}


@pytest.mark.usefixtures("without_chdb")
def test_require_names_the_extra_and_the_command_that_installs_it() -> None:
    with pytest.raises(MissingExtraError) as error:
        require("embedded", "this feature")
    assert str(error.value) == f"this feature needs the embedded extra: {EMBEDDED_HINT}"
    assert isinstance(error.value, ConfigError)  # not retriable: installing is the fix


def test_require_passes_when_the_module_is_there() -> None:
    require("embedded", "this feature")  # the dev install has every extra
    require("demo", "this feature")


def test_a_broken_extra_is_not_reported_as_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    # chdb imports, but a dependency of its own does not: that is a broken install, not a
    # missing extra, and the real error must not be hidden behind an install hint.
    def broken(name: str) -> None:
        raise ModuleNotFoundError("No module named 'pyarrow'", name="pyarrow")

    monkeypatch.setattr("streams.extras.importlib.import_module", broken)
    with pytest.raises(ModuleNotFoundError):
        require("embedded", "this feature")


@pytest.mark.usefixtures("without_chdb")
def test_a_server_dsn_needs_no_embedded_engine() -> None:
    require_embedded_engine(Settings(clickhouse_dsn="http://user:secret@clickhouse:8123/db"))
    with pytest.raises(MissingExtraError, match=r"needs the embedded extra"):
        require_embedded_engine(Settings(clickhouse_dsn="chdb:///tmp/nowhere"))


@pytest.mark.usefixtures("without_chdb", "data_dir")
def test_migrate_on_the_embedded_default_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "migrate")
    assert code == 1
    line = one_line(err)
    assert line.startswith("contactstream: error: a chdb:// ClickHouse DSN")
    assert EMBEDDED_HINT in line
    assert "CONTACTSTREAM_CLICKHOUSE_DSN to a ClickHouse server" in line


@pytest.mark.usefixtures("without_chdb", "data_dir")
def test_open_client_refuses_before_the_driver_tries(tmp_path: Path) -> None:
    from streams.storage import open_client

    with pytest.raises(MissingExtraError, match=r"embedded extra"):
        open_client(Settings(clickhouse_dsn=f"chdb://{tmp_path / 'ch'}"))
    assert not (tmp_path / "ch").exists(), "nothing created on the way"


@pytest.mark.usefixtures("without_chdb", "data_dir")
def test_worker_on_the_embedded_default_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "worker", "--no-setup")
    assert code == 1
    assert EMBEDDED_HINT in one_line(err)


@pytest.mark.usefixtures("without_chdb", "data_dir")
def test_analyst_query_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "analyst", "query", "SELECT 1")
    assert code == 1
    assert one_line(err) == (
        f"contactstream: error: contactstream analyst query needs the embedded extra: "
        f"{EMBEDDED_HINT}"
    )


@pytest.mark.usefixtures("without_matplotlib", "data_dir")
def test_demo_without_its_extra_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "demo", "--duration", "10")
    assert code == 1
    assert one_line(err) == (
        f"contactstream: error: contactstream demo needs the demo extra: {DEMO_HINT}"
    )


@pytest.mark.usefixtures("without_chdb", "data_dir")
def test_demo_without_the_engine_names_the_embedded_extra(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = run(capsys, "demo", "--duration", "10")
    assert code == 1
    assert EMBEDDED_HINT in one_line(err)


@pytest.mark.usefixtures("without_matplotlib")
def test_the_report_chart_names_the_demo_extra() -> None:
    from streams.dev.report_files import chart_png
    from tests.support.demo_report import sample_report

    with pytest.raises(MissingExtraError, match=r"demo extra: pip install 'contactstream\[demo\]'"):
        chart_png(sample_report())
