"""Reads of projects. `project_get_for_user` is the one road to a Project for any door: a missing
project and another user's project look alike (None)."""

from projects.models import Project


def projects_for_user(user):
    if not user.is_authenticated:
        return Project.objects.none()
    projects = Project.objects.filter(deleted_at__isnull=True)
    return projects if user.is_superuser else projects.filter(owner=user)


def project_get_for_user(user, *, uuid=None, name: str | None = None, owner=None) -> Project | None:
    projects = projects_for_user(user)
    if uuid is not None:
        projects = projects.filter(uuid=uuid)
    if name is not None:
        projects = projects.filter(name=name, owner=owner or user)
    return projects.first()
