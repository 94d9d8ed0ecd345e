-- How deep each site's edge outbox was, as its agent sampled it (devices/outbox_report.py; every 30 s by default,
-- SC_EDGE_OUTBOX_REPORT_INTERVAL_S), for the "edge outbox depth per site" panel: the depth, the age of the oldest
-- envelope waiting and the telemetry dropped while the outbox was full. Samples taken while the uplink was down
-- arrive after it comes back, with their own ts, so the graph shows the backlog growing and draining.
--
-- Runs on plain PostgreSQL and on top of the TimescaleDB layer alike, and is a plain table in both worlds: one row
-- per site every interval is about 2,900 rows a day per site, where a hypertable's chunks buy nothing (the
-- timescale/ files leave this table alone). Keyed by (site_id, ts), so a replayed or retained copy inserts nothing.
CREATE TABLE edge_outbox_sample (
    site_id           text             NOT NULL,
    ts                timestamptz      NOT NULL,    -- when the agent sampled its outbox, by the agent's clock (UTC)
    received_at       timestamptz      NOT NULL,    -- when the server took the message
    depth             integer          NOT NULL CHECK (depth >= 0),          -- envelopes waiting for confirmation
    oldest_age_s      double precision CHECK (oldest_age_s >= 0),           -- seconds; null when the outbox is empty
    dropped_telemetry bigint           NOT NULL CHECK (dropped_telemetry >= 0),  -- cumulative, since the outbox began
    max_rows          integer          NOT NULL CHECK (max_rows > 0),       -- the outbox's bound, in envelopes
    PRIMARY KEY (site_id, ts)
);

-- The panel's query is "every site over the dashboard's time range": the primary key serves one site's range, and
-- this serves a range across all sites.
CREATE INDEX edge_outbox_sample_ts_idx ON edge_outbox_sample (ts);
