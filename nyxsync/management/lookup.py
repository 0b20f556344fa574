"""Helpers shared by management commands: argument lookups, each failing with one readable line,
and quieter logs while a command draws its own output."""

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError


def user_by_username(username: str | None):
    """The named user, or (no name given) the first superuser, as `make run` creates one."""
    users = get_user_model().objects
    if username:
        user = users.filter(username=username).first()
        if user is None:
            raise CommandError(f"no user named {username!r}")
        return user
    user = users.filter(is_superuser=True, is_active=True).order_by("pk").first()
    if user is None:
        raise CommandError("no --owner given and no admin user exists: pass --owner USERNAME or run `manage.py ensure_admin`")
    return user


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


def split_owner(value: str) -> tuple[str | None, str]:
    """`owner/name` -> (owner, name) when `owner` is a user; anything else is a plain name."""
    owner, slash, name = value.partition("/")
    if slash and name and get_user_model().objects.filter(username=owner).exists():
        return owner, name
    return None, value


def _project_lookup(value: str, *, user, owner_name: str | None, missing_ok: bool):
    import uuid

    from projects.models import Project
    from projects.selectors import projects_for_user

    projects = (projects_for_user(user) if user is not None else Project.objects.filter(deleted_at__isnull=True)).select_related("owner")
    try:
        project_uuid = uuid.UUID(value)
    except ValueError:
        project_uuid = None
    if project_uuid is not None:
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


@contextmanager
def quiet_logs(*names: str, enabled: bool = True) -> Iterator[None]:
    """Only errors from these loggers while the block runs; their levels are restored after."""
    loggers = [logging.getLogger(name) for name in names] if enabled else []
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def add_as_argument(parser) -> None:
    parser.add_argument(
        "--as", dest="as_user", metavar="USERNAME",
        help="Act as this user: see and do only what they may (selectors and row-level security alike).",
    )


@contextmanager
def acting_from_options(options: dict) -> Iterator:
    """The --as user's scope for the command's work (the whole system without --as: operators
    on the box); yields that user or None."""
    from nyxsync import tenancy

    if not options.get("as_user"):
        yield None
        return
    user = user_by_username(options["as_user"])
    with tenancy.acting_as(user):
        yield user
