"""What GitHub says about a repository and a user, through its REST API (PyGithub,
GITHUB_API_URL): whether a repository may be read and is public, and which repositories a
connected user can read (the repository picker).

Access is GitHub's to decide, per user. A repository is asked about with the token of whoever
links it; without one, anonymously, and only once GitHub reports it public may the deployment's
GITHUB_TOKEN be used for it (it raises rate limits, it never opens a private repository). A
private repository nobody's token can read and a missing one get the same answer, so the refusal
says nothing about what exists."""

from __future__ import annotations

import logging
from contextlib import contextmanager
from dataclasses import dataclass

from django.conf import settings

from repositories.input import InvalidInput

logger = logging.getLogger(__name__)
TIMEOUT_SECONDS = 15
PICKER_PAGE = 20
PICKER_MAX_REPOSITORIES = 1000  # what the picker reads of a user's list (10 pages of 100)


class GithubAccessError(InvalidInput):
    """GitHub will not let this user read the repository (or cannot be asked); one line why.
    Bad input like any other: every door already answers InvalidInput with its message."""


@dataclass(frozen=True)
class GithubRepository:
    full_name: str
    private: bool
    default_branch: str
    description: str = ""


@dataclass(frozen=True)
class RepositoryAccess:
    repository: GithubRepository
    api_token: str | None  # the token to ask GitHub's API with about this repository from now on


def refusal(full_name: str) -> str:
    return (
        f"GitHub has no repository {full_name} that you may read: connect GitHub on your account page "
        "with an account that can read it, or give the project a token that can"
    )


def client(token: str | None, *, lazy: bool = False):
    """A PyGithub client; `lazy` objects make no request until an attribute needs one."""
    from github import Auth, Github

    return Github(
        base_url=settings.GITHUB_API_URL, auth=Auth.Token(token) if token else None, timeout=TIMEOUT_SECONDS, retry=None, lazy=lazy
    )


@contextmanager
def asking(token: str | None, *, about: str, refused: str | None = None, error: type[Exception] = GithubAccessError, lazy: bool = False):
    """A client for one question to GitHub, whose failures become `error` in one line: `about`
    says what was asked ("GitHub answered 502 {about}"), `refused` what a refused token means
    (None: GitHub's status says it)."""
    from github import BadCredentialsException, GithubException, RateLimitExceededException

    github = client(token, lazy=lazy)
    try:
        yield github
    except RateLimitExceededException as exc:
        raise error("GitHub's rate limit is used up; try again later") from exc
    except GithubException as exc:
        if refused and isinstance(exc, BadCredentialsException):
            raise error(refused) from exc
        raise error(f"GitHub answered {exc.status} {about}") from exc
    except OSError as exc:
        raise error(f"GitHub is not reachable ({type(exc).__name__})") from exc
    finally:
        github.close()


def repository_access(full_name: str, *, token: str | None) -> RepositoryAccess:
    """May the holder of `token` (None: anybody) read `full_name`? Raises GithubAccessError."""
    if token:
        return RepositoryAccess(_repository(full_name, token=token), token)
    try:
        found = _repository(full_name, token=None)
    except _RateLimited:
        # Anonymous calls are few per hour: ask with the deployment's token, and take its answer
        # only for a public repository (it may read private ones nobody here has a right to).
        if not settings.GITHUB_TOKEN:
            raise GithubAccessError("GitHub's rate limit for anonymous requests is used up; try again later") from None
        found = _repository(full_name, token=settings.GITHUB_TOKEN)
    if found.private:
        raise GithubAccessError(refusal(full_name))
    return RepositoryAccess(found, settings.GITHUB_TOKEN or None)


class _RateLimited(Exception):
    pass


def _repository(full_name: str, *, token: str | None) -> GithubRepository:
    from github import GithubException, RateLimitExceededException, UnknownObjectException

    refused = "GitHub refused the token (revoked or expired): connect GitHub again, or set a new token"
    with asking(token, about=f"for {full_name}", refused=refused) as github:
        try:
            remote = github.get_repo(full_name)
        except UnknownObjectException as exc:
            raise GithubAccessError(refusal(full_name)) from exc
        except GithubException as exc:
            if token is None and (isinstance(exc, RateLimitExceededException) or exc.status == 403):
                raise _RateLimited() from exc
            raise
        return GithubRepository(remote.full_name, bool(remote.private), remote.default_branch or "", remote.description or "")


@dataclass(frozen=True)
class RepositoryPage:
    repositories: list[GithubRepository]
    page: int
    pages: int
    total: int


def user_repositories(token: str, *, query: str = "", page: int = 1) -> RepositoryPage:
    """The repositories the token's user can read (theirs, their organisations', shared with
    them), most recently pushed first, filtered by `query` (in the name), PICKER_PAGE a page."""
    refused = "GitHub refused your connection's token (revoked?): connect GitHub again"
    with asking(token, about="listing your repositories", refused=refused) as github:
        listed = github.get_user().get_repos(sort="pushed", direction="desc")
        found = []
        for number, remote in enumerate(listed):
            if number >= PICKER_MAX_REPOSITORIES:
                break
            if query.lower() in remote.full_name.lower():
                found.append(GithubRepository(remote.full_name, bool(remote.private), remote.default_branch or "", remote.description or ""))
    pages = max((len(found) + PICKER_PAGE - 1) // PICKER_PAGE, 1)
    page = min(max(page, 1), pages)
    return RepositoryPage(found[(page - 1) * PICKER_PAGE : page * PICKER_PAGE], page, pages, len(found))


def user_login(token: str) -> str:
    """The GitHub login of the token's user (raises GithubAccessError)."""
    with asking(token, about="for the new connection") as github:
        return github.get_user().login
