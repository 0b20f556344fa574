"""Secrets at rest (webhook secrets, per-project GitHub tokens), encrypted with Fernet from
`cryptography`: AES-128-CBC with an HMAC-SHA256, so a changed or foreign ciphertext fails to
decrypt instead of decrypting to junk.

Keys: settings.NYXSYNC_ENCRYPTION_KEYS (from NYXSYNC_ENCRYPTION_KEYS or _FILE, comma-separated).
The first key encrypts, every key decrypts. To rotate: put a new key first and keep the old ones
after it, run `manage.py rotate_secrets` (re-encrypts every secret with the first key), then drop
the old keys.

A stored value reads `fernet:<token>`. The prefix tells ciphertext from plaintext written before
secrets were encrypted: such a value is read as it is until the data migration (projects 0005) or
`rotate_secrets` encrypts it, so a deploy never has a window where webhooks stop verifying.
"""

from __future__ import annotations

import base64
import binascii
import functools
import os
import re
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

if TYPE_CHECKING:
    from cryptography.fernet import MultiFernet

# `cryptography` is imported by the first secret encrypted or decrypted, not with the settings
# (which check the keys): 20-60 ms of every process start, most of which never touch a secret.

PREFIX = "fernet:"
_SEPARATORS = re.compile(r"[,\s]+")
_HOW_TO_MAKE_ONE = (
    'make one with: python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"'
)


class SecretError(Exception):
    """A stored secret cannot be decrypted. The message names the cause, never a secret or a key."""


def generate_key() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode()  # what Fernet.generate_key() makes


def _is_key(key: str) -> bool:
    """Fernet's own check of a key (cryptography.fernet.Fernet() makes the same): 32 bytes in
    url-safe base64."""
    try:
        return len(base64.urlsafe_b64decode(key)) == 32
    except (binascii.Error, ValueError):
        return False


def parse_keys(value: str, *, source: str = "NYXSYNC_ENCRYPTION_KEYS") -> list[str]:
    """Keys from `value` (comma- or whitespace-separated), each checked: a bad one raises
    ImproperlyConfigured with one line that says which, never what it was."""
    keys = [key for key in _SEPARATORS.split(value or "") if key]
    if not keys:
        raise ImproperlyConfigured(f"{source}: no key given; {_HOW_TO_MAKE_ONE}")
    for number, key in enumerate(keys, start=1):
        if not _is_key(key):
            raise ImproperlyConfigured(
                f"{source}: key {number} of {len(keys)} is not a Fernet key (32 bytes in url-safe base64); {_HOW_TO_MAKE_ONE}"
            )
    return keys


def is_encrypted(stored: str) -> bool:
    return stored.startswith(PREFIX)


def encrypt(plaintext: str) -> str:
    return PREFIX + _fernet(_keys()).encrypt(plaintext.encode()).decode()


def decrypt(stored: str) -> str:
    from cryptography.fernet import InvalidToken

    if not is_encrypted(stored):
        return stored  # written before encryption; see the module's docstring
    try:
        return _fernet(_keys()).decrypt(_token(stored)).decode()
    except InvalidToken:
        raise SecretError(
            "a stored secret cannot be decrypted with any of NYXSYNC_ENCRYPTION_KEYS "
            "(was the key that encrypted it removed from the list?)"
        ) from None


def needs_rotation(stored: str) -> bool:
    """True unless `stored` is already encrypted with the first key."""
    from cryptography.fernet import InvalidToken

    if not is_encrypted(stored):
        return True
    try:
        _fernet(_keys()[:1]).decrypt(_token(stored))
    except InvalidToken:
        return True
    return False


def rotate(stored: str) -> str:
    """`stored` re-encrypted with the first key (plaintext is encrypted). Raises SecretError."""
    from cryptography.fernet import InvalidToken

    if not is_encrypted(stored):
        return encrypt(stored)
    try:
        return PREFIX + _fernet(_keys()).rotate(_token(stored)).decode()
    except InvalidToken:
        raise SecretError(
            "a stored secret cannot be decrypted with any of NYXSYNC_ENCRYPTION_KEYS, so it cannot be re-encrypted"
        ) from None


def _token(stored: str) -> bytes:
    return stored.removeprefix(PREFIX).encode()


def _keys() -> tuple[str, ...]:
    # Read on every call (not at import): settings overrides and a reloaded configuration apply.
    keys = settings.NYXSYNC_ENCRYPTION_KEYS
    return (keys,) if isinstance(keys, str) else tuple(keys)


@functools.lru_cache(maxsize=8)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    from cryptography.fernet import Fernet, MultiFernet

    return MultiFernet([Fernet(key) for key in parse_keys(",".join(keys))])
