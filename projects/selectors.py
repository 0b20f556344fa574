"""Reads of projects. `project_get_for_user` is the one road to a Project for any door: a missing
project and another user's project look alike (None)."""

import uuid as uuid_module

from projects.models import Project


def projects_for_user(user):
    """Every project `user` may see (not deleted). The one place that decides it."""
    if user is None or not user.is_authenticated:
        return Project.objects.none()
    projects = Project.objects.filter(deleted_at__isnull=True)
    return projects if user.is_superuser else projects.filter(owner=user)


def project_get_for_user(user, *, uuid=None, name: str | None = None, owner=None) -> Project | None:
    projects = projects_for_user(user).select_related("owner")
    if uuid is not None:
        try:
            projects = projects.filter(uuid=uuid_module.UUID(str(uuid)))
        except ValueError:
            return None
    if name is not None:
        projects = projects.filter(name=name, owner=owner or user)
    return projects.first()


def projects_get_for_user(user, *, uuids) -> list[Project]:
    """The projects among `uuids` that `user` may see; invalid, missing and foreign ids are left out."""
    valid = []
    for value in uuids:
        try:
            valid.append(uuid_module.UUID(str(value)))
        except ValueError:
            continue
    return list(projects_for_user(user).filter(uuid__in=valid))
