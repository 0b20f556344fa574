"""Who the database is acting for: the second wall of tenancy, under the selectors.

PostgreSQL row-level security (migration nyxsync.0001_row_level_security) shows a connection only the rows of the
projects its settings allow: `nyxsync.user_id` (the projects that user owns or is a member of;
all for superusers), `nyxsync.project_id` (one project: a task working on it), or
`nyxsync.system` (every project: periodic repair, webhook routing, operators' commands). With
none set, nothing: a query that forgot its filter returns no foreign row, or no row at all.

Code says whom it acts for with a context manager; the setting follows on the current thread's
connection:

    with tenancy.acting_as(request.user): ...        # middleware, API authentication
    with tenancy.acting_for_project(project_id): ... # a sync run, an embedding helper
    with tenancy.dangerously_as_system(): ...        # cross-tenant maintenance, named as such

The app's database role is subject to these policies (it is neither superuser nor owner with
BYPASSRLS); migrations run as the owner role, which bypasses them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from django.conf import settings
from django.db import connections
from django.db.backends.signals import connection_created
from django.dispatch import receiver

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Context:
    user_id: int | None = None
    project_id: int | None = None
    system: bool = False

    def settings(self) -> tuple[str, str, str]:
        return (str(self.user_id or ""), str(self.project_id or ""), "on" if self.system else "")


NOBODY = Context()
SYSTEM = Context(system=True)
_current: ContextVar[Context | None] = ContextVar("nyxsync_tenancy", default=None)


def current() -> Context:
    """The context in force: the innermost `with`, else the process default (settings)."""
    context = _current.get()
    if context is not None:
        return context
    return SYSTEM if settings.NYXSYNC_TENANCY_DEFAULT == "system" else NOBODY


@contextmanager
def _using(context: Context) -> Iterator[None]:
    token = _current.set(context)
    apply()
    try:
        yield
    finally:
        _current.reset(token)
        apply()


def acting_as(user) -> contextmanager:
    """Act for `user` (nobody, for anonymous or inactive users)."""
    known = user is not None and getattr(user, "is_authenticated", False) and user.is_active
    return _using(Context(user_id=user.pk) if known else NOBODY)


def acting_for_project(project_id: int) -> contextmanager:
    """Act within one project: a task's work on it."""
    return _using(Context(project_id=int(project_id)))


def dangerously_as_system() -> contextmanager:
    """Act across every tenant. Only for code that must (periodic repair, webhook routing,
    operators' commands); each use is visible by this name."""
    return _using(SYSTEM)


def act_as_system_by_default() -> None:
    """For this thread from now on: the system (manage.py commands, run by operators on the
    box; a command given --as USER narrows it with acting_as)."""
    _current.set(SYSTEM)


def switch_to(user) -> None:
    """Within the current scope, act for `user` from now on (DRF authenticates inside the view,
    after the middleware has opened the request's scope)."""
    known = user is not None and getattr(user, "is_authenticated", False) and user.is_active
    _current.set(Context(user_id=user.pk) if known else NOBODY)
    apply()


# --- applying the context to connections -----------------------------------------------------

_SET = (
    "SELECT set_config('nyxsync.user_id', %s, false), set_config('nyxsync.project_id', %s, false), "
    "set_config('nyxsync.system', %s, false)"
)


def apply(using: str = "default") -> None:
    """Put the current context on the thread's connection, if it is open; a new connection gets
    it when it opens, and any connection before its next query if it missed a change."""
    connection = connections[using]
    if connection.connection is None or connection.connection.closed:
        return  # a closed one gets the context when it opens again
    _set(connection, current())


def _set(connection, context: Context) -> None:
    from psycopg.pq import TransactionStatus

    raw = connection.connection
    if raw.info.transaction_status == TransactionStatus.INERROR:
        connection._nyxsync_context = None  # set it again once the transaction is over
        return
    with raw.cursor() as cursor:
        cursor.execute(_SET, context.settings())
    # Set inside a transaction, the value goes away if it rolls back: check again after it.
    connection._nyxsync_context = (context, connection.in_atomic_block)


def _ensure(execute, sql, params, many, context):
    """Execute wrapper: make sure the connection carries the current context before a query."""
    connection = context["connection"]
    applied = getattr(connection, "_nyxsync_context", None)
    wanted = current()
    if applied is None or applied[0] != wanted or (applied[1] and not connection.in_atomic_block):
        _set(connection, wanted)
    return execute(sql, params, many, context)


@receiver(connection_created)
def _on_connection_created(sender, connection, **kwargs) -> None:
    if connection.vendor != "postgresql":
        return
    if _ensure not in connection.execute_wrappers:
        connection.execute_wrappers.append(_ensure)
    _set(connection, current())
