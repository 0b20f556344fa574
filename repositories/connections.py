"""A user's GitHub connection: made after the OAuth flow, removed on request (which revokes it
here: nothing sends that token again; the grant itself the user can revoke on GitHub)."""

from __future__ import annotations

import logging

from repositories import github
from repositories.input import github_web_url
from repositories.models import GithubConnection
from repositories.tokens import token_is_sendable

logger = logging.getLogger(__name__)


def github_connection_of(user) -> GithubConnection | None:
    return GithubConnection.objects.filter(user=user).first() if user and user.is_authenticated else None


def github_connection_save(*, user, token: str, scopes: str = "") -> GithubConnection:
    """Store the token GitHub gave `user` (encrypted), for the GitHub host configured now."""
    if not token_is_sendable(token):
        raise github.GithubAccessError("GitHub gave a token that cannot be used")
    login = github.user_login(token)
    _, host, _ = github_web_url()
    connection, _ = GithubConnection.objects.update_or_create(
        user=user, defaults={"login": login, "host": host, "token": token, "scopes": scopes[:200]}
    )
    logger.info("github.connection.saved", extra={"user_id": user.pk, "github_login": login})
    return connection


def github_connection_remove(*, user) -> bool:
    deleted, _ = GithubConnection.objects.filter(user=user).delete()
    if deleted:
        logger.info("github.connection.removed", extra={"user_id": user.pk})
    return bool(deleted)
