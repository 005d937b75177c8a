-- Access control for a ClickHouse server (privacy rule P6: need to know). Not a migration: chDB
-- has no users or grants. docker/clickhouse/apply-roles.sh fills the password placeholders
-- from the environment (SQL-escaped) and runs this file as the admin user; the compose stack
-- runs it on every `up`, while workers may be running, so it is written to be applied again at
-- any time without taking anyone's rights away, even briefly:
-- - nothing is revoked or dropped, and nothing is created OR REPLACE (that would recreate it
--   empty); every CREATE is IF NOT EXISTS;
-- - each role's privileges are set by one GRANT ... WITH REPLACE OPTION. ClickHouse applies
--   that as a single update of the role (the new set replaces the old in one step), so a
--   session sees the old or the new privileges, never none; and a privilege removed from this
--   file is removed from the server on the next run;
-- - each user's role is set the same way (GRANT role TO user WITH REPLACE OPTION);
-- - the settings profile is changed with ALTER, one update, never dropped and recreated.
-- tests/integration/test_kpi_views.py parses every statement with ClickHouse's parser, checks
-- that the analyst role reaches no table or view with a personal column, and checks the rules
-- above on a model of applying the file twice.

CREATE DATABASE IF NOT EXISTS contactstream;

-- analyst: SELECT on the analyst views only (0004_analyst_views.sql; 0007 redefines four of them
-- with the same columns). Those views run with their definer's rights (SQL SECURITY DEFINER), so
-- no grant on contacts, contacts_merged, contact_events or the stored snapshot tables is needed,
-- and none is given.
CREATE ROLE IF NOT EXISTS analyst;
GRANT SELECT ON contactstream.analyst_contacts,
      SELECT ON contactstream.kpi_hourly,
      SELECT ON contactstream.kpi_daily,
      SELECT ON contactstream.kpi_service_level,
      SELECT ON contactstream.kpi_backlog
    TO analyst WITH REPLACE OPTION;

-- writer: the workers and `contactstream migrate`. Reads and writes every table of the database
-- (events, contacts, audit logs, the migration ledger), redacts with ALTER UPDATE, drops the
-- partitions of older analyst snapshots (ALTER DELETE covers DROP PARTITION), and creates the
-- tables and views of new migrations. Migrations replace views with CREATE OR REPLACE VIEW, which
-- needs DROP VIEW and, on ClickHouse 25.8, DROP TABLE on an internal temporary name in the same
-- database (ClickHouse issue #90919), hence on contactstream.*.
CREATE ROLE IF NOT EXISTS writer;
GRANT SELECT, INSERT, ALTER UPDATE, ALTER DELETE, CREATE DATABASE, CREATE TABLE, CREATE VIEW,
      DROP TABLE, DROP VIEW
    ON contactstream.* TO writer WITH REPLACE OPTION;

-- dpo: reads everything in the database, personal columns and audit tables included, to answer
-- data-subject requests and show that retention is enforced. Changes go through the workers.
CREATE ROLE IF NOT EXISTS dpo;
GRANT SELECT ON contactstream.* TO dpo WITH REPLACE OPTION;

-- Analysts' queries are read-only and bounded. readonly = 2 still lets clients set per-query
-- settings (Grafana's ClickHouse plugin sets max_execution_time), within the MAX constraints.
CREATE SETTINGS PROFILE IF NOT EXISTS analyst_profile;
ALTER SETTINGS PROFILE analyst_profile
    SETTINGS readonly = 2, max_execution_time = 120 MAX 600,
             max_memory_usage = 4000000000 MAX 8000000000;

CREATE USER IF NOT EXISTS analyst_user
    IDENTIFIED WITH sha256_password BY '${ANALYST_PASSWORD}' DEFAULT DATABASE contactstream;
ALTER USER analyst_user
    IDENTIFIED WITH sha256_password BY '${ANALYST_PASSWORD}' SETTINGS PROFILE 'analyst_profile';
GRANT analyst TO analyst_user WITH REPLACE OPTION;
ALTER USER analyst_user DEFAULT ROLE analyst;

CREATE USER IF NOT EXISTS worker_user
    IDENTIFIED WITH sha256_password BY '${WORKER_PASSWORD}' DEFAULT DATABASE contactstream;
ALTER USER worker_user IDENTIFIED WITH sha256_password BY '${WORKER_PASSWORD}';
GRANT writer TO worker_user WITH REPLACE OPTION;
ALTER USER worker_user DEFAULT ROLE writer;

CREATE USER IF NOT EXISTS dpo_user
    IDENTIFIED WITH sha256_password BY '${DPO_PASSWORD}' DEFAULT DATABASE contactstream;
ALTER USER dpo_user IDENTIFIED WITH sha256_password BY '${DPO_PASSWORD}';
GRANT dpo TO dpo_user WITH REPLACE OPTION;
ALTER USER dpo_user DEFAULT ROLE dpo;
