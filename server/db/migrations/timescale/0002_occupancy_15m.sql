-- migrate: requires-timescale-license
-- Replace the plain view occupancy_15m (0001_occupancy.sql) with a continuous aggregate of the same name and
-- columns. materialized_only = false (real-time aggregation) answers buckets the policy has not materialised yet
-- from the raw rows, so the result equals the plain view's at any moment. WITH NO DATA: creating it WITH DATA
-- cannot run inside a transaction block; 0003 materialises the existing rows.
DROP VIEW IF EXISTS occupancy_15m;

CREATE MATERIALIZED VIEW occupancy_15m
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '15 minutes', ts) AS bucket,
       site_id,
       space_id,
       avg(people::double precision) AS avg_people,
       max(people) AS max_people,
       count(*) AS readings
  FROM occupancy_reading
 GROUP BY bucket, site_id, space_id
WITH NO DATA;

-- Every 15 minutes, re-materialise the last three days (late edge-outbox replays land there) up to the bucket
-- still being filled.
SELECT add_continuous_aggregate_policy(
    'occupancy_15m',
    start_offset => INTERVAL '3 days',
    end_offset => INTERVAL '15 minutes',
    schedule_interval => INTERVAL '15 minutes',
    if_not_exists => true
);
