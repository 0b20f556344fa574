"""Embedding integrity reports: how many vectors there are and a checksum of their content.

A report has one entry ("scope") per
- model in embeddings_vector: the vectors of that model. Vectors are immutable and only ever
  appended, so a comparison looks only at the rows that existed when the first report was taken
  (id <= its watermark): new rows are not a change, a deleted or altered one is;
- other vector column anywhere in the schema (one added by hand, as in the incident that started
  nyxsync): all of its non-null values, compared exactly;
- project and model: the vectors of the project's live snapshots (its owner's: vectors belong to
  tenants) and how many of their chunks have none ("missing"). Syncs change these legitimately;
  a comparison fails only if more live chunks lack a vector than before.

Checksums are order-independent sums of md5 prefixes of each vector's binary form, computed in
the database without moving vectors to Python.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from django.db import connections

REPORT_VERSION = 1
_SEND = {"vector": "vector_send", "halfvec": "halfvec_send", "sparsevec": "sparsevec_send"}
# Sum of the first 60 bits of md5(row) over all rows, as text; numeric so it cannot overflow.
_CHECKSUM = "coalesce(sum(('x' || substr(md5({row}), 1, 15))::bit(60)::bigint), 0)::text"


@dataclass
class Scope:
    kind: str  # "model" | "column" | "project"
    key: str  # model name, "table.column", or project uuid
    label: str  # what a person reads
    model: str
    vectors: int
    checksum: str
    missing: int = 0
    watermark: int | None = None  # "model" scopes: the highest vector id counted

    @property
    def ident(self) -> tuple[str, str, str]:
        return (self.kind, self.key, self.model)


def vector_columns(using: str = "default") -> list[tuple[str, str, str]]:
    """(table, column, type) of every vector-typed column in the current schema."""
    with connections[using].cursor() as cursor:
        cursor.execute(
            """
            SELECT c.relname, a.attname, t.typname
            FROM pg_attribute a
            JOIN pg_class c ON c.oid = a.attrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace
            JOIN pg_type t ON t.oid = a.atttypid
            WHERE t.typname IN ('vector', 'halfvec', 'sparsevec')
              AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
              AND n.nspname = current_schema()
            ORDER BY 1, 2
            """
        )
        return cursor.fetchall()


def _tables(using: str) -> set[str]:
    return set(connections[using].introspection.table_names())


def take_report(using: str = "default", *, watermarks: dict[str, int] | None = None) -> list[Scope]:
    """The report of the database now. `watermarks` (model name -> vector id) limits each model
    scope to the rows that existed then, for a comparison with an earlier report."""
    if "embeddings_vector" not in _tables(using):
        return []  # nothing migrated yet
    columns = vector_columns(using)
    # The column itself may be gone (a destructive migration let through): then it has no vectors.
    has_vectors = any((table, column) == ("embeddings_vector", "embedding") for table, column, _ in columns)
    scopes = _model_scopes(using, watermarks, has_vectors)
    scopes += _column_scopes(using, columns)
    scopes += _project_scopes(using, has_vectors, _has_tenants(using))
    return scopes


def project_report(*, projects, using: str = "default") -> list[Scope]:
    """The "project" scopes of `projects` only (the admin's check of a few projects): their
    live snapshots' vectors and chunks missing one, read for those projects alone."""
    ids = [project.pk for project in projects]
    if not ids or "embeddings_vector" not in _tables(using):
        return []
    has_vectors = any((table, column) == ("embeddings_vector", "embedding") for table, column, _ in vector_columns(using))
    return _project_scopes(using, has_vectors, _has_tenants(using), project_ids=ids)


def _has_tenants(using: str) -> bool:
    """Whether vectors are keyed by tenant yet (migration embeddings.0008): a report taken by
    `migrate` before it ran reads the schema of before."""
    with connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() "
            "AND table_name = 'embeddings_vector' AND column_name = 'tenant_id'"
        )
        return cursor.fetchone() is not None


_VECTOR_ROW = "convert_to(v.content_hash, 'UTF8') || vector_send(v.embedding)"


def _model_scopes(using: str, watermarks: dict[str, int] | None, has_vectors: bool) -> list[Scope]:
    if not has_vectors:
        with connections[using].cursor() as cursor:
            cursor.execute("SELECT name FROM embeddings_embeddingmodel ORDER BY name")
            return [Scope("model", name, f"model {name}", name, 0, "0") for (name,) in cursor.fetchall()]
    with connections[using].cursor() as cursor:
        cursor.execute(
            f"""
            SELECT m.name, count(v.embedding), {_CHECKSUM.format(row=_VECTOR_ROW)}, coalesce(max(v.id), 0)
            FROM embeddings_embeddingmodel m
            LEFT JOIN embeddings_vector v ON v.model_id = m.id AND v.id <= coalesce(%s::jsonb ->> m.name, '9223372036854775807')::bigint
            GROUP BY m.name ORDER BY m.name
            """,
            [json.dumps(watermarks or {})],
        )
        return [
            Scope("model", name, f"model {name}", name, count, checksum, watermark=watermark)
            for name, count, checksum, watermark in cursor.fetchall()
        ]


