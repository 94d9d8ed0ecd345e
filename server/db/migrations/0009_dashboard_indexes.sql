-- Indexes the Grafana panels need at 90 days of history (bench/dashboard_queries.py measured them):
--
-- - On plain PostgreSQL, occupancy_15m is a view grouping readings by date_bin(...): a panel's time filter on its
--   bucket reaches occupancy_reading as a filter on that expression, which neither the BRIN index nor the btree on
--   ts can serve, so every such panel read the whole table. An index on the expression itself serves it. With
--   TimescaleDB (available to this server) occupancy_15m is a continuous aggregate instead (timescale/0002), and
--   the index would only cost the ingest: it is not made there.
-- - The ingest-rate panel counts what arrived in a range, by received_at: a BRIN index (rows arrive in about
--   received_at order, so it is a few pages) instead of a scan.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_available_extensions WHERE name = 'timescaledb') THEN
        -- The expression must be occupancy_15m's exactly (0001_occupancy.sql) for the planner to match it.
        CREATE INDEX occupancy_reading_bucket_15m_idx
            ON occupancy_reading (date_bin(INTERVAL '15 minutes', ts, TIMESTAMPTZ '2000-01-03 00:00:00+00'));
    END IF;
END;
$$;

CREATE INDEX occupancy_reading_received_at_brin ON occupancy_reading USING brin (received_at);
CREATE INDEX device_event_received_at_brin ON device_event USING brin (received_at);
CREATE INDEX queue_event_received_at_brin ON queue_event USING brin (received_at);
