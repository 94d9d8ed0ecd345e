"""Devices and pipeline: when each device was last seen, which went quiet, the edge agents' outbox depth, and
what the centre's ingest stored and rejected."""

from __future__ import annotations

from dashboards.grafana.spec import DashboardSpec, PanelSpec, RowSpec, Threshold, columns

_STEP = "make_interval(secs => greatest($__interval_ms, 60000) / 1000.0)"

NOT_ONLINE = PanelSpec(
    title="Devices not online",
    description="Devices of the site file whose newest health is not online (stale, offline, or never reported), "
    "of all devices; and edge agents not online.",
    visualisation="stat",
    sql="""
SELECT count(*) FILTER (WHERE coalesce(d.state, 'never') <> 'online') AS not_online,
       count(*) AS devices,
       (SELECT count(*) FROM site_catalogue sc
          LEFT JOIN device_status a ON a.site_id = sc.site_id AND a.device_id = '_agent'
         WHERE sc.in_site_file AND sc.site_id IN ($site) AND coalesce(a.state, 'never') <> 'online')
         AS agents_not_online
  FROM device_catalogue c
  LEFT JOIN device_status d USING (site_id, device_id)
 WHERE c.in_site_file AND c.site_id IN ($site)""",
    columns=columns("not_online:number devices:number agents_not_online:number"),
    width=8,
    height=6,
    thresholds=(Threshold(None, "green"), Threshold(1, "red")),
)

LAST_SEEN = PanelSpec(
    title="Device health and last seen",
    description="Every device of the site file, those not online first: its state as its edge agent last "
    "reported it, since when, when it was last seen and how long ago (at the end of the range).",
    visualisation="table",
    sql="""
SELECT c.site_id AS site, c.device_id AS device, c.model, c.space_id AS space,
       coalesce(d.state, 'never reported') AS state, d.since, d.last_seen,
       extract(epoch FROM $__timeTo()::timestamptz - d.last_seen)::double precision AS silent_s,
       coalesce(d.detail, '') AS detail
  FROM device_catalogue c
  LEFT JOIN device_status d USING (site_id, device_id)
 WHERE c.in_site_file AND c.site_id IN ($site)
 ORDER BY coalesce(d.state, '') = 'online', d.last_seen NULLS FIRST, c.site_id, c.device_id""",
    columns=columns(
        "site:text device:text model:text space:text state:text since:time last_seen:time silent_s:number detail:text"
    ),
    width=16,
    height=12,
)

NOT_ONLINE_OVER_TIME = PanelSpec(
    title="Devices not online over time",
    description="Devices whose latest health change before each instant was not online.",
    visualisation="timeseries",
    sql=f"""
SELECT g.at AS "time", count(*) FILTER (WHERE coalesce(s.state, 'online') <> 'online')::double precision
         AS not_online
  FROM generate_series(date_bin({_STEP}, $__timeFrom()::timestamptz, TIMESTAMPTZ '2000-01-03'),
                       $__timeTo()::timestamptz, {_STEP}) AS g(at)
 CROSS JOIN device_catalogue c
  LEFT JOIN LATERAL (
       SELECT x.state FROM device_status_change x
        WHERE x.site_id = c.site_id AND x.device_id = c.device_id AND x.changed_at <= g.at
        ORDER BY x.changed_at DESC, x.id DESC LIMIT 1) s ON true
 WHERE c.in_site_file AND c.site_id IN ($site)
 GROUP BY 1
 ORDER BY 1""",
    columns=columns("time:time not_online:number"),
    width=8,
    height=6,
)

WENT_QUIET = PanelSpec(
    title="Devices that went quiet",
    description="Spells of stale, offline or lost in the range, the newest 500 first, with how long each lasted "
    "(to the end of the range if it has not ended).",
    visualisation="table",
    sql="""
SELECT site_id AS site, device_id AS device, state, changed_at AS since, until,
       extract(epoch FROM coalesce(until, $__timeTo()::timestamptz) - changed_at)::double precision AS lasted_s,
       detail
  FROM (SELECT x.*, lead(x.changed_at) OVER (PARTITION BY x.site_id, x.device_id ORDER BY x.changed_at, x.id)
                      AS until
          FROM device_status_change x
         WHERE x.site_id IN ($site) AND x.changed_at <= $__timeTo()::timestamptz) spells
 WHERE state <> 'online' AND coalesce(until, 'infinity') >= $__timeFrom()::timestamptz
 ORDER BY changed_at DESC
 LIMIT 500""",
    columns=columns("site:text device:text state:text since:time until:time lasted_s:number detail:text"),
    width=24,
    height=8,
    min_rows=0,  # a day without faults has none
)

