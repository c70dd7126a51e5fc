#!/bin/sh
# The compose file's PostgreSQL runs this once, at its first start (docker-entrypoint-initdb.d,
# as the superuser): the schema owner and the runtime role of postgres-roles.sql.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    -v owner_password="$OWNER_DB_PASSWORD" -v app_password="$APP_DB_PASSWORD" \
    -f /orbweaver/postgres-roles.sql
