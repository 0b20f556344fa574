"""The migration guard: which operations of a migration would destroy or rewrite embedding data.

nyxsync exists because a schema push nearly dropped an embedding column. The guarded `migrate`
(embeddings/management/commands/migrate.py) refuses a plan with any of these hazards on a
protected table, and a system check (embeddings/checks.py) flags unmarked ones on disk:

- dropping a protected table or column, or the vector extension;
- changing a protected column's type (a vector's dimension included);
- renaming a protected table or column away;
- SQL that drops, truncates, deletes from, updates or alters the type of a protected table;
- building an index without CONCURRENTLY on a large protected table (migrate only: it needs the
  table's size).

Model operations are judged from the migration state; RunSQL is parsed with pglast (PostgreSQL's
own parser), so quoting, schemas and multi-statement strings are read as the server reads them.
RunPython cannot be read and is not judged.

A migration is allowed deliberately with a class attribute reviewed in code,
`nyxsync_allow_destructive = "<why>"`, or for one run with `migrate --allow-destructive app.name`.
"""

from __future__ import annotations

import contextvars
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from django.conf import settings
from django.db import migrations
from django.db.migrations.operations.base import Operation
from django.db.migrations.state import ProjectState
from pgvector.django import VectorField

ALLOW_ATTRIBUTE = "nyxsync_allow_destructive"
# Migrations allowed for the current `migrate --allow-destructive` run (read by the system check).
allowed_for_this_run: contextvars.ContextVar[frozenset[str]] = contextvars.ContextVar(
    "allowed_for_this_run", default=frozenset()
)


@dataclass(frozen=True)
class Hazard:
    migration: str  # "app_label.migration_name"
    action: str  # "drop column embeddings_vector.embedding"

    def message(self) -> str:
        return (
            f"refusing to migrate: {self.migration} would {self.action}. If that is deliberate, add "
            f'`{ALLOW_ATTRIBUTE} = "<why>"` to the migration or run '
            f"`manage.py migrate --allow-destructive {self.migration}`"
        )


def migration_label(migration) -> str:
    return f"{migration.app_label}.{migration.name}"


def is_allowed(migration, extra: Iterable[str] = ()) -> bool:
    label = migration_label(migration)
    return bool(getattr(migration, ALLOW_ATTRIBUTE, "")) or label in set(extra) or label in allowed_for_this_run.get()


def protected_tables(state: ProjectState, extra: Iterable[str] = ()) -> set[str]:
    """The configured tables, every table of a model with a vector field, and `extra` (tables
    the database itself shows holding vector columns)."""
    tables = set(settings.NYXSYNC_PROTECTED_TABLES) | set(extra)
    for (app_label, _), model_state in state.models.items():
        if any(isinstance(field, VectorField) for field in model_state.fields.values()):
            tables.add(_table(state, app_label, model_state.name_lower))
    return tables


def migration_hazards(
    migration,
    state: ProjectState,
    *,
    backwards: bool = False,
    protected: set[str] | None = None,
    large_tables: dict[str, int] | None = None,
) -> list[Hazard]:
    """The hazards of applying (or unapplying) `migration`, given the project state before it."""
    state = state.clone()
    steps = []  # (operation, state before it)
    for operation in migration.operations:
        steps.append((operation, state.clone()))
        operation.state_forwards(migration.app_label, state)
    if backwards:
        steps.reverse()
    protected = protected if protected is not None else protected_tables(state)
    context = _Context(migration.app_label, protected, large_tables or {})
    label = migration_label(migration)
    return [
        Hazard(label, action)
        for operation, before in steps
        for action in _operation_hazards(operation, before, context, backwards)
    ]


@dataclass
class _Context:
    app_label: str
    protected: set[str]
    large_tables: dict[str, int]


def _table(state: ProjectState, app_label: str, model_name: str) -> str:
    model_state = state.models[(app_label, model_name.lower())]
    return model_state.options.get("db_table") or f"{app_label}_{model_state.name_lower}"


def _column(name: str, field) -> str:
    if getattr(field, "db_column", None):
        return field.db_column
    return f"{name}_id" if (field.many_to_one or field.one_to_one) else name


def _type_changed(old, new) -> bool:
    if type(old) is not type(new):
        return True
    return isinstance(new, VectorField) and old.dimensions != new.dimensions


def _operation_hazards(operation: Operation, state: ProjectState, ctx: _Context, backwards: bool) -> Iterator[str]:
    app = ctx.app_label
    if isinstance(operation, migrations.SeparateDatabaseAndState):
        for inner in operation.database_operations:
            yield from _operation_hazards(inner, state, ctx, backwards)
        return
    if isinstance(operation, migrations.RunSQL):
        sql = operation.reverse_sql if backwards else operation.sql
        if sql is not None and sql is not migrations.RunSQL.noop:
            yield from sql_hazards(_sql_text(sql), ctx.protected, ctx.large_tables)
        return

    if isinstance(operation, (migrations.CreateModel, migrations.RenameModel, migrations.AlterModelTable)):
        yield from _table_operation_hazards(operation, state, ctx, backwards)
        return
    model_name = getattr(operation, "model_name", None) or getattr(operation, "name", None)
    key = (app, str(model_name).lower())
    if model_name is None or key not in state.models:
        return  # RunPython and other operations on no model
    table = _table(state, app, model_name)
    if table not in ctx.protected:
        return
    fields = state.models[key].fields

    if isinstance(operation, migrations.DeleteModel) and not backwards:
        yield f"drop table {table}"
    elif isinstance(operation, migrations.RemoveField) and not backwards:
        yield f"drop column {table}.{_column(operation.name, fields[operation.name.lower()])}"
    elif isinstance(operation, migrations.AddField) and backwards:
        yield f"drop column {table}.{_column(operation.name, operation.field)} (unapplying its AddField)"
    elif isinstance(operation, migrations.RenameField):
        name = operation.old_name.lower() if not backwards else operation.new_name.lower()
        if name in fields:
            yield f"rename column {table}.{_column(name, fields[name])} away"
    elif isinstance(operation, migrations.AlterField) and operation.name.lower() in fields:
        old = fields[operation.name.lower()]
        if _type_changed(old, operation.field):
            yield f"change the type of column {table}.{_column(operation.name, old)}"
    elif isinstance(operation, migrations.AddIndex) and not backwards:
        rows = ctx.large_tables.get(table)
        if rows is not None and not isinstance(operation, _concurrent_index_operations()):
            yield (
                f"build index {operation.index.name} without CONCURRENTLY on {table} (~{rows:,} rows); "
                "use AddIndexConcurrently in a non-atomic migration"
            )


