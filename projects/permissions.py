"""What a user may do to a project they can see. Every door (pages, API, admin actions, commands)
asks here. Today: the owner (and superusers) may do everything; memberships with roles
(viewer: search and watch; maintainer: also sync and change settings; owner: also manage members
and delete) will be decided here too."""


def can_view(user, project) -> bool:
    return bool(user and user.is_authenticated and (user.is_superuser or project.owner_id == user.pk))


def can_sync(user, project) -> bool:
    """Trigger and cancel runs, add or remove branches, change auto-sync settings."""
    return can_view(user, project)


def can_manage(user, project) -> bool:
    """Rename, delete, manage members and secrets."""
    return can_view(user, project)