def _column_scopes(using: str, columns: list[tuple[str, str, str]]) -> list[Scope]:
    scopes = []
    connection = connections[using]
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        for table, column, typname in columns:
            if (table, column) == ("embeddings_vector", "embedding"):
                continue
            send = f"{_SEND[typname]}({quote(column)})"
            cursor.execute(
                f"SELECT count({quote(column)}), {_CHECKSUM.format(row=send)} FROM {quote(table)} "
                f"WHERE {quote(column)} IS NOT NULL"
            )
            count, checksum = cursor.fetchone()
            name = f"{table}.{column}"
            scopes.append(Scope("column", name, f"column {name}", "", count, checksum))
    return scopes


def _project_scopes(using: str, has_vectors: bool, has_tenants: bool, *, project_ids: list[int] | None = None) -> list[Scope]:
    from embeddings.snapshot import LIVE_FILE_SQL

    checksum = _CHECKSUM.format(row=_VECTOR_ROW) if has_vectors else "'0'"
    # A project's chunks are served by its owner's vectors (embeddings.vectors); before tenants,
    # by the one vector of each hash.
    tenant = "AND v.tenant_id = p.owner_id" if has_tenants else ""
    vector_join = (
        f"LEFT JOIN embeddings_vector v ON v.model_id = m.id AND v.content_hash = live.content_hash {tenant}"
        if has_vectors
        else "LEFT JOIN (SELECT NULL::vector AS embedding) v ON false"
    )
    with connections[using].cursor() as cursor:
        cursor.execute(
            f"""
            WITH live AS (
                SELECT DISTINCT ps.project_id, ps.embedding_model, c.content_hash
                FROM project_syncs ps
                JOIN embeddings_sourcefile f ON f.project_sync_id = ps.id AND {LIVE_FILE_SQL}
                JOIN embeddings_chunk c ON c.file_id = f.id
                WHERE %(all)s OR ps.project_id = ANY(%(ids)s)
            )
            SELECT p.uuid::text, u.username || '/' || p.name, live.embedding_model,
                   count(v.embedding), count(*) - count(v.embedding), {checksum}
            FROM live
            JOIN projects_project p ON p.id = live.project_id
            JOIN auth_user u ON u.id = p.owner_id
            LEFT JOIN embeddings_embeddingmodel m ON m.name = live.embedding_model
            {vector_join}
            GROUP BY 1, 2, 3 ORDER BY 2, 3
            """,
            {"all": project_ids is None, "ids": project_ids or []},
        )
        return [
            Scope("project", key, f"project {label}", model, count, checksum, missing=missing)
            for key, label, model, count, missing, checksum in cursor.fetchall()
        ]


def compare(before: list[Scope], after: list[Scope]) -> list[str]:
    """What was lost or changed between two reports, one short phrase each (empty: nothing)."""
    now = {scope.ident: scope for scope in after}
    problems = []
    for old in before:
        new = now.get(old.ident)
        if old.kind == "project":
            missing_now = new.missing if new else 0
            if missing_now > old.missing:
                problems.append(f"{old.label} ({old.model}): {missing_now - old.missing} live chunks lost their vectors")
            continue
        if new is None:
            if old.vectors:
                problems.append(f"{old.label}: gone ({old.vectors} vectors)")
        elif new.vectors != old.vectors:
            problems.append(f"{old.label}: {old.vectors} -> {new.vectors} vectors")
        elif new.checksum != old.checksum:
            problems.append(f"{old.label}: checksum changed ({old.vectors} vectors)")
    return problems


def verify_against(before: list[Scope], using: str = "default") -> list[str]:
    """Compare `before` with the database now, counting only vectors that existed then."""
    watermarks = {scope.model: scope.watermark for scope in before if scope.kind == "model"}
    return compare(before, take_report(using, watermarks=watermarks))


def save_report(scopes: list[Scope], path: Path) -> None:
    path.write_text(json.dumps({"version": REPORT_VERSION, "scopes": [asdict(s) for s in scopes]}, indent=2))


class ReportFileError(Exception):
    pass


def load_report(path: Path) -> list[Scope]:
    try:
        data = json.loads(path.read_text())
        if data.get("version") != REPORT_VERSION:
            raise ReportFileError(f"{path}: not a check_embeddings report (version {data.get('version')!r})")
        return [Scope(**entry) for entry in data["scopes"]]
    except OSError as exc:
        raise ReportFileError(f"{path}: {exc.strerror}") from exc
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ReportFileError(f"{path}: not a check_embeddings report ({exc})") from exc


def holds_vectors(using: str = "default") -> bool:
    """Whether any vector column of the database has a value (flush refuses to empty those)."""
    connection = connections[using]
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        for table, column, _ in vector_columns(using):
            cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {quote(table)} WHERE {quote(column)} IS NOT NULL)")
            if cursor.fetchone()[0]:
                return True
    return False
