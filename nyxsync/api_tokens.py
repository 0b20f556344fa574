"""API tokens: one per user, stored as a digest (django-rest-knox), shown once when issued, with
an optional expiry. The page, the API and the admin issue and revoke them here."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from knox.models import AuthToken

logger = logging.getLogger(__name__)


class TokenError(ValueError):
    """A token request that cannot be done; the message says why."""


@dataclass(frozen=True)
class IssuedToken:
    key: str  # shown to its user once; only its digest is stored
    created: datetime
    expiry: datetime | None


def api_token_issue(*, user, expires_in_days: int | None = None) -> IssuedToken:
    """Replace the user's token by a new one, valid for `expires_in_days` (None: until revoked,
    unless the deployment caps tokens at NYXSYNC_API_TOKEN_MAX_DAYS)."""
    cap = settings.NYXSYNC_API_TOKEN_MAX_DAYS
    if expires_in_days is not None and not 1 <= expires_in_days <= 3650:
        raise TokenError("expires_in_days is between 1 and 3650")
    if cap and (expires_in_days is None or expires_in_days > cap):
        expires_in_days = cap
    with transaction.atomic():
        AuthToken.objects.filter(user=user).delete()
        token, key = AuthToken.objects.create(
            user=user, expiry=timedelta(days=expires_in_days) if expires_in_days else None
        )
    logger.info("api.token.issued", extra={"user_id": user.pk, "expires_in_days": expires_in_days})
    return IssuedToken(key=key, created=token.created, expiry=token.expiry)


def api_token_revoke(*, user) -> bool:
    deleted, _ = AuthToken.objects.filter(user=user).delete()
    logger.info("api.token.revoked", extra={"user_id": user.pk})
    return bool(deleted)
