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
import re
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
    return _using(_context_of(user))


@contextmanager
def acting_for_request(user) -> Iterator[None]:
    """`acting_as` for one request (TenancyMiddleware), which does not send the outer context back
    on its way out: the request's connection is closed or returned to the pool (which resets it)
    right after, and a query before that sends it first (`_ensure`). A round trip less per request."""
    token = _current.set(_context_of(user))
    apply()
    try:
        yield
    finally:
        _current.reset(token)


def _context_of(user) -> Context:
    known = user is not None and getattr(user, "is_authenticated", False) and user.is_active
    return Context(user_id=user.pk) if known else NOBODY


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
    _current.set(_context_of(user))
    apply()


# --- applying the context to connections -----------------------------------------------------
# Each PostgreSQL connection remembers the context it carries (an attribute of psycopg's
# connection, the object that holds the settings, which a pool hands from thread to thread), so a
# context is sent only when it changes: a request through the API sends one, its user's. A pooled
# connection is reset to nobody as it goes back to the pool (`reset_pooled_connection`, in the
# pool's own thread, after the response), so the next request finds it acting for nobody. A context
# set inside a transaction counts as applied while that transaction lasts, and not past a rollback
# to a savepoint (`_ensure`), which may have taken it back.

_SET = (
    "SELECT set_config('nyxsync.user_id', %s, false), set_config('nyxsync.project_id', %s, false), "
    "set_config('nyxsync.system', %s, false)"
)
_ROLLBACK_TO = re.compile(r"\s*ROLLBACK\s+TO\b", re.IGNORECASE)  # Django's ROLLBACK TO SAVEPOINT, or any


def apply(using: str = "default") -> None:
    """Put the current context on the thread's connection, if it is open; a new connection gets
    it when it opens, and any connection before its next query if it missed a change."""
    connection = connections[using]
    if connection.connection is None or connection.connection.closed:
        return  # a closed one gets the context when it opens again
    _ensure_context(connection.connection, current())


def _ensure_context(raw, context: Context) -> None:
    from psycopg.pq import TransactionStatus

    status = raw.info.transaction_status
    applied = getattr(raw, "_nyxsync_context", None)
    # Set inside a transaction, the value goes away if it rolls back: set it again after it.
    if applied == (context, False) or (applied == (context, True) and status != TransactionStatus.IDLE):
        return
    if status == TransactionStatus.INERROR:
        raw._nyxsync_context = None  # set it again once the transaction is over
        return
    with raw.cursor() as cursor:
        cursor.execute(_SET, context.settings())
    raw._nyxsync_context = (context, raw.info.transaction_status != TransactionStatus.IDLE)


def reset_pooled_connection(raw) -> None:
    """The connection pool's reset (nyxsync/settings/base.py): a connection going back to the pool
    acts for nobody, whatever the request that used it did."""
    from psycopg.pq import TransactionStatus

    _ensure_context(raw, NOBODY)
    if raw.info.transaction_status != TransactionStatus.IDLE:  # the set opened one (no autocommit)
        raw.commit()
        raw._nyxsync_context = (NOBODY, False)


def _ensure(execute, sql, params, many, context):
    """Execute wrapper: make sure the connection carries the current context before a query."""
    raw = context["connection"].connection
    _ensure_context(raw, current())
    try:
        return execute(sql, params, many, context)
    finally:
        # A rollback to a savepoint (an inner atomic block that failed) takes back a context set
        # since, while the transaction goes on: one set inside a transaction is sent again. One set
        # outside any (committed) holds; a whole rollback ends the transaction, which
        # _ensure_context sees.
        if isinstance(sql, str) and _ROLLBACK_TO.match(sql) and getattr(raw, "_nyxsync_context", None) and raw._nyxsync_context[1]:
            raw._nyxsync_context = None


@receiver(connection_created)
def _on_connection_created(sender, connection, **kwargs) -> None:
    if connection.vendor != "postgresql":
        return
    if _ensure not in connection.execute_wrappers:
        connection.execute_wrappers.append(_ensure)
    _ensure_context(connection.connection, current())
