"""Keys of encrypted databases: passphrase derivation (scrypt) and public key ids.

``key`` is 32 random bytes (AES-256-GCM), or a passphrase from which 32 bytes
are derived (see docs/storage.md, "Keys"). Nonces are 12 random bytes per
message; the key never appears in ``repr``, ``str`` or exceptions.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Final

from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

__all__ = ["AEAD_OVERHEAD", "KDF_SALT", "NONCE", "TAG", "derive_key", "key_bytes", "key_id"]

#: The scrypt salt namespace for passphrase keys (part of the format: changing it changes keys).
KDF_SALT: Final = b"discobase/v1"
#: scrypt's cost (n; r=8, p=1): about 0.1 s and 32 MiB per derivation.
SCRYPT_N: Final = 2**15
#: Bytes of an AES-GCM nonce, and of its tag; a sealed payload is ``nonce || ciphertext || tag``.
NONCE: Final = 12
TAG: Final = 16
AEAD_OVERHEAD: Final = NONCE + TAG


def derive_key(passphrase: str, *, salt: bytes | str | None = None) -> bytes:
    """Derive a 32-byte AES-256 key from a passphrase (scrypt; see docs/storage.md, "Keys")."""
    if not isinstance(passphrase, str) or not passphrase:
        raise ValueError("the passphrase must be a non-empty string")
    full_salt = KDF_SALT
    if salt:
        full_salt += b"/" + (salt.encode("utf-8") if isinstance(salt, str) else bytes(salt))
    kdf = Scrypt(salt=full_salt, length=32, n=SCRYPT_N, r=8, p=1)
    return kdf.derive(passphrase.encode("utf-8"))


def key_bytes(key: bytes | str, salt: bytes | str | None) -> bytes:
    if isinstance(key, str):
        return derive_key(key, salt=salt)
    if isinstance(key, bytes | bytearray | memoryview):
        if len(key) != 32:
            raise ValueError("a bytes key must be exactly 32 bytes (AES-256); pass a str to use a passphrase")
        return bytes(key)
    raise TypeError("key must be 32 bytes, a passphrase string or None")


def key_id(key: bytes) -> str:
    """A short public name of a 32-byte key (8 hex digits of an HMAC of a constant):
    it tells which key encrypted a message without revealing anything of the key."""
    return hmac.new(key, b"discobase key id", hashlib.sha256).hexdigest()[:8]
