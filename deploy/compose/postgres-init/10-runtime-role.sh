#!/bin/sh
# Runs once, when the data directory is first created (postgres image, docker-entrypoint-initdb.d).
# Creates the runtime role the gateways log in as; `privacy-router audit migrate --runtime-role`
# later grants it INSERT and SELECT on the audit table and nothing else.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    --set=pw="$AUDIT_RUNTIME_PASSWORD" <<'SQL'
CREATE ROLE privacy_router LOGIN PASSWORD :'pw' NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
SQL
