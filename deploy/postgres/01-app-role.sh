#!/bin/sh
# Runs once, when the database volume is new (docker-entrypoint-initdb.d). The superuser from
# POSTGRES_USER owns the tables and runs migrations (MIGRATION_DATABASE_URL); the app connects
# as nyxsync_app, which row-level security applies to (no SUPERUSER, no BYPASSRLS).
set -eu
psql -v ON_ERROR_STOP=1 -v app_password="$APP_DB_PASSWORD" --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<'SQL'
CREATE ROLE nyxsync_app LOGIN NOSUPERUSER NOBYPASSRLS PASSWORD :'app_password';
CREATE EXTENSION IF NOT EXISTS vector;
SQL
