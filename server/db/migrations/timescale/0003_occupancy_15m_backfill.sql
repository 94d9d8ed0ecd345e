-- migrate: requires-timescale-license
-- migrate: no-transaction
-- Materialise the rows that existed before the aggregate (moved in by create_hypertable's migrate_data). The
-- policy only refreshes the last three days, and the retention policy later drops the raw rows, so without this
-- the older history would be lost from the rollup. refresh_continuous_aggregate cannot run inside a transaction
-- block (timescale/timescaledb#2876), hence no-transaction and a single statement.
CALL refresh_continuous_aggregate('occupancy_15m', NULL, NULL);
