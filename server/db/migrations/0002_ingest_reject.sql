-- Messages the ingest could not store (bad topic, unknown device, invalid envelope, ...), one row each, so that a
-- misbehaving device is visible and its payload can be looked at. Only the first 1024 bytes are kept.
CREATE TABLE ingest_reject (
    id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    received_at  timestamptz NOT NULL,
    topic        text        NOT NULL,
    reason       text        NOT NULL,
    detail       text        NOT NULL DEFAULT '',
    payload_head bytea       NOT NULL CHECK (octet_length(payload_head) <= 1024),
    payload_size integer     NOT NULL CHECK (payload_size >= 0)
);

CREATE INDEX ingest_reject_received_at_idx ON ingest_reject (received_at);