def _table_operation_hazards(operation: Operation, state: ProjectState, ctx: _Context, backwards: bool) -> Iterator[str]:
    """Operations that create, drop or rename a whole table. Forwards, the table they act on is
    the one before them; backwards (unapplying), the one they had made."""
    after = state.clone()
    operation.state_forwards(ctx.app_label, after)
    if isinstance(operation, migrations.CreateModel):
        table = _table(after, ctx.app_label, operation.name)
        if backwards and table in ctx.protected:
            yield f"drop table {table} (unapplying its CreateModel)"
        return
    old_name = operation.old_name if isinstance(operation, migrations.RenameModel) else operation.name
    new_name = operation.new_name if isinstance(operation, migrations.RenameModel) else operation.name
    old_table = _table(state, ctx.app_label, old_name)
    new_table = _table(after, ctx.app_label, new_name)
    if old_table == new_table:
        return  # an explicit db_table: the rename does not touch the database
    moved = new_table if backwards else old_table
    if moved in ctx.protected:
        yield f"rename table {moved} away"


def _concurrent_index_operations() -> tuple[type, ...]:
    from django.contrib.postgres.operations import AddIndexConcurrently

    return (AddIndexConcurrently,)


def _sql_text(sql) -> str:
    if isinstance(sql, str):
        return sql
    parts = []
    for item in sql:
        parts.append(item[0] if isinstance(item, (list, tuple)) else str(item))
    return ";\n".join(parts)


def sql_hazards(sql: str, protected: set[str], large_tables: dict[str, int] | None = None) -> list[str]:
    """What `sql` would do to protected tables, as short phrases ("truncate embeddings_chunk")."""
    from pglast import enums, parse_sql
    from pglast.parser import ParseError

    large_tables = large_tables or {}
    try:
        statements = parse_sql(sql)
    except ParseError:
        mentioned = sorted(table for table in protected if re.search(rf"\b{re.escape(table)}\b", sql))
        return [f"run SQL that cannot be parsed and names {', '.join(mentioned)}"] if mentioned else []

    found = []
    for raw in statements:
        stmt = raw.stmt
        kind = type(stmt).__name__
        if kind == "DropStmt":
            for obj in stmt.objects or ():
                names = [getattr(part, "sval", "") for part in (obj if isinstance(obj, tuple) else (obj,))]
                if stmt.removeType == enums.ObjectType.OBJECT_TABLE and names and names[-1] in protected:
                    found.append(f"drop table {names[-1]}")
                elif stmt.removeType == enums.ObjectType.OBJECT_EXTENSION and "vector" in names:
                    found.append("drop extension vector (and every vector column with it)")
                elif stmt.removeType == enums.ObjectType.OBJECT_SCHEMA:
                    found.append(f"drop schema {'.'.join(names)}")
        elif kind == "TruncateStmt":
            for relation in stmt.relations:
                if relation.relname in protected:
                    found.append(f"truncate {relation.relname}")
        elif kind in ("DeleteStmt", "UpdateStmt") and stmt.relation.relname in protected:
            found.append(f"{'delete from' if kind == 'DeleteStmt' else 'update rows of'} {stmt.relation.relname}")
        elif kind == "AlterTableStmt" and stmt.relation.relname in protected:
            table = stmt.relation.relname
            for cmd in stmt.cmds:
                if cmd.subtype == enums.AlterTableType.AT_DropColumn:
                    found.append(f"drop column {table}.{cmd.name}")
                elif cmd.subtype == enums.AlterTableType.AT_AlterColumnType:
                    found.append(f"change the type of column {table}.{cmd.name}")
        elif kind == "RenameStmt" and stmt.relation is not None and stmt.relation.relname in protected:
            table = stmt.relation.relname
            if stmt.renameType == enums.ObjectType.OBJECT_TABLE:
                found.append(f"rename table {table} away")
            elif stmt.renameType == enums.ObjectType.OBJECT_COLUMN:
                found.append(f"rename column {table}.{stmt.subname} away")
        elif kind == "IndexStmt" and not stmt.concurrent and stmt.relation.relname in large_tables:
            table = stmt.relation.relname
            found.append(f"build index {stmt.idxname or ''} without CONCURRENTLY on {table} (~{large_tables[table]:,} rows)")
        elif kind in ("DoStmt", "CreateFunctionStmt"):
            # Procedural bodies are opaque strings to the parser: read their text instead.
            end = raw.stmt_location + raw.stmt_len if raw.stmt_len else len(sql)
            body = sql[raw.stmt_location : end]
            for table in sorted(protected):
                if re.search(rf"\b{re.escape(table)}\b", body, re.IGNORECASE):
                    found.append(f"run a procedural block that touches {table}")
    return found
