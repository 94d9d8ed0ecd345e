-- Accounts and tokens, bookable spaces' release policies, bookings (with the exclusion constraint that makes a
-- double booking impossible), recurring series, waitlists, the audit trail of every booking decision, notices to
-- people, occupied-but-unbooked use, and the release scheduler's deadlines. Plain tables in both worlds.
--
-- Times written by the server (created_at, released_at, at, due_at, ...) are the server's clock: the wall clock in
-- production, the scenario's simulated clock in a demo (server/clock.py). Readings keep the devices' wall times.

-- btree_gist lets one exclusion constraint compare text columns with = and ranges with &&. It ships with
-- PostgreSQL's contrib (Debian's postgresql-15, the TimescaleDB image).
CREATE EXTENSION IF NOT EXISTS btree_gist;

-- People and programs that use the API. A service identity (an edge agent, a room panel) is bound to one site.
CREATE TABLE account (
    id            bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    login         text        NOT NULL UNIQUE CHECK (login ~ '^[a-z0-9][a-z0-9._@-]{0,62}$'),
    display_name  text        NOT NULL CHECK (length(display_name) BETWEEN 1 AND 200),
    role          text        NOT NULL CHECK (role IN ('resident', 'organiser', 'staff', 'admin', 'service')),
    site_id       text,                              -- null: every site; required for a service identity
    password_hash text,                              -- "scrypt$n$r$p$salt$hash"; null: tokens only
    disabled      boolean     NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CHECK (role <> 'service' OR site_id IS NOT NULL)
);

-- Bearer tokens. Only a SHA-256 of each token is kept: a stolen copy of the table opens nothing.
CREATE TABLE api_token (
    token_hash bytea       PRIMARY KEY CHECK (length(token_hash) = 32),
    account_id bigint      NOT NULL REFERENCES account (id) ON DELETE CASCADE,
    label      text        NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz,                          -- null: until revoked (service identities)
    revoked_at timestamptz
);
CREATE INDEX api_token_account_idx ON api_token (account_id);

-- A bookable space's auto-release policy; a space with no row follows the defaults of server/domain/release.py.
-- Durations in seconds; null end_early_after_s / exempt_longer_than_s: that rule is off.
CREATE TABLE space_policy (
    site_id                  text        NOT NULL,
    space_id                 text        NOT NULL,
    mode                     text        NOT NULL CHECK (mode IN ('off', 'shadow', 'enforce')),
    grace_s                  integer     NOT NULL CHECK (grace_s BETWEEN 60 AND 7200),
    warn_after_s             integer     NOT NULL CHECK (warn_after_s >= 0),
    checkin_opens_s          integer     NOT NULL CHECK (checkin_opens_s BETWEEN 0 AND 7200),
    undo_window_s            integer     NOT NULL CHECK (undo_window_s BETWEEN 0 AND 7200),
    hold_s                   integer     NOT NULL CHECK (hold_s BETWEEN 60 AND 7200),
    end_early_after_s        integer     CHECK (end_early_after_s BETWEEN 60 AND 14400),
    exempt_longer_than_s     integer     CHECK (exempt_longer_than_s > 0),
    strikes_to_cancel_series integer     NOT NULL CHECK (strikes_to_cancel_series BETWEEN 0 AND 100),
    auto_book_unbooked       boolean     NOT NULL,
    release_without_sensor   boolean     NOT NULL,
    updated_at               timestamptz NOT NULL,
    updated_by               bigint      REFERENCES account (id),
    PRIMARY KEY (site_id, space_id),
    CHECK (warn_after_s < grace_s)
);

-- A recurring booking: its occurrences are booking rows with this series_id. strikes counts occurrences released
-- as no-shows in a row (a check-in resets it); at the policy's strikes_to_cancel_series the rest is cancelled.
CREATE TABLE booking_series (
    id            bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id       text        NOT NULL,
    space_id      text        NOT NULL,
    owner_id      bigint      NOT NULL REFERENCES account (id),
    created_by    bigint      NOT NULL REFERENCES account (id),
    rule          jsonb       NOT NULL CHECK (jsonb_typeof(rule) = 'object'),
    strikes       integer     NOT NULL DEFAULT 0 CHECK (strikes >= 0),
    created_at    timestamptz NOT NULL,
    cancelled_at  timestamptz,
    cancel_reason text        NOT NULL DEFAULT ''
);

