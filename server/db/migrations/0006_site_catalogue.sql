-- The site file's catalogue in the database: names, floors, capacities, services and windows of every site, so
-- that Grafana and the reports (which talk to the database by SQL only) can name things, group spaces by floor and
-- compare headcounts with capacities. The server writes it from its site file when it starts, and
-- `smartcomplex db migrate` does when it runs (server/db/catalogue.py). Rows of things no longer in the site file
-- stay, marked in_site_file = false, so that old readings keep their names. Plain tables in both worlds.

CREATE TABLE site_catalogue (
    site_id      text        PRIMARY KEY,
    name         text        NOT NULL,
    address      text        NOT NULL,
    timezone     text        NOT NULL,               -- IANA key of the belt: opening hours and local reports
    in_site_file boolean     NOT NULL,
    synced_at    timestamptz NOT NULL
);

CREATE TABLE space_catalogue (
    site_id      text        NOT NULL,
    space_id     text        NOT NULL,
    name         text        NOT NULL,
    floor_id     text        NOT NULL,
    floor_name   text        NOT NULL,
    floor_level  integer     NOT NULL,
    kind         text        NOT NULL,
    capacity     integer     NOT NULL CHECK (capacity > 0),  -- people allowed at once (the site file's figure)
    bookable     boolean     NOT NULL,
    in_site_file boolean     NOT NULL,
    synced_at    timestamptz NOT NULL,
    PRIMARY KEY (site_id, space_id)
);

CREATE TABLE service_catalogue (
    site_id      text        NOT NULL,
    service_id   text        NOT NULL,
    name         text        NOT NULL,
    prefix       text        NOT NULL,
    in_site_file boolean     NOT NULL,
    synced_at    timestamptz NOT NULL,
    PRIMARY KEY (site_id, service_id)
);

CREATE TABLE window_catalogue (
    site_id      text        NOT NULL,
    window_id    text        NOT NULL,
    name         text        NOT NULL,
    space_id     text        NOT NULL,
    services     text[]      NOT NULL,
    in_site_file boolean     NOT NULL,
    synced_at    timestamptz NOT NULL,
    PRIMARY KEY (site_id, window_id)
);

CREATE TABLE device_catalogue (
    site_id           text        NOT NULL,
    device_id         text        NOT NULL,
    model             text        NOT NULL,
    space_id          text        NOT NULL,
    transport         text        NOT NULL,
    report_interval_s integer     NOT NULL CHECK (report_interval_s > 0),
    in_site_file      boolean     NOT NULL,
    synced_at         timestamptz NOT NULL,
    PRIMARY KEY (site_id, device_id)
);
