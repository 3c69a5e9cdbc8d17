"""Key generation and key files for recipients and the hub.

A recipient holds two keypairs: an X25519 keypair that packets are sealed to, and an Ed25519 keypair
that signs its receipts. The hub holds one Ed25519 keypair that signs packets and acknowledgements.
Key ids are fingerprints of the public key, so anybody can recompute them.
"""

from keys.keypair import (
    KeyFileError,
    KeySet,
    PublicKeySet,
    fingerprint,
    generate_keyset,
    load_keyset,
    load_public_keyset,
    write_keyset,
    write_public_keyset,
)

__all__ = [
    "KeyFileError",
    "KeySet",
    "PublicKeySet",
    "fingerprint",
    "generate_keyset",
    "load_keyset",
    "load_public_keyset",
    "write_keyset",
    "write_public_keyset",
]
