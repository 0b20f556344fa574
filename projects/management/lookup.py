"""The project a management command's --project names, each failure one readable line."""

from django.core.management.base import CommandError

from nyxsync.management.lookup import split_owner, user_by_username
from nyxsync.uuids import parse_uuid
from projects.selectors import projects_for_user, projects_not_deleted

PROJECT_HELP = "The project: its uuid, OWNER/NAME, or a name only one owner has."


def project_from_option(value: str, *, user=None, owner_name: str | None = None):
    """The project a command's --project names: its uuid, `owner/name`, or a name (that --owner's
    if given, else the one project of that name). Only `user`'s projects when acting --as them;
    every project when acting for the system. Raises CommandError with one line."""
    return _project_lookup(value, user=user, owner_name=owner_name, missing_ok=False)


def project_from_option_or_none(value: str, *, user=None, owner_name: str | None = None):
    """Like project_from_option, but None when no project has that name yet (a command that
    creates it); a uuid that matches nothing, or an ambiguous name, still fail."""
    return _project_lookup(value, user=user, owner_name=owner_name, missing_ok=True)


def _project_lookup(value: str, *, user, owner_name: str | None, missing_ok: bool):
    projects = (projects_for_user(user) if user is not None else projects_not_deleted()).select_related("owner")
    if (project_uuid := parse_uuid(value)) is not None:
        project = projects.filter(uuid=project_uuid).first()
        if project is None:
            raise CommandError(f"no project with id {value}")
        return project
    prefix, name = split_owner(value)
    owner_name = prefix or owner_name
    if owner_name:
        owner = user_by_username(owner_name)
        project = projects.filter(owner=owner, name=name).first()
        if project is None and not missing_ok:
            raise CommandError(f"{owner.get_username()} has no project named {name!r}")
        return project
    matches = list(projects.filter(name=name).order_by("owner__username")[:6])
    if len(matches) > 1:
        names = ", ".join(f"{project.owner.get_username()}/{project.name}" for project in matches[:5])
        raise CommandError(f"several projects are named {name!r} ({names}): say which one with OWNER/{name} or --owner")
    if not matches and not missing_ok:
        raise CommandError(f"no project named {name!r}")
    return matches[0] if matches else None
