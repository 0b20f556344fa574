"""What a user may do to a project they can see. Every door (pages, API, admin actions, commands)
asks here. Roles: viewer (search and watch), maintainer (also sync, cancel, branches and
auto-sync settings), owner (also rename, delete, members and secrets). The project's `owner` and
superusers are owners."""

from projects.models import Membership

_RANK = {Membership.Role.VIEWER: 1, Membership.Role.MAINTAINER: 2, Membership.Role.OWNER: 3}


def role_of(user, project) -> str | None:
    if not user or not user.is_authenticated or not user.is_active:
        return None
    if user.is_superuser or project.owner_id == user.pk:
        return Membership.Role.OWNER
    # A page asking several questions about one project reads the role once.
    cache = project.__dict__.setdefault("_roles", {})
    if user.pk not in cache:
        cache[user.pk] = Membership.objects.filter(project=project, user=user).values_list("role", flat=True).first()
    return cache[user.pk]


def _at_least(user, project, role: str) -> bool:
    found = role_of(user, project)
    return found is not None and _RANK[found] >= _RANK[role]


def can_view(user, project) -> bool:
    return _at_least(user, project, Membership.Role.VIEWER)


def can_sync(user, project) -> bool:
    """Trigger and cancel runs, add or remove branches, change auto-sync settings."""
    return _at_least(user, project, Membership.Role.MAINTAINER)


def can_manage(user, project) -> bool:
    """Rename, delete, manage members and secrets."""
    return _at_least(user, project, Membership.Role.OWNER)
