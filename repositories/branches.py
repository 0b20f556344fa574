"""The branches of a repository, for the branch picker and the API: the GitHub REST API (PyGithub,
GITHUB_API_URL) for GitHub repositories, `git ls-remote` for any other."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.conf import settings

from nyxsync.errors import DomainError
from repositories import git
from repositories.input import InvalidInput, normalize_repository

logger = logging.getLogger(__name__)
MAX_BRANCHES = 500


@dataclass(frozen=True)
class Branches:
    repository: str  # as displayed
    default: str | None
    names: list[str]  # default first


class BranchesError(DomainError):
    """The repository's branches cannot be listed; the message says why (for the form field)."""


def repository_branches(repository: str, *, token: str | None = None) -> Branches:
    """The branches of `repository`. `token` (repositories.tokens.repository_token) goes to git or the GitHub API;
    without one, GitHub repositories are asked with the deployment's GITHUB_TOKEN."""
    try:
        repo = normalize_repository(repository)
    except InvalidInput as exc:
        raise BranchesError(str(exc)) from exc
    if repo.github_full_name:
        return _github_branches(repo, token=token or settings.GITHUB_TOKEN or None)
    try:
        listed = git.list_branches(repo.url, token=token, timeout=30)
    except git.GitError as exc:
        raise BranchesError(exc.message) from exc
    if not listed:
        raise BranchesError(f"{repo.display} has no branches (an empty repository?)")
    return Branches(repo.display, listed.default, list(listed)[:MAX_BRANCHES])


def _github_branches(repo, *, token: str | None) -> Branches:
    from github import Auth, BadCredentialsException, Github, GithubException, UnknownObjectException

    client = Github(base_url=settings.GITHUB_API_URL, auth=Auth.Token(token) if token else None, timeout=15, retry=None)
    try:
        remote = client.get_repo(repo.github_full_name)
        default = remote.default_branch
        names = [branch.name for _, branch in zip(range(MAX_BRANCHES), remote.get_branches(), strict=False)]
    except UnknownObjectException as exc:
        hint = "" if token else " (a private repository needs a GitHub token)"
        raise BranchesError(f"GitHub has no repository {repo.github_full_name} that we may read{hint}") from exc
    except BadCredentialsException as exc:
        raise BranchesError("GitHub refused the token") from exc
    except GithubException as exc:
        raise BranchesError(f"GitHub answered {exc.status} for {repo.github_full_name}") from exc
    except OSError as exc:
        raise BranchesError(f"GitHub is not reachable ({type(exc).__name__})") from exc
    finally:
        client.close()
    names.sort()
    if default in names:
        names.remove(default)
        names.insert(0, default)
    return Branches(repo.display, default, names)
