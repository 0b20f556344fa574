"""Helpers shared by management commands: user lookups, each failing with one readable line, the
--as option, and quieter logs while a command draws its own output. Project lookups are the
projects app's (projects.management.lookup)."""

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


def split_owner(value: str) -> tuple[str | None, str]:
    """`owner/name` -> (owner, name) when `owner` is a user; anything else is a plain name."""
    owner, slash, name = value.partition("/")
    if slash and name and get_user_model().objects.filter(username=owner).exists():
        return owner, name
    return None, value


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
