-- grafana_reader: the role Grafana's data source logs in as (dashboards/provisioning/datasources/smartcomplex.yaml).
-- It may SELECT every table and view of schema public except the secret ones, and change nothing. It is created
-- NOLOGIN; `smartcomplex db reader-password` gives it its password and LOGIN.
--
-- The grants are made by a function rather than once by this file or by ALTER DEFAULT PRIVILEGES:
-- - relations come later (new migrations; on TimescaleDB, timescale/0002 replaces the view occupancy_15m with a
--   continuous aggregate, after this file has run), and server/db/migrate.py calls the function again after every
--   run that applied something, so whatever exists after a run is covered, whoever created it;
-- - default privileges apply only to objects the role named in them creates, would grant a future secret table
--   at once, and cannot be seen in \dp; the function states its deny list here and can be run again by hand
--   (SELECT grant_grafana_reader()) to repair drift.
-- A later migration adding a secret table must CREATE OR REPLACE this function with the table in its deny list.
--
-- Roles are cluster-wide while this runs once per database, and many databases may migrate at once: creating the
-- role tolerates losing that race. The settings are per database (ALTER ROLE ... IN DATABASE) so that a heavy
-- dashboard cannot hold locks or a connection for long against the ingest; read-only is only a default the
-- session could change, the privileges are what keeps the role from writing.
CREATE OR REPLACE FUNCTION grant_grafana_reader(reader name DEFAULT 'grafana_reader') RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
DECLARE
    -- account: password hashes; api_token: token hashes; notice: one-step action tokens; schema_migration: ours.
    secret CONSTANT text[] := ARRAY['account', 'api_token', 'notice', 'schema_migration'];
    reader_oid oid;
    relation record;
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = reader) THEN
        BEGIN
            EXECUTE format('CREATE ROLE %I NOLOGIN', reader);
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;  -- another database's migration created it between our check and our CREATE
        END;
    END IF;
    reader_oid := (SELECT oid FROM pg_roles WHERE rolname = reader);

    EXECUTE format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), reader);
    EXECUTE format('GRANT USAGE ON SCHEMA public TO %I', reader);
    EXECUTE format('ALTER ROLE %I IN DATABASE %I SET default_transaction_read_only = on', reader, current_database());
    EXECUTE format('ALTER ROLE %I IN DATABASE %I SET statement_timeout = %L', reader, current_database(), '30s');

    -- Tables, partitioned tables, views, materialized views and foreign tables; TimescaleDB's continuous aggregate
    -- occupancy_15m is a view in public. held: the privileges granted to the reader itself, so a relation already
    -- right is left alone (no catalogue churn on every run).
    FOR relation IN
        SELECT c.oid::regclass AS name,
               c.relname = ANY (secret) AS is_secret,
               coalesce((SELECT array_agg(DISTINCT acl.privilege_type ORDER BY acl.privilege_type)
                           FROM aclexplode(c.relacl) AS acl
                          WHERE acl.grantee = reader_oid), '{}') AS held
          FROM pg_class AS c
         WHERE c.relnamespace = 'public'::regnamespace
           AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
    LOOP
        IF relation.is_secret AND relation.held <> '{}' THEN
            EXECUTE format('REVOKE ALL ON TABLE %s FROM %I', relation.name, reader);
        ELSIF NOT relation.is_secret AND relation.held <> ARRAY['SELECT'] THEN
            EXECUTE format('REVOKE ALL ON TABLE %s FROM %I', relation.name, reader);
            EXECUTE format('GRANT SELECT ON TABLE %s TO %I', relation.name, reader);
        END IF;
    END LOOP;

    -- TimescaleDB: a continuous aggregate keeps its rows in a hypertable of _timescaledb_internal. Selecting the view
    -- reads it with the view owner's rights, and TimescaleDB passes a GRANT on the view on to it; granting it here
    -- as well keeps the rollup readable should either ever not hold. Dynamic SQL: plain PostgreSQL has no such view.
    IF to_regclass('timescaledb_information.continuous_aggregates') IS NOT NULL THEN
        FOR relation IN EXECUTE
            'SELECT format(''%I.%I'', materialization_hypertable_schema, materialization_hypertable_name) AS name'
            '  FROM timescaledb_information.continuous_aggregates WHERE view_schema = ''public'''
        LOOP
            EXECUTE format('GRANT SELECT ON TABLE %s TO %I', relation.name, reader);
        END LOOP;
    END IF;
END;
$$;

-- Only the migration runner (the owner) calls it.
REVOKE EXECUTE ON FUNCTION grant_grafana_reader(name) FROM PUBLIC;

SELECT grant_grafana_reader();
