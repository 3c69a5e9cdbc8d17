"""Key generation and key files for recipients and the hub.

A recipient holds two keypairs: an X25519 keypair that packets are sealed to, and an Ed25519 keypair
that signs its receipts. The hub holds one Ed25519 keypair that signs packets and acknowledgements.
Key ids are fingerprints of the public key, so anybody can recompute them. Private key files are
encrypted PKCS#8 PEM; their passphrases come from protected files or systemd credentials
(keys.passphrase).
"""

from keys.keypair import (
    KeyFileError,
    KeySet,
    PublicKeySet,
    fingerprint,
    generate_keyset,
    is_legacy_keyset,
    keyset_pem,
    load_keyset,
    load_public_keyset,
    write_keyset,
    write_public_keyset,
)
from keys.passphrase import (
    create_passphrase_file,
    credential_path,
    read_passphrase,
    read_secret_file,
)

__all__ = [
    "KeyFileError",
    "KeySet",
    "PublicKeySet",
    "create_passphrase_file",
    "credential_path",
    "fingerprint",
    "generate_keyset",
    "is_legacy_keyset",
    "keyset_pem",
    "load_keyset",
    "load_public_keyset",
    "read_passphrase",
    "read_secret_file",
    "write_keyset",
    "write_public_keyset",
]