-- One booking of one space for one time range. Statuses:
--   held        a waitlist offer: the slot is kept for its owner until hold_expires_at
--   confirmed   booked, nobody checked in yet
--   checked_in  somebody came (check_in_source says how)
--   released    given back by the release policy (undo may restore it)
--   ended       ended early: the room stood empty; upper(during) was moved to the end
--   cancelled   by its owner, by staff, or by a series' strikes
--   expired     a hold nobody accepted in time
--   withdrawn   a hold taken back because the released booking's people came after all
-- Only held, confirmed and checked_in bookings occupy their range: no two of those can overlap in one space, by
-- the exclusion constraint, whatever the number of concurrent requests.
CREATE TABLE booking (
    id               bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id          text        NOT NULL,
    space_id         text        NOT NULL,
    during           tstzrange   NOT NULL CHECK (
                         NOT isempty(during) AND NOT lower_inf(during) AND NOT upper_inf(during)
                         AND lower_inc(during) AND NOT upper_inc(during)),
    owner_id         bigint      NOT NULL REFERENCES account (id),
    created_by       bigint      NOT NULL REFERENCES account (id),
    title            text        NOT NULL DEFAULT '' CHECK (length(title) <= 200),
    attendees        integer     NOT NULL CHECK (attendees >= 1),
    status           text        NOT NULL CHECK (status IN (
                         'held', 'confirmed', 'checked_in', 'released', 'ended', 'cancelled', 'expired', 'withdrawn')),
    series_id        bigint      REFERENCES booking_series (id),
    external_ref     text        CHECK (length(external_ref) BETWEEN 1 AND 200),
    created_at       timestamptz NOT NULL,
    confirmed_at     timestamptz,                    -- booked, or a hold accepted: grace counts from max(start, this)
    checked_in_at    timestamptz,
    check_in_source  text        CHECK (check_in_source IN ('api', 'panel', 'qr', 'sensor', 'badge', 'auto')),
    warned_at        timestamptz,
    kept_at          timestamptz,                    -- the organiser said "keep it": never auto-released
    released_at      timestamptz,
    ended_at         timestamptz,
    cancelled_at     timestamptz,
    hold_expires_at  timestamptz,
    waitlist_id      bigint,                         -- the waitlist entry a hold was offered to
    released_from    bigint      REFERENCES booking (id),  -- a hold: the released booking whose slot it offers
    shadow_release_at timestamptz,                   -- shadow mode: when the policy would have released it
    shadow_false_at  timestamptz,                    -- shadow mode: people came after that: a false release
    updated_at       timestamptz NOT NULL,
    CHECK (status <> 'held' OR hold_expires_at IS NOT NULL),
    CONSTRAINT booking_no_overlap EXCLUDE USING gist (site_id WITH =, space_id WITH =, during WITH &&)
        WHERE (status IN ('held', 'confirmed', 'checked_in'))
);
-- A client's own reference for a booking (the scenario puts its truth id there): one booking per owner and ref.
CREATE UNIQUE INDEX booking_owner_ref_idx ON booking (owner_id, external_ref) WHERE external_ref IS NOT NULL;
CREATE INDEX booking_space_during_idx ON booking USING gist (site_id, space_id, during);
CREATE INDEX booking_owner_start_idx ON booking (owner_id, lower(during));
CREATE INDEX booking_series_idx ON booking (series_id) WHERE series_id IS NOT NULL;

