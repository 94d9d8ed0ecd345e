-- Hypertables belong to TimescaleDB's Apache-2 core, so this step runs on every TimescaleDB build.
-- by_range() is the dimension API of TimescaleDB >= 2.13. Seven-day chunks (TimescaleDB's default): the
-- latest-occupancy lookup has no time bound and visits every chunk, so fewer chunks keep it cheap, and a week
-- of readings at the expected rate (about 100 000 rows a day) is a small chunk.
-- Our own indexes (composite btree + BRIN on ts) cover the queries, so the default ts btree is not created.
CREATE EXTENSION IF NOT EXISTS timescaledb;

SELECT create_hypertable(
    'occupancy_reading',
    by_range('ts', INTERVAL '7 days'),
    create_default_indexes => false,
    if_not_exists => true,
    migrate_data => true
);
