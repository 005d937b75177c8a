"""How big the install is, by extra, and how long `contactstream --help` takes.

    .venv/bin/python bench/install_size.py        (or: make install-size)

Builds the project's wheel (as docker/Dockerfile does: the locked setuptools, no build
isolation), then makes one fresh venv per install set and measures it:

- core: requirements/worker.lock with --require-hashes plus the wheel --no-deps, which is
  exactly what the worker image installs;
- core + embedded and core + embedded + demo: the wheel with those extras, every version
  constrained to requirements/dev.lock (the set CI runs).

Sizes are of the venv directory on disk (`du`-style: allocated blocks), pip and its own files
included in each. Start time is the best of several runs of `contactstream --help` from each
venv (a warm page cache; the first cold start is slower). Downloads from PyPI (pip's cache helps)
and is not part of `make test`. Not a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LOCKS = REPO / "requirements"


def run(*argv: str | Path, cwd: Path | None = None) -> str:
    return subprocess.run(
        [str(a) for a in argv], check=True, capture_output=True, text=True, cwd=cwd, timeout=1800
    ).stdout


def disk_bytes(path: Path) -> int:
    """Bytes allocated on disk under `path` (what `du -s` counts), each inode once."""
    seen: set[int] = set()
    total = 0
    for item in [path, *path.rglob("*")]:
        stat = item.lstat()
        if stat.st_ino in seen:
            continue
        seen.add(stat.st_ino)
        total += stat.st_blocks * 512
    return total


def build_wheel(out: Path) -> Path:
    """From a copy of what docker/Dockerfile copies, so no build/ is left in the tree."""
    source = out.parent / "source"
    for name in ("pyproject.toml", "README.md"):
        source.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, source / name)
    for name in ("streams", "schemas"):
        shutil.copytree(
            REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
        )
    run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--no-deps",
        "--no-build-isolation",
        "--no-index",
        "--quiet",
        "--wheel-dir",
        out,
        source,
    )
    [wheel] = out.glob("contactstream-*.whl")
    return wheel


def constraints(directory: Path) -> Path:
    """dev.lock without its hashes, as a pip constraints file."""
    pins = re.findall(
        r"^([A-Za-z0-9][A-Za-z0-9._-]*==[^\s;\\]+)", (LOCKS / "dev.lock").read_text(), re.MULTILINE
    )
    path = directory / "constraints.txt"
    path.write_text("\n".join(pins) + "\n")
    return path


def make_venv(root: Path, name: str, wheel: Path, extras: str, constraint: Path) -> Path:
    venv = root / name
    run(sys.executable, "-m", "venv", venv)
    pip = [
        venv / "bin" / "python",
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
    ]
    if not extras:
        run(*pip, "--require-hashes", "-r", LOCKS / "worker.lock")
        run(*pip, "--no-deps", wheel)
    else:
        run(*pip, "-c", constraint, f"contactstream[{extras}] @ {wheel.as_uri()}")
    return venv


def packages(venv: Path) -> int:
    listed = run(
        venv / "bin" / "python",
        "-m",
        "pip",
        "list",
        "--format=freeze",
        "--disable-pip-version-check",
    )
    return len([line for line in listed.splitlines() if line and not line.startswith("pip==")])


def help_seconds(venv: Path, runs: int, cwd: Path) -> float:
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        run(venv / "bin" / "contactstream", "--help", cwd=cwd)
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="runs of --help per venv (best)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="contactstream-size-") as tmp:
        root = Path(tmp)
        wheel = build_wheel(root / "wheel")
        print(f"wheel {wheel.name}: {wheel.stat().st_size / 1024:.0f} KiB")
        constraint = constraints(root)
        sets = {
            "core (the worker image)": "",
            "core + embedded": "embedded",
            "core + embedded + demo": "embedded,demo",
        }
        print(f"{'install set':<26} {'venv on disk':>13} {'packages':>9} {'--help (best)':>14}")
        for label, extras in sets.items():
            venv = make_venv(root, extras.replace(",", "-") or "core", wheel, extras, constraint)
            size = disk_bytes(venv) / 1024 / 1024
            seconds = help_seconds(venv, args.runs, root)
            print(f"{label:<26} {size:>10.0f} MiB {packages(venv):>9} {seconds:>12.2f} s")


if __name__ == "__main__":
    main()
