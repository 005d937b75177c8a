"""deploy/secrets/make-secrets.sh, run for real (it needs openssl): its directory is 0700 and its
files are readable by the owner and the secrets group only (the private keys by the owner only),
also when run again over files an older version left wider; the salt is 32 random bytes. The
compose services that read secrets run with that group."""

from __future__ import annotations

import os
import re
import stat
import subprocess
from pathlib import Path

import yaml

from streams.worker.startup import salt_problem

REPO = Path(__file__).resolve().parents[2]
MAKE_SECRETS = REPO / "deploy" / "secrets" / "make-secrets.sh"
OWNER_ONLY = {"ca.key", "dpo-signing-key.pem"}  # no container is given these


def make(secrets: Path) -> str:
    done = subprocess.run(
        ["bash", str(MAKE_SECRETS), str(secrets)],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.stdout


def modes(secrets: Path) -> dict[str, int]:
    return {path.name: stat.S_IMODE(path.stat().st_mode) for path in secrets.iterdir()}


def test_secrets_are_private_to_the_owner_and_the_secrets_group(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets"
    make(secrets)
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o700
    found = modes(secrets)
    assert set(found) >= OWNER_ONLY
    for name, mode in found.items():
        assert mode == (0o600 if name in OWNER_ONLY else 0o640), (name, oct(mode))
    for path in secrets.iterdir():
        assert path.stat().st_gid == os.getgid(), path.name


def test_a_rerun_narrows_what_an_older_run_left_wide_and_keeps_every_secret(
    tmp_path: Path,
) -> None:
    secrets = tmp_path / "secrets"
    make(secrets)
    before = {path.name: path.read_bytes() for path in secrets.iterdir()}
    secrets.chmod(0o755)  # what the old script left: a 0755 directory of 0644 files
    for path in secrets.iterdir():
        path.chmod(0o644)
    out = make(secrets)
    assert "made" not in out, "a rerun rotates nothing"
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o700
    for name, mode in modes(secrets).items():
        assert mode == (0o600 if name in OWNER_ONLY else 0o640), (name, oct(mode))
    assert {path.name: path.read_bytes() for path in secrets.iterdir()} == before


def test_the_salt_is_32_random_bytes_and_production_accepts_it(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets"
    make(secrets)
    salt = (secrets / "contactstream_subject_key_salt").read_text()
    assert re.fullmatch(r"[0-9a-f]{64}", salt), "32 bytes, hex"
    assert salt_problem(salt) is None
    for path in secrets.glob("*_password"):
        assert re.fullmatch(r"[0-9a-f]{64}", path.read_text()), path.name


def test_every_service_given_a_secret_reads_it_through_the_secrets_group() -> None:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    given = {name for name, service in compose["services"].items() if service.get("secrets")}
    assert given >= {"kafka", "setup", "worker-1", "worker-2", "grafana", "clickhouse-init"}
    for name in given:
        groups = compose["services"][name].get("group_add", [])
        assert [g for g in groups if g.startswith("${SECRETS_GID:?")], name
