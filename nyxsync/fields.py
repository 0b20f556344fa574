"""Model fields of nyxsync."""

from __future__ import annotations

from django.db import models

from nyxsync import crypto


class EncryptedTextField(models.TextField):
    """Text encrypted at rest (nyxsync.crypto): Python code sees the plaintext, the column holds
    `fernet:<token>`. Writes encrypt with the first key; reads decrypt with any key.

    Only `isnull` lookups exist: one plaintext encrypts differently each time, so equality or any
    other comparison in SQL could only be wrong. Serialized (dumpdata) as ciphertext, so fixtures
    and dumps hold no secret; loading them decrypts.
    """

    description = "Text (encrypted at rest)"

    def get_lookup(self, lookup_name):
        return super().get_lookup(lookup_name) if lookup_name == "isnull" else None

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        return None if value is None else crypto.encrypt(value)

    def from_db_value(self, value, expression, connection):
        return None if value is None else crypto.decrypt(value)

    def to_python(self, value):
        value = super().to_python(value)
        return None if value is None else crypto.decrypt(value)

    def value_to_string(self, obj):
        value = self.value_from_object(obj)
        return None if value is None else crypto.encrypt(value)