OUTBOX_DEPTH = PanelSpec(
    title="Edge outbox depth",
    description="Envelopes each site's edge agent holds until the centre confirms them (highest per interval). "
    "It grows while a site's uplink is down and drains after.",
    visualisation="timeseries",
    sql="""
SELECT $__timeGroupAlias(ts, $__interval), site_id AS metric, max(depth)::double precision AS depth
  FROM edge_outbox_sample
 WHERE $__timeFilter(ts) AND site_id IN ($site)
 GROUP BY 1, 2
 ORDER BY 1, 2""",
    columns=columns("time:time metric:text depth:number"),
    width=12,
    height=8,
)

OUTBOX_AGE = PanelSpec(
    title="Oldest envelope waiting at the edge",
    description="Age of the oldest envelope in each site's outbox (highest per interval), and telemetry dropped "
    "because an outbox was full (cumulative).",
    visualisation="timeseries",
    sql="""
SELECT $__timeGroupAlias(ts, $__interval), site_id AS metric,
       coalesce(max(oldest_age_s), 0)::double precision AS oldest_age_s
  FROM edge_outbox_sample
 WHERE $__timeFilter(ts) AND site_id IN ($site)
 GROUP BY 1, 2
 ORDER BY 1, 2""",
    columns=columns("time:time metric:text oldest_age_s:number"),
    width=12,
    height=8,
    unit="s",
)

INGEST_RATE = PanelSpec(
    title="Ingest rate",
    description="Messages stored per minute, by kind, by the time the centre received them.",
    visualisation="timeseries",
    sql="""
SELECT "time", metric, sum(stored)::double precision / greatest($__interval_ms / 60000.0, 1) AS per_minute
  FROM (SELECT $__timeGroupAlias(received_at, $__interval), 'occupancy' AS metric, count(*) AS stored
          FROM occupancy_reading
         WHERE $__timeFilter(received_at) AND site_id IN ($site)
         GROUP BY 1
        UNION ALL
        SELECT $__timeGroupAlias(received_at, $__interval), kind, count(*)
          FROM device_event
         WHERE $__timeFilter(received_at) AND site_id IN ($site)
         GROUP BY 1, 2
        UNION ALL
        SELECT $__timeGroupAlias(received_at, $__interval), 'queue', count(*)
          FROM queue_event
         WHERE $__timeFilter(received_at) AND site_id IN ($site)
         GROUP BY 1) stored
 GROUP BY 1, 2
 ORDER BY 1, 2""",
    columns=columns("time:time metric:text per_minute:number"),
    width=12,
    height=8,
)

REJECTS = PanelSpec(
    title="Ingest rejects",
    description="Messages the centre could not store, per reason and interval (all sites: a reject may not name "
    "a site it can be trusted for).",
    visualisation="timeseries",
    sql="""
SELECT $__timeGroupAlias(received_at, $__interval), reason AS metric, count(*)::double precision AS rejects
  FROM ingest_reject
 WHERE $__timeFilter(received_at)
 GROUP BY 1, 2
 ORDER BY 1, 2""",
    columns=columns("time:time metric:text rejects:number"),
    width=12,
    height=8,
    min_rows=0,  # a day without malformed payloads has none
)

RECENT_REJECTS = PanelSpec(
    title="Latest rejects",
    description="The newest messages the centre could not store: topic, reason, detail and size.",
    visualisation="table",
    sql="""
SELECT received_at, topic, reason, detail, payload_size
  FROM ingest_reject
 WHERE $__timeFilter(received_at)
 ORDER BY received_at DESC, id DESC
 LIMIT 100""",
    columns=columns("received_at:time topic:text reason:text detail:text payload_size:number"),
    width=24,
    height=8,
    min_rows=0,
)

DEVICES = DashboardSpec(
    uid="sc-devices",
    title="Smart Complex: devices and pipeline",
    description="Device health and last seen, devices that went quiet, edge outbox depth, ingest rate and rejects.",
    file_name="devices.json",
    rows=(
        RowSpec("Devices", (NOT_ONLINE, NOT_ONLINE_OVER_TIME, LAST_SEEN, WENT_QUIET)),
        RowSpec("Pipeline", (OUTBOX_DEPTH, OUTBOX_AGE, INGEST_RATE, REJECTS, RECENT_REJECTS)),
    ),
    variables=("site",),
    time_from="now-6h",
    refresh="30s",
)
