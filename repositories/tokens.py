"""Which token a repository gets, and which tokens can be sent at all. One place for both: git
sends the token in an HTTP header (repositories.git_process), the GitHub API in another, so a
line break in it would start a header of the token's choosing."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from django.conf import settings

# Printable ASCII without spaces; GitHub's tokens are at most 255 characters.
_TOKEN = re.compile(r"[\x21-\x7e]{1,255}")


def token_is_sendable(token: str) -> bool:
    return bool(_TOKEN.fullmatch(token))


def repository_token(*, project, url: str) -> str | None:
    """The token git and the GitHub API get for `url`, a repository of `project`: the project's
    own token (its owners set it for this repository), else the deployment's GITHUB_TOKEN, and
    that one only for github.com, so no other host ever sees it."""
    if project is not None and project.github_token:
        return project.github_token
    return (settings.GITHUB_TOKEN or None) if (urlsplit(url).hostname or "") == "github.com" else None
