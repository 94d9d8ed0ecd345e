-- The site queues, as the centre's copy of what each site's edge agent decided (devices/queue_contract.py): the
-- agent is the one issuer and caller of its site's tickets, online or not, and sends every change as a queue.v1
-- event from device '_agent'. Plain tables in both worlds: a busy hall makes a few thousand events a day.

-- Every queue event as the agent sent it: "everything a window does is stored", for dashboards and reports. seq is
-- the envelope's, numbered by the site agent's outbox for its '_agent' sender: a replay inserts nothing.
CREATE TABLE queue_event (
    site_id     text        NOT NULL,
    seq         bigint      NOT NULL,
    kind        text        NOT NULL CHECK (kind IN ('issued', 'called', 'recalled', 'no_show', 'transferred', 'done',
                                                     'cancelled', 'expired', 'window_opened', 'window_closed')),
    at          timestamptz NOT NULL,                -- the queue's clock (simulated in a demo)
    ts          timestamptz NOT NULL,                -- the edge's wall clock when it sent it
    received_at timestamptz NOT NULL,                -- when the server took it
    day         date,                                -- the ticket's local day and number (null: window events)
    number      text,
    service_id  text,
    window_id   text,
    ticket      jsonb CHECK (ticket IS NULL OR jsonb_typeof(ticket) = 'object'),  -- TicketView after the event
    PRIMARY KEY (site_id, seq)
);
CREATE INDEX queue_event_site_at_idx ON queue_event (site_id, at DESC);
CREATE INDEX queue_event_ticket_idx ON queue_event (site_id, day, number);

-- Each ticket as it stands: the newest TicketView the agent sent for it (by seq, so a late replay of an older
-- event never turns the clock back).
CREATE TABLE queue_ticket (
    site_id         text        NOT NULL,
    day             date        NOT NULL,            -- the site's local date the number belongs to
    number          text        NOT NULL,            -- "A017"
    prefix          text        NOT NULL,
    running_number  integer     NOT NULL CHECK (running_number BETWEEN 1 AND 9999),
    service_id      text        NOT NULL,
    source          text        NOT NULL CHECK (source IN ('dispenser', 'api', 'appointment', 'staff')),
    priority        boolean     NOT NULL,
    status          text        NOT NULL CHECK (status IN ('waiting', 'called', 'done', 'no_show', 'cancelled',
                                                           'expired')),
    issued_at       timestamptz NOT NULL,
    order_at        timestamptz NOT NULL,
    appointment_at  timestamptz,
    request_id      text,
    device_id       text,
    waiting_ahead   integer     NOT NULL,
    shown_wait_lo_s integer,                         -- the range shown when it was issued (null: no estimate)
    shown_wait_hi_s integer,
    window_id       text,
    called_at       timestamptz,
    recalls         integer     NOT NULL DEFAULT 0,
    finished_at     timestamptz,
    last_seq        bigint      NOT NULL,            -- queue_event.seq of the newest event applied
    PRIMARY KEY (site_id, day, number)
);
CREATE INDEX queue_ticket_waiting_idx ON queue_ticket (site_id, service_id, order_at) WHERE status = 'waiting';
CREATE UNIQUE INDEX queue_ticket_request_idx ON queue_ticket (site_id, request_id) WHERE request_id IS NOT NULL;

-- The newest board of each site (windows and services after its newest event): what the displays show.
CREATE TABLE queue_board (
    site_id     text        PRIMARY KEY,
    seq         bigint      NOT NULL,
    at          timestamptz NOT NULL,
    windows     jsonb       NOT NULL CHECK (jsonb_typeof(windows) = 'array'),
    services    jsonb       NOT NULL CHECK (jsonb_typeof(services) = 'array'),
    received_at timestamptz NOT NULL
);
