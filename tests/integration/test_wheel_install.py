"""A plain wheel install works without the source tree: the wheel carries the migrations as
package data (read with importlib.resources), so `contactstream migrate` from it applies every
one of them, and `contactstream --help` runs.

The wheel is built from a copy of what docker/Dockerfile copies (pyproject.toml, README.md,
streams/, schemas/) with the locked setuptools of this environment (no build isolation: nothing
is fetched), then installed with --no-deps into a fresh venv. Its dependencies come from this
project's venv through a .pth line, which only appends that directory to sys.path: the editable
install of `streams` there is not processed, and the test asserts that every `streams` module the
fresh venv imports comes from its own site-packages. Commands run from a directory outside the
repository.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from streams.storage.migrations import load_migrations

REPO = Path(__file__).resolve().parents[2]


def run(*argv: str | Path, env: dict[str, str] | None = None, cwd: Path | None = None,
        timeout: float = 300) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(a) for a in argv], capture_output=True, text=True,
                            timeout=timeout, env=env, cwd=cwd, check=False)
    assert result.returncode == 0, f"{argv} failed:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    for name in ("streams", "schemas"):
        shutil.copytree(REPO / name, source / name,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    out = tmp_path_factory.mktemp("wheel")
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
        "--wheel-dir", out, source)
    [built] = out.glob("contactstream-*.whl")
    return built


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory: pytest.TempPathFactory, wheel: Path) -> Path:
    venv = tmp_path_factory.mktemp("fresh") / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv)
    python = venv / "bin" / "python"
    run(sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index",
        "--quiet", wheel)
    site = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))")
                .stdout.strip())
    # The dependencies (not the project) from this environment: appended after the fresh
    # venv's own site-packages, and its .pth files (the editable install) are not processed.
    (site / "project_dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    return venv


@pytest.fixture
def outside(tmp_path: Path) -> dict[str, str]:
    """An environment for commands run from the fresh venv, in a directory of their own."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("CONTACTSTREAM_", "PYTHON", "VIRTUAL_ENV"))}
    env.update({
        "CONTACTSTREAM_MODE": "dev",
        "CONTACTSTREAM_DATA_DIR": str(tmp_path / "state"),
        "CONTACTSTREAM_CLICKHOUSE_DSN": f"chdb://{tmp_path / 'clickhouse'}",
        "CONTACTSTREAM_CLICKHOUSE_DATABASE": "wheeltest",
    })
    return env


def test_the_wheel_carries_the_migrations_and_no_source_tree_files(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    shipped = sorted(n.rsplit("/", 1)[1] for n in names if n.startswith("streams/storage/sql/"))
    assert shipped == [m.name for m in load_migrations()]
    schemas = sorted(n.rsplit("/", 1)[1] for n in names if n.startswith("schemas/json/"))
    assert schemas == sorted(p.name for p in (REPO / "schemas" / "json").glob("*.json"))
    assert not [n for n in names if n.startswith(("tests/", "deploy/", "bench/", "docker/"))]
    metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
    requires = [line for line in zipfile.ZipFile(wheel).read(metadata).decode().splitlines()
                if line.startswith("Requires-Dist:")]
    core = [line for line in requires if "extra ==" not in line]
    assert not [line for line in core if "chdb" in line or "matplotlib" in line], core
    assert any("chdb" in line and 'extra == "embedded"' in line for line in requires)
    assert any("matplotlib" in line and 'extra == "demo"' in line for line in requires)


def test_help_and_migrate_from_a_wheel_install(
    fresh_venv: Path, outside: dict[str, str], tmp_path: Path
) -> None:
    bin_dir = fresh_venv / "bin"
    where = run(bin_dir / "python", "-c",
                "import streams, streams.storage.migrations as m; "
                "print(streams.__file__); print(m.MIGRATIONS_DIR)",
                env=outside, cwd=tmp_path).stdout.split()
    assert len(where) == 2
    for path in where:
        assert Path(path).is_relative_to(fresh_venv), f"{path} is not the wheel's copy"
    assert not Path(where[0]).is_relative_to(REPO)

    usage = run(bin_dir / "contactstream", "--help", env=outside, cwd=tmp_path)
    assert usage.stdout.startswith("Usage: contactstream")
    assert "migrate" in usage.stdout

    first = run(bin_dir / "contactstream", "migrate", env=outside, cwd=tmp_path)
    expected = [m.name for m in load_migrations()]
    applied = [line.split()[1] for line in first.stdout.splitlines()
               if line.startswith("applied ")]
    assert applied == expected
    assert f"({len(expected)} migration(s) applied now)" in first.stdout
    second = run(bin_dir / "contactstream", "migrate", env=outside, cwd=tmp_path)
    assert "(0 migration(s) applied now)" in second.stdout

    # The ledger, read back through the wheel's own code.
    ledger = run(bin_dir / "python", "-c",
                 "from streams.config import Settings; from streams.storage import open_client; "
                 "c = open_client(Settings()); "
                 "print(*[r[0] for r in c.query('SELECT name FROM schema_migrations "
                 "ORDER BY version').result_rows])",
                 env=outside, cwd=tmp_path).stdout.split()
    assert ledger == expected
    assert not (tmp_path / "streams").exists(), "nothing was read from or written to a tree"
