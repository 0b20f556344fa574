"""Which token a repository gets, and which tokens can be sent at all. One place for both: git
sends the token in an HTTP header (repositories.git_process), the GitHub API in another, so a
line break in it would start a header of the token's choosing.

Every token is bound to the host it was given for, and goes nowhere else:
- a project's own token: the host of the project's repository when an owner set it
  (Project.github_token_host), even if a branch's repository URL changes later;
- the project owner's GitHub connection: the GitHub host it was made with (GITHUB_URL then);
- the deployment's GITHUB_TOKEN: never to git, and to the REST API only for repositories GitHub
  reports public (repositories.github), so no user borrows it to read a private repository."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

# Printable ASCII without spaces; GitHub's tokens are at most 255 characters.
_TOKEN = re.compile(r"[\x21-\x7e]{1,255}")


def token_is_sendable(token: str) -> bool:
    return bool(_TOKEN.fullmatch(token))


def url_host(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


def token_host_for(repository: str) -> str:
    """The host a token set for `repository` (owner/name or a URL) is bound to."""
    from repositories.input import InvalidInput, normalize_repository

    try:
        return url_host(normalize_repository(repository, resolve=False).url)
    except InvalidInput:
        return ""


def repository_token(*, project, url: str) -> str | None:
    """The token git and the GitHub API get for `url`, a repository of `project`: the project's
    own token, else its owner's GitHub connection, each only if `url` is on the host it is
    bound to. None: the repository is read without a token (public repositories need none)."""
    host = url_host(url)
    if not host or project is None:
        return None
    if project.github_token and project.github_token_host == host:
        return project.github_token
    return user_github_token(project.owner_id, host=host)


def user_github_token(user_id, *, host: str) -> str | None:
    """The user's GitHub connection token, if they connected on `host`."""
    from repositories.models import GithubConnection

    if not user_id:
        return None
    connection = GithubConnection.objects.filter(user_id=user_id, host=host).only("token").first()
    return connection.token if connection else None
