"""Ids from outside (URL paths, query strings, command arguments, JSON bodies), parsed in one
place: what is not a UUID is no id at all, so a malformed id and a missing one look alike."""

from __future__ import annotations

import uuid
from collections.abc import Iterable


def parse_uuid(value: object) -> uuid.UUID | None:
    """`value` as a UUID (any form uuid.UUID reads), or None if it is not one."""
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def parse_uuids(values: Iterable[object]) -> list[uuid.UUID]:
    """The values that are UUIDs, parsed; the others are left out."""
    return [parsed for parsed in map(parse_uuid, values) if parsed is not None]
