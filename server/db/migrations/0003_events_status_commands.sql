-- Every envelope kind besides occupancy, the devices' latest health and its changes, and commands with their
-- results. Runs on plain PostgreSQL and on top of the TimescaleDB layer alike. These are plain tables in both
-- worlds: events come at a few thousand a day per site (door, ticket and terminal presses), where a hypertable's
-- chunks buy nothing until a retention policy is decided for them (access events carry card numbers).

-- Events as the edge sent them: access.v1, door.v1, ticket_request.v1, terminal.v1 and command_result.v1
-- (devices/events.py). kind is the schema's name without its version ("access", "command_result"); data is the
-- envelope's data object, already validated against the schema. Keyed like occupancy_reading, so a replay inserts
-- nothing: a device numbers all its envelopes in one sequence, whatever their kind.
CREATE TABLE device_event (
    device_id   text        NOT NULL,
    seq         bigint      NOT NULL,
    ts          timestamptz NOT NULL,                -- when the device observed it (UTC)
    received_at timestamptz NOT NULL,                -- when the server took the message
    site_id     text        NOT NULL,
    space_id    text        NOT NULL,                -- the space the device was mapped to when it reported
    kind        text        NOT NULL,
    data        jsonb       NOT NULL CHECK (jsonb_typeof(data) = 'object'),
    PRIMARY KEY (device_id, seq, ts)
);

-- "Door events of this site last night", "tickets requested today": one kind of one site over a time range.
CREATE INDEX device_event_site_kind_ts_idx ON device_event (site_id, kind, ts DESC);

-- The newest health of each device (and of each site's edge agent, device_id '_agent') as the edge last
-- reported it on <root>/v1/<site>/<device>/status. Keyed by site too: every site has its own '_agent'.
CREATE TABLE device_status (
    site_id     text        NOT NULL,
    device_id   text        NOT NULL,
    state       text        NOT NULL CHECK (state IN ('online', 'stale', 'offline', 'lost')),
    since       timestamptz,                         -- when it entered this state, by the edge's clock
    last_seen   timestamptz,                         -- its last good read or message (null: never)
    detail      text        NOT NULL DEFAULT '',
    reported_at timestamptz,                         -- when the edge published the report (null: agent status)
    received_at timestamptz NOT NULL,                -- when the server took it
    PRIMARY KEY (site_id, device_id)
);

-- One row each time a device's state changes (its first report included, with previous_state null), so that
-- Grafana can show when devices went quiet and for how long. changed_at is the report's since, or when it was
-- reported or received when the report has no since.
CREATE TABLE device_status_change (
    id             bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id        text        NOT NULL,
    device_id      text        NOT NULL,
    state          text        NOT NULL CHECK (state IN ('online', 'stale', 'offline', 'lost')),
    previous_state text        CHECK (previous_state IN ('online', 'stale', 'offline', 'lost')),
    changed_at     timestamptz NOT NULL,
    detail         text        NOT NULL DEFAULT '',
    received_at    timestamptz NOT NULL
);

CREATE INDEX device_status_change_device_idx ON device_status_change (site_id, device_id, changed_at DESC);
CREATE INDEX device_status_change_changed_at_idx ON device_status_change (changed_at);

-- Commands the server issued (devices/commands.py) and what became of them. 'sent' until the edge answers
-- (done, failed, rejected, expired: command_result.v1); 'unanswered' once it is past expires_at (plus a grace for
-- the answer to travel) with no answer. A late answer still replaces 'unanswered': it is what happened.
CREATE TABLE device_command (
    command_id  text        PRIMARY KEY CHECK (command_id ~ '^[A-Za-z0-9_-]{1,64}$'),
    site_id     text        NOT NULL,
    device_id   text        NOT NULL,
    action      text        NOT NULL,
    args        jsonb       NOT NULL CHECK (jsonb_typeof(args) = 'object'),
    issued_at   timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL CHECK (expires_at > issued_at),
    status      text        NOT NULL DEFAULT 'sent'
                            CHECK (status IN ('sent', 'done', 'failed', 'rejected', 'expired', 'unanswered')),
    detail      text        NOT NULL DEFAULT '',
    result_data jsonb       CHECK (result_data IS NULL OR jsonb_typeof(result_data) = 'object'),
    answered_at timestamptz,                         -- the answer's ts (the edge's clock); null until answered
    CHECK ((answered_at IS NULL) = (status IN ('sent', 'unanswered')))
);

-- A device's command history, newest first; and the open commands that may have to become 'unanswered'.
CREATE INDEX device_command_device_issued_idx ON device_command (site_id, device_id, issued_at DESC);
CREATE INDEX device_command_open_idx ON device_command (expires_at) WHERE status = 'sent';
