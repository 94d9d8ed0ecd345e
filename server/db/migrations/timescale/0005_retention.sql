-- migrate: requires-timescale-license
-- Keep raw readings 180 days. The continuous aggregate occupancy_15m keeps its buckets after the raw rows are
-- dropped: its refresh window (three days) never reaches back that far.
SELECT add_retention_policy('occupancy_reading', drop_after => INTERVAL '180 days', if_not_exists => true);
