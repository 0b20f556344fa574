"""The branches of a repository, for the branch picker and the API: the GitHub REST API (PyGithub,
GITHUB_API_URL) for GitHub repositories, `git ls-remote` for any other."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from nyxsync.errors import DomainError
from repositories import git, github
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
    """The branches of `repository`, asked with `token` (the linking user's or the project's:
    repositories.tokens). A GitHub repository is GitHub's to grant (repositories.github): without
    a token that can read it, a private one is refused like a missing one."""
    try:
        repo = normalize_repository(repository)
    except InvalidInput as exc:
        raise BranchesError(str(exc)) from exc
    if repo.github_full_name:
        return _github_branches(repo, token=token)
    try:
        listed = git.list_branches(repo.url, token=token, timeout=30)
    except git.GitError as exc:
        raise BranchesError(exc.message) from exc
    if not listed:
        raise BranchesError(f"{repo.display} has no branches (an empty repository?)")
    return Branches(repo.display, listed.default, list(listed)[:MAX_BRANCHES])


def project_repository_branches(project) -> Branches:
    """The branches of a project's repository, asked with the token the project's fetches get."""
    from repositories.tokens import repository_token

    try:
        url = normalize_repository(project.repository, resolve=False).url
    except InvalidInput as exc:
        raise BranchesError(str(exc)) from exc
    return repository_branches(project.repository, token=repository_token(project=project, url=url))


def user_repository_branches(user, repository: str) -> Branches:
    """The branches of `repository` for the branch picker, asked with the user's GitHub
    connection when the repository is on its host."""
    from repositories.tokens import url_host, user_github_token

    try:
        url = normalize_repository(repository, resolve=False).url
    except InvalidInput as exc:
        raise BranchesError(str(exc)) from exc
    return repository_branches(repository, token=user_github_token(user.pk, host=url_host(url)))


def _github_branches(repo, *, token: str | None) -> Branches:
    from github import UnknownObjectException

    try:
        access = github.repository_access(repo.github_full_name, token=token)
    except github.GithubAccessError as exc:
        raise BranchesError(str(exc)) from exc
    with github.asking(access.api_token, about=f"for {repo.github_full_name}", refused="GitHub refused the token", error=BranchesError, lazy=True) as client:
        try:
            remote = client.get_repo(repo.github_full_name)
            names = [branch.name for _, branch in zip(range(MAX_BRANCHES), remote.get_branches(), strict=False)]
        except UnknownObjectException as exc:
            raise BranchesError(github.refusal(repo.github_full_name)) from exc
    default = access.repository.default_branch
    return Branches(repo.display, default, list(git.BranchList(names, default)))
