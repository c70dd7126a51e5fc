-- Two roles, so the processes that run all day cannot change the schema (psql script; the
-- compose file's PostgreSQL runs it once, at its first start, through postgres-init.sh).
-- orbweaver_owner owns the database and its schema: the migration job (`orbweaver db upgrade`)
-- connects as it. orbweaver_app reads and writes the rows of the tables the owner creates
-- (default privileges), nothing more: every role (`orbweaver run --roles X` with
-- ORBWEAVER_AUTO_MIGRATE=false) connects as it and waits, not ready, until the schema is current.
-- TRUNCATE is deliberately not granted (and refused on the append-only tables by trigger even
-- to the owner, see orbweaver.store.triggers). Variables: owner_password, app_password.
CREATE ROLE orbweaver_owner LOGIN PASSWORD :'owner_password';
CREATE ROLE orbweaver_app LOGIN PASSWORD :'app_password';
CREATE DATABASE orbweaver OWNER orbweaver_owner;
REVOKE ALL ON DATABASE orbweaver FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE orbweaver TO orbweaver_owner, orbweaver_app;
\connect orbweaver
ALTER SCHEMA public OWNER TO orbweaver_owner;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO orbweaver_app;
ALTER DEFAULT PRIVILEGES FOR ROLE orbweaver_owner IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO orbweaver_app;
ALTER DEFAULT PRIVILEGES FOR ROLE orbweaver_owner IN SCHEMA public
    GRANT USAGE, SELECT ON SEQUENCES TO orbweaver_app;
