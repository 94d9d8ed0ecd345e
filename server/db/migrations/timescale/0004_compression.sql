-- migrate: requires-timescale-license
-- Compress chunks older than seven days. Segment by the columns the queries filter on; segmentby plus orderby
-- cover the primary key (device_id, seq, ts), which keeps ON CONFLICT DO NOTHING of late replays efficient on
-- compressed chunks (TimescaleDB >= 2.11) and avoids the "should be used for segmenting or ordering" warning.
-- This is the compression API that 2.18 calls "old" (columnstore); it remains supported.
ALTER TABLE occupancy_reading SET (
    timescaledb.compress,
    timescaledb.compress_segmentby = 'site_id, space_id, device_id',
    timescaledb.compress_orderby = 'ts DESC, seq DESC'
);

SELECT add_compression_policy('occupancy_reading', compress_after => INTERVAL '7 days', if_not_exists => true);
