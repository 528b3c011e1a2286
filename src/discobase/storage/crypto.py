"""Keys of encrypted databases: passphrase derivation (scrypt), key ids, sealing and opening payloads.

``key`` is 32 random bytes (AES-256-GCM), or a passphrase from which 32 bytes
are derived (see docs/storage.md, "Keys"). Nonces are 12 random bytes per
message; the key never appears in ``repr``, ``str`` or exceptions.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import os
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Final

from discobase.exceptions import DiscobaseError
from discobase.storage.wire import (
    FIELD_RE,
    INNER_FIELDS,
    KID_RE,
    CodecError,
    WireHeader,
    aead_associated_data,
    decode_errors,
    utf8,
)

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = [
    "AEAD_OVERHEAD",
    "CRYPTO_EXTRA",
    "KDF_SALT",
    "NONCE",
    "TAG",
    "Keyring",
    "derive_key",
    "key_bytes",
    "key_id",
    "missing_crypto",
]

#: The scrypt salt namespace for passphrase keys (part of the format: changing it changes keys).
KDF_SALT: Final = b"discobase/v1"
#: scrypt's cost (n; r=8, p=1): about 0.1 s and 32 MiB per derivation.
SCRYPT_N: Final = 2**15
#: Bytes of an AES-GCM nonce, and of its tag; a sealed payload is ``nonce || ciphertext || tag``.
NONCE: Final = 12
TAG: Final = 16
AEAD_OVERHEAD: Final = NONCE + TAG


#: What to install for encryption (the core install leaves cryptography out).
CRYPTO_EXTRA: Final = 'pip install "discobase[crypto]"'


def missing_crypto(error: ImportError) -> DiscobaseError:
    """The error of a key used where the ``cryptography`` package is not installed."""
    return DiscobaseError(
        f"encryption needs the cryptography package, which is not installed ({error}): {CRYPTO_EXTRA}"
    )


def _aesgcm(raw: bytes) -> AESGCM:
    """AES-GCM with ``raw`` (imported on first use: only databases with a key need cryptography)."""
    try:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    except ImportError as error:
        raise missing_crypto(error) from None
    return AESGCM(raw)


def derive_key(passphrase: str, *, salt: bytes | str | None = None) -> bytes:
    """Derive a 32-byte AES-256 key from a passphrase (scrypt; see docs/storage.md, "Keys")."""
    if not isinstance(passphrase, str) or not passphrase:
        raise ValueError("the passphrase must be a non-empty string")
    full_salt = KDF_SALT
    if salt:
        full_salt += b"/" + (salt.encode("utf-8") if isinstance(salt, str) else bytes(salt))
    try:
        from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
    except ImportError as error:
        raise missing_crypto(error) from None
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


class Keyring:
    """The keys of a codec: the one it writes with (if any) and every one it reads, by key id.

    Args:
        key: the write key (32 bytes or a passphrase), or None.
        old_keys: keys still read but no longer written (after a key rotation).
        salt: extra scrypt salt for passphrases.
    """

    __slots__ = ("_keys", "aead", "kid")

    def __init__(
        self,
        key: bytes | str | None,
        old_keys: Sequence[bytes | str] = (),
        *,
        salt: bytes | str | None = None,
    ) -> None:
        self.aead: AESGCM | None = None
        """The cipher of the write key (None: nothing is encrypted)."""
        self.kid = ""
        """The id of the write key ("" without one)."""
        self._keys: dict[str, AESGCM] = {}
        for number, given in enumerate([key, *old_keys] if key is not None else list(old_keys)):
            raw = key_bytes(given, salt)
            kid = key_id(raw)
            if kid not in self._keys:
                self._keys[kid] = _aesgcm(raw)
            if number == 0 and key is not None:
                self.aead, self.kid = self._keys[kid], kid

    def __repr__(self) -> str:
        return f"Keyring(ids={list(self._keys)})"

    @property
    def ids(self) -> tuple[str, ...]:
        """The ids of every key read."""
        return tuple(self._keys)

    def get(self, kid: str) -> AESGCM | None:
        """The cipher of key ``kid``, if this keyring holds it."""
        return self._keys.get(kid)

    def all(self) -> Iterator[AESGCM]:
        """Every cipher, the write key's first."""
        return iter(self._keys.values())

    def seal(self, data: bytes, associated: bytes) -> bytes:
        """``nonce || ciphertext || tag`` of ``data`` under the write key."""
        if self.aead is None:
            raise ValueError("a codec without a key cannot seal")
        nonce = os.urandom(NONCE)
        return nonce + self.aead.encrypt(nonce, data, associated)

    def seal_text(self, text: str, context: str) -> str:
        """``text`` encrypted with the write key, bound to ``context``: ``kid:base64``."""
        sealed = self.seal(utf8(text), context.encode("utf-8"))
        return f"{self.kid}:{base64.b64encode(sealed).decode('ascii')}"

    def open_text(self, sealed: str, context: str, *, kid: str | None = None) -> str:
        """The text of :meth:`seal_text`'s output, bound to ``context``."""
        with decode_errors("sealed text"):
            given_kid, _, body = sealed.partition(":")
            aead = self._keys.get(kid or given_kid)
            if aead is None:
                raise CodecError(f"cannot decrypt: encrypted with key {given_kid!r}, which this codec lacks")
            blob = base64.b64decode(body.encode("ascii"), validate=True)
            if len(blob) < AEAD_OVERHEAD:
                raise CodecError("cannot decrypt: truncated data")
            from cryptography.exceptions import InvalidTag  # installed: there is a key

            try:
                data = aead.decrypt(blob[:NONCE], blob[NONCE:], context.encode("utf-8"))
            except InvalidTag:
                raise CodecError("cannot decrypt: wrong key or tampered data") from None
            return data.decode("utf-8")

    def check_value(self) -> str:
        """A value that proves knowledge of the write key: the key's id encrypted under itself, base64.

        The catalog's key record holds it.
        """
        if self.aead is None:
            raise ValueError("a codec without a key has no check value")
        return self.seal_text(self.kid, "discobase key check")

    def verify_check(self, kid: str, check: str) -> bool:
        """Whether this keyring holds the key ``kid`` whose check value is ``check``."""
        if kid not in self._keys:
            return False
        try:
            return self.open_text(check, "discobase key check", kid=kid) == kid
        except CodecError:
            return False

    def open_payload(self, header: WireHeader, blob: bytes, context: str) -> tuple[bytes, WireHeader]:
        """Decrypt an encrypted message's blob; returns its payload and the header with its inner fields.

        The key is the one the header's ``k=`` names (any key for a message written before
        key ids); ``context`` must be where the message is stored.
        """
        if not self.ids:
            raise CodecError(f"cannot decrypt {header.what}: it is encrypted and this codec has no key")
        if len(blob) < AEAD_OVERHEAD:
            raise CodecError(f"cannot decrypt {header.what}: wrong key or tampered data")
        from cryptography.exceptions import InvalidTag  # installed: there is a key

        view = memoryview(blob)
        kid = header.fields.get("k")
        if kid is None:  # written before key ids: any key, the header alone authenticated
            for candidate in self.all():
                try:
                    return candidate.decrypt(view[:NONCE], view[NONCE:], header.associated_data), header
                except InvalidTag:
                    continue
            raise CodecError(f"cannot decrypt {header.what}: wrong key or tampered data")
        if KID_RE.fullmatch(kid) is None:
            raise CodecError(f"{header.what} header has an invalid k= field")
        aead = self.get(kid)
        if aead is None:
            raise CodecError(
                f"cannot decrypt {header.what}: it was encrypted with key {kid}, which this database "
                f"was not given (wrong key? it has {', '.join(self.ids)})"
            )
        try:
            plain = aead.decrypt(view[:NONCE], view[NONCE:], aead_associated_data(header.line, context))
        except InvalidTag:
            raise CodecError(
                f"cannot decrypt {header.what}: tampered data, or a message moved from where it was written"
            ) from None
        line, sep, data = plain.partition(b"\n")
        if not sep:
            raise CodecError(f"cannot decode {header.what}: missing inner header")
        fields = dict(header.fields)
        for token in line.decode("ascii").split(" "):
            match = FIELD_RE.fullmatch(token)
            if match is None or match.group(1) not in INNER_FIELDS or match.group(1) in fields:
                raise CodecError(f"cannot decode {header.what}: malformed inner header")
            fields[match.group(1)] = match.group(2)
        return data, dataclasses.replace(header, fields=fields)