-- Somebody who wants a space for a time range that was taken. When a booking overlapping it is released, the
-- first waiting entry (by created_at) is offered the freed part as a hold.
CREATE TABLE waitlist_entry (
    id                 bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id            text        NOT NULL,
    space_id           text        NOT NULL,
    account_id         bigint      NOT NULL REFERENCES account (id),
    created_by         bigint      NOT NULL REFERENCES account (id),
    wanted             tstzrange   NOT NULL CHECK (NOT isempty(wanted)),
    min_minutes        integer     NOT NULL DEFAULT 30 CHECK (min_minutes BETWEEN 5 AND 1440),
    attendees          integer     NOT NULL CHECK (attendees >= 1),
    status             text        NOT NULL CHECK (status IN ('waiting', 'offered', 'booked', 'expired', 'cancelled')),
    created_at         timestamptz NOT NULL,
    offered_booking_id bigint      REFERENCES booking (id),
    updated_at         timestamptz NOT NULL
);
CREATE INDEX waitlist_entry_waiting_idx ON waitlist_entry USING gist (site_id, space_id, wanted)
    WHERE status = 'waiting';
ALTER TABLE booking ADD CONSTRAINT booking_waitlist_fk FOREIGN KEY (waitlist_id) REFERENCES waitlist_entry (id);

-- The audit trail: every change to a booking and every decision of the release policy, with its evidence
-- (readings, badge-ins, timers, notices) as JSON. actor_id null: the system (the release scheduler);
-- on_behalf_of: the account a member of staff or an administrator acted for. mode 'shadow': a decision the
-- policy would have taken (nothing was done).
CREATE TABLE booking_event (
    id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at           timestamptz NOT NULL,
    site_id      text        NOT NULL,
    space_id     text        NOT NULL,
    booking_id   bigint      REFERENCES booking (id),
    kind         text        NOT NULL CHECK (kind ~ '^[a-z_]{1,40}$'),
    actor_id     bigint      REFERENCES account (id),
    on_behalf_of bigint      REFERENCES account (id),
    mode         text        NOT NULL DEFAULT 'enforce' CHECK (mode IN ('enforce', 'shadow')),
    detail       text        NOT NULL DEFAULT '',
    evidence     jsonb       NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(evidence) = 'object')
);
CREATE INDEX booking_event_booking_idx ON booking_event (booking_id, at);
CREATE INDEX booking_event_space_at_idx ON booking_event (site_id, space_id, at);
CREATE INDEX booking_event_kind_at_idx ON booking_event (kind, at);

-- Messages to an account (the organiser's warning with its one-step "keep it", a waitlist offer to accept).
-- action_token_hash: SHA-256 of the one-step link's token, which works without logging in, once, until
-- action_expires_at.
CREATE TABLE notice (
    id                bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id        bigint      NOT NULL REFERENCES account (id),
    at                timestamptz NOT NULL,
    kind              text        NOT NULL CHECK (kind ~ '^[a-z_]{1,40}$'),
    booking_id        bigint      REFERENCES booking (id),
    text              text        NOT NULL,
    action            text        CHECK (action IN ('keep', 'accept')),
    action_token_hash bytea       UNIQUE CHECK (length(action_token_hash) = 32),
    action_expires_at timestamptz,
    acted_at          timestamptz,
    read_at           timestamptz
);
CREATE INDEX notice_account_idx ON notice (account_id, at DESC);

-- A bookable space occupied with no booking covering the time. booking_id: the booking made for it when the
-- space's policy auto-books such use.
CREATE TABLE unbooked_use (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id     text        NOT NULL,
    space_id    text        NOT NULL,
    started_at  timestamptz NOT NULL,
    ended_at    timestamptz,
    peak_people integer     NOT NULL DEFAULT 0,
    booking_id  bigint      REFERENCES booking (id),
    evidence    jsonb       NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(evidence) = 'object')
);
CREATE UNIQUE INDEX unbooked_use_open_idx ON unbooked_use (site_id, space_id) WHERE ended_at IS NULL;

-- The release scheduler's deadlines: one row per bookable space, evaluated when due_at has passed. Any number of
-- server replicas run the scheduler; each claims due rows with FOR UPDATE SKIP LOCKED, so a space is evaluated by
-- one of them at a time, and a deadline survives any restart. Booking changes pull due_at forward.
CREATE TABLE room_schedule (
    site_id     text        NOT NULL,
    space_id    text        NOT NULL,
    due_at      timestamptz NOT NULL,
    last_run_at timestamptz,
    last_run_by text,
    PRIMARY KEY (site_id, space_id)
);
CREATE INDEX room_schedule_due_idx ON room_schedule (due_at);
