"""The command line under test: `contactstream ARGS` in a child process as a user runs it, or
in this process through its entry point."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "streams"]


def cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 180, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run `contactstream ARGS` as a user would, in a child process."""
    result = subprocess.run(
        [*CLI, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        cwd=REPO,
        check=False,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"contactstream {' '.join(args)} failed ({result.returncode}):\n"
            f"{result.stdout}\n{result.stderr}"
        )
    return result


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """`contactstream ARGV` in this process: (exit code, stdout, stderr)."""
    # Imported here: the conftest that imports this module loads no command-line code.
    from streams.cli.root import main

    with pytest.raises(SystemExit) as exit_info:
        main(list(argv))
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err
