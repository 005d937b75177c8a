"""Ed25519 signatures of data-subject requests (the DPO tool signs, the worker verifies).

A request's Kafka value is its JSON; the header `contactstream.signature` holds the base64
Ed25519 signature of exactly those bytes. The private key is the DPO tool's secret
(CONTACTSTREAM_DPO_SIGNING_KEY_FILE); workers hold only the public key
(CONTACTSTREAM_DPO_VERIFY_KEY_FILE). In dev mode both default to a pair generated once under
$CONTACTSTREAM_DATA_DIR/keys, so the demo and the tests need no set-up.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
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


def verify(key: Ed25519PublicKey, payload: bytes, header: bytes) -> bool:
    try:
        key.verify(base64.b64decode(header, validate=True), payload)
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


def signing_key(settings: Settings) -> Ed25519PrivateKey:
    path = settings.dpo_signing_key_file or _dev_pair(settings, SIGNING_KEY_NAME)
    key = _load(path, "CONTACTSTREAM_DPO_SIGNING_KEY_FILE", private=True)
    assert isinstance(key, Ed25519PrivateKey)
    return key


def verify_key(settings: Settings) -> Ed25519PublicKey:
    path = settings.dpo_verify_key_file or _dev_pair(settings, VERIFY_KEY_NAME)
    key = _load(path, "CONTACTSTREAM_DPO_VERIFY_KEY_FILE", private=False)
    assert isinstance(key, Ed25519PublicKey)
    return key


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


def _load(path: Path, variable: str, private: bool) -> Ed25519PrivateKey | Ed25519PublicKey:
    try:
        data = path.read_bytes()
        key = (
            serialization.load_pem_private_key(data, password=None)
            if private
            else serialization.load_pem_public_key(data)
        )
    except OSError as exc:
        raise ConfigError(f"{variable}: cannot read {path} ({exc.strerror})") from None
    except ValueError:
        raise ConfigError(f"{variable}: {path} is not a PEM Ed25519 key") from None
    if not isinstance(key, Ed25519PrivateKey | Ed25519PublicKey):
        raise ConfigError(f"{variable}: {path} is not an Ed25519 key")
    return key
