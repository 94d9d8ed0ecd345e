-- Occupancy readings exactly as the devices reported them.
-- The key is (device_id, seq, ts): every hop is at-least-once, so a replayed message must insert nothing. ts is
-- in the key because TimescaleDB requires the partitioning column in every unique constraint, and because a
-- device that restarts its seq after a reboot then still produces new keys.
CREATE TABLE occupancy_reading (
    device_id   text        NOT NULL,
    seq         bigint      NOT NULL,
    ts          timestamptz NOT NULL,                -- when the device measured (UTC)
    received_at timestamptz NOT NULL,                -- when the server took the message
    site_id     text        NOT NULL,
    space_id    text        NOT NULL,                -- the space the device was mapped to when it reported
    people      integer     NOT NULL CHECK (people >= 0),
    occupied    boolean     NOT NULL,
    regions     jsonb       NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(regions) = 'array'),
    PRIMARY KEY (device_id, seq, ts)
);

-- Newest readings of a space, and a space's history over a time range.
CREATE INDEX occupancy_reading_space_ts_idx ON occupancy_reading (site_id, space_id, ts DESC);
-- Newest reading of each device of a space: lets the latest-occupancy query walk the space's devices one index
-- probe each instead of reading the space's whole history (PostgreSQL 15 has no skip scan of its own).
CREATE INDEX occupancy_reading_space_device_ts_idx
    ON occupancy_reading (site_id, space_id, device_id, ts DESC, seq DESC);
-- Rows arrive roughly in ts order, so a BRIN index serves time-range scans at a tiny fraction of a btree's size.
CREATE INDEX occupancy_reading_ts_brin ON occupancy_reading USING brin (ts);

-- 15-minute rollup per space. On TimescaleDB the timescale layer replaces this view with a continuous aggregate
-- of the same name and columns, so the API, reports and Grafana query one name in both worlds: change the two
-- together. Origin 2000-01-03 00:00 UTC (a Monday) is time_bucket's default origin, so buckets line up exactly.
-- avg_people and max_people are over readings: with two sensors in one space they describe a single sensor's
-- count, not the space's total.
CREATE VIEW occupancy_15m AS
SELECT date_bin(INTERVAL '15 minutes', ts, TIMESTAMPTZ '2000-01-03 00:00:00+00') AS bucket,
       site_id,
       space_id,
       avg(people::double precision) AS avg_people,
       max(people) AS max_people,
       count(*) AS readings
  FROM occupancy_reading
 GROUP BY 1, site_id, space_id;
