"""`contactstream keys`: signing keys of data-subject requests."""

from __future__ import annotations

from pathlib import Path

import click


@click.group("keys")
def keys() -> None:
    """Signing keys of data-subject requests.

    \b
    Rotating the DPO key without a moment where requests fail:
    1. 'contactstream keys generate NEWDIR' (a new directory: a pair is never overwritten).
    2. Give every worker the new public key next to the old one: append it to the file
       CONTACTSTREAM_DPO_VERIFY_KEY_FILE names, or put it in the directory it names as
       another *.pem file; restart the workers one by one (requests wait in Kafka meanwhile).
    3. Point the DPO tool's CONTACTSTREAM_DPO_SIGNING_KEY_FILE at the new private key.
    4. Once the old key's last requests have run or expired (at most
       CONTACTSTREAM_SUBJECT_REQUEST_TTL_SECONDS later), remove the old public key and
       restart the workers: requests it signed are refused (bad_signature) from then on.
       Destroy the old private key.
    """


@keys.command("generate")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def keys_generate(directory: Path) -> None:
    """Make an Ed25519 pair in DIRECTORY: the private key (mode 0600) is the DPO tool's
    CONTACTSTREAM_DPO_SIGNING_KEY_FILE, the public one every worker's
    CONTACTSTREAM_DPO_VERIFY_KEY_FILE."""
    from streams.subjects.signing import generate_key_pair

    private, public = generate_key_pair(directory)
    click.echo(f"signing key (secret, the DPO tool's): {private}")
    click.echo(f"verify key (for the workers): {public}")
    click.echo("to rotate from an older pair: 'contactstream keys --help'")


