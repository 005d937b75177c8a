"""Ed25519 signatures of data-subject requests (the DPO tool signs, the worker verifies).

A request's Kafka value is its JSON; the header `contactstream.signature` holds the base64
Ed25519 signature of exactly those bytes. The private key is the DPO tool's secret
(CONTACTSTREAM_DPO_SIGNING_KEY_FILE); workers hold only public keys
(CONTACTSTREAM_DPO_VERIFY_KEY_FILE: a file of one or more PEM keys, or a directory of *.pem
files) and accept a request any of them verifies, so the DPO key rotates without a window where
requests fail: workers trust old and new, the DPO tool switches, the old key is removed. In dev
mode both default to a pair generated once under $CONTACTSTREAM_DATA_DIR/keys, so the demo and
the tests need no set-up.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from streams.config import Settings
from streams.errors import ConfigError

SIGNATURE_HEADER: Final = "contactstream.signature"
SIGNING_KEY_NAME: Final = "dpo-signing-key.pem"
VERIFY_KEY_NAME: Final = "dpo-verify-key.pem"
_VERIFY_VARIABLE: Final = "CONTACTSTREAM_DPO_VERIFY_KEY_FILE"
# RFC 7468: text outside the blocks is allowed (e.g. a comment saying which key is which).
_PEM_BLOCK: Final = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----.*?-----END \1-----", re.DOTALL)


def generate_key_pair(directory: Path) -> tuple[Path, Path]:
    """Write a new pair into `directory`: the private key mode 0600, never over an existing one."""
    directory.mkdir(parents=True, exist_ok=True)
    private, public = directory / SIGNING_KEY_NAME, directory / VERIFY_KEY_NAME
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    try:
        fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        raise ConfigError(f"{private} exists already; remove it first to make a new pair") from None
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private, public


def sign(key: Ed25519PrivateKey, payload: bytes) -> bytes:
    """The header value: base64 of the signature of `payload`."""
    return base64.b64encode(key.sign(payload))


def verify(keys: Sequence[Ed25519PublicKey], payload: bytes, header: bytes) -> bool:
    """Whether the header is a signature of `payload` by any of `keys`."""
    try:
        signature = base64.b64decode(header, validate=True)
    except (binascii.Error, ValueError):
        return False
    return any(_verifies(key, signature, payload) for key in keys)


def _verifies(key: Ed25519PublicKey, signature: bytes, payload: bytes) -> bool:
    try:
        key.verify(signature, payload)
    except InvalidSignature:
        return False
    return True


def signing_key(settings: Settings) -> Ed25519PrivateKey:
    variable = "CONTACTSTREAM_DPO_SIGNING_KEY_FILE"
    path = settings.dpo_signing_key_file or _dev_pair(settings, SIGNING_KEY_NAME)
    try:
        key = serialization.load_pem_private_key(_read(path, variable), password=None)
    except ValueError:
        raise ConfigError(f"{variable}: {path} is not a PEM Ed25519 key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"{variable}: {path} is not an Ed25519 key")
    return key


def verify_keys(settings: Settings) -> tuple[Ed25519PublicKey, ...]:
    """Every key the workers accept requests signed by: those in the file, or in the
    directory's *.pem files (name order; hidden files, e.g. a mounted secret's, are skipped)."""
    path = settings.dpo_verify_key_file or _dev_pair(settings, VERIFY_KEY_NAME)
    files = (
        sorted(p for p in path.glob("*.pem") if not p.name.startswith("."))
        if path.is_dir()
        else [path]
    )
    keys = tuple(key for file in files for key in _public_keys(file))
    if not keys:
        raise ConfigError(f"{_VERIFY_VARIABLE}: {path} holds no PEM public key")
    return keys


def _public_keys(path: Path) -> list[Ed25519PublicKey]:
    keys = []
    for block in _PEM_BLOCK.finditer(_read(path, _VERIFY_VARIABLE)):
        if b"PRIVATE" in block[1]:
            # The DPO's secret on a worker would let whoever reads the worker sign requests.
            raise ConfigError(
                f"{_VERIFY_VARIABLE}: {path} holds a private key; give the workers only the "
                f"public one ({VERIFY_KEY_NAME} of 'contactstream keys generate')"
            )
        try:
            key = serialization.load_pem_public_key(block[0])
        except ValueError:
            key = None
        if not isinstance(key, Ed25519PublicKey):
            raise ConfigError(
                f"{_VERIFY_VARIABLE}: {path} holds a block that is not an Ed25519 public key"
            )
        keys.append(key)
    return keys


def _dev_pair(settings: Settings, name: str) -> Path:
    variable = "SIGNING" if name == SIGNING_KEY_NAME else "VERIFY"
    if settings.mode != "dev":
        raise ConfigError(
            f"CONTACTSTREAM_DPO_{variable}_KEY_FILE is not set; make a pair with "
            "'contactstream keys generate DIR' (or set CONTACTSTREAM_MODE=dev on a test machine)"
        )
    directory = settings.keys_path
    if not (directory / SIGNING_KEY_NAME).exists():
        with contextlib.suppress(ConfigError):  # another process made it meanwhile
            generate_key_pair(directory)
    return directory / name


def _read(path: Path, variable: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{variable}: cannot read {path} ({exc.strerror})") from None
