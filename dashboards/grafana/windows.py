"""Service windows: queue length, waiting and service times per service and window, tickets served per hour, and
the share of residents called within the wait range printed on their ticket.

Times of tickets are the queue's (the site agent's) clock. A ticket's wait runs from when it joined the queue (its
appointment time for an appointment) to its call; its service from the call to done.
"""

from __future__ import annotations

from dashboards.definitions import SERVICE_S, WAIT_S, WITHIN
from dashboards.grafana.spec import DashboardSpec, PanelSpec, RowSpec, columns

_SERVICE_NAME = "s.site_id || ': ' || s.name"
_STEP = "make_interval(secs => greatest($__interval_ms, 60000) / 1000.0)"

WAITING_NOW = PanelSpec(
    title="Waiting now",
    description="Tickets of the day issued and not yet called at the end of the range, per service.",
    visualisation="bargauge",
    sql=f"""
SELECT {_SERVICE_NAME} AS service, count(t.number) AS waiting
  FROM service_catalogue s
  JOIN site_catalogue sc USING (site_id)
  LEFT JOIN queue_ticket t
    ON t.site_id = s.site_id AND t.service_id = s.service_id
   AND t.day = ($__timeTo()::timestamptz AT TIME ZONE sc.timezone)::date
   AND t.issued_at <= $__timeTo()::timestamptz
   AND coalesce(t.called_at, t.finished_at, 'infinity') > $__timeTo()::timestamptz
 WHERE s.in_site_file AND s.site_id IN ($site)
 GROUP BY s.site_id, s.service_id, s.name
 ORDER BY s.site_id, s.name""",
    columns=columns("service:text waiting:number"),
    width=8,
    height=9,
)

QUEUE_LENGTH = PanelSpec(
    title="Queue length",
    description="Tickets waiting (issued, not yet called) per service, sampled every interval.",
    visualisation="timeseries",
    sql=f"""
WITH grid AS (
  SELECT g.at
    FROM generate_series(date_bin({_STEP}, $__timeFrom()::timestamptz, TIMESTAMPTZ '2000-01-03'),
                         $__timeTo()::timestamptz, {_STEP}) AS g(at)
), waiting AS (
  -- Each ticket at the grid's instants it was waiting at: from the first at or after its issue to the last before
  -- its call (or its end; at most a day: an unfinished ticket of a day gone by waits no more).
  SELECT t.site_id, t.service_id, p.at
    FROM queue_ticket t
   CROSS JOIN LATERAL generate_series(
         date_bin({_STEP}, t.issued_at - interval '1 microsecond', TIMESTAMPTZ '2000-01-03') + {_STEP},
         least(coalesce(t.called_at, t.finished_at, 'infinity'), t.issued_at + interval '1 day',
               $__timeTo()::timestamptz + interval '1 microsecond') - interval '1 microsecond',
         {_STEP}) AS p(at)
   WHERE t.site_id IN ($site) AND t.issued_at <= $__timeTo()::timestamptz
     AND t.issued_at > $__timeFrom()::timestamptz - interval '1 day'
     AND coalesce(t.called_at, t.finished_at, 'infinity') > $__timeFrom()::timestamptz
)
SELECT g.at AS "time", {_SERVICE_NAME} AS metric, count(w.at)::double precision AS waiting
  FROM grid g
 CROSS JOIN service_catalogue s
  LEFT JOIN waiting w ON w.site_id = s.site_id AND w.service_id = s.service_id AND w.at = g.at
 WHERE s.in_site_file AND s.site_id IN ($site)
 GROUP BY 1, 2
 ORDER BY 1, 2""",
    columns=columns("time:time metric:text waiting:number"),
    width=16,
    height=9,
)

WAIT_TIMES = PanelSpec(
    title="Median wait per service",
    description="Median minutes from joining the queue to the call, of the tickets called in each hour.",
    visualisation="timeseries",
    sql=f"""
SELECT $__timeGroupAlias(t.called_at, '1h'), {_SERVICE_NAME} AS metric,
       (percentile_cont(0.5) WITHIN GROUP (ORDER BY {WAIT_S}) / 60)::double precision AS wait_min
  FROM queue_ticket t JOIN service_catalogue s USING (site_id, service_id)
 WHERE $__timeFilter(t.called_at) AND t.site_id IN ($site)
 GROUP BY 1, 2
 ORDER BY 1, 2""",
    columns=columns("time:time metric:text wait_min:number"),
    width=12,
    height=8,
    unit="m",
)

SERVED_PER_HOUR = PanelSpec(
    title="Tickets served per hour",
    description="Tickets completed at a window in each hour, per service.",
    visualisation="timeseries",
    sql=f"""
SELECT $__timeGroupAlias(t.finished_at, '1h'), {_SERVICE_NAME} AS metric, count(*)::double precision AS served
  FROM queue_ticket t JOIN service_catalogue s USING (site_id, service_id)
 WHERE $__timeFilter(t.finished_at) AND t.site_id IN ($site) AND t.status = 'done'
 GROUP BY 1, 2
 ORDER BY 1, 2""",
    columns=columns("time:time metric:text served:number"),
    width=12,
    height=8,
    stacked=True,
)


WITHIN_ESTIMATE = PanelSpec(
    title="Served inside the shown estimate",
    description="Share of served residents called within the wait range printed on their ticket, and how many "
    "served tickets carried an estimate.",
    visualisation="stat",
    sql=f"""
SELECT round(100.0 * count(*) FILTER (WHERE {WITHIN}) / nullif(count(*), 0), 1)::double precision AS within_percent,
       count(*) AS served_with_estimate
  FROM queue_ticket t
 WHERE $__timeFilter(t.called_at) AND t.site_id IN ($site) AND t.status = 'done'
   AND t.shown_wait_lo_s IS NOT NULL""",
    columns=columns("within_percent:number served_with_estimate:number"),
    width=8,
    height=8,
)

PER_SERVICE = PanelSpec(
    title="Per service",
    description="Tickets issued, served, no-shows; waits (median, 90th percentile) and service time (median), "
    "minutes; share served inside the shown estimate.",
    visualisation="table",
    sql=f"""
SELECT s.site_id AS site, s.name AS service,
       count(t.number) AS issued,
       count(t.number) FILTER (WHERE t.status = 'done') AS served,
       count(t.number) FILTER (WHERE t.status = 'no_show') AS no_shows,
       round((percentile_cont(0.5) WITHIN GROUP (ORDER BY {WAIT_S}) / 60)::numeric, 1)::double precision
         AS median_wait_min,
       round((percentile_cont(0.9) WITHIN GROUP (ORDER BY {WAIT_S}) / 60)::numeric, 1)::double precision
         AS p90_wait_min,
       round((percentile_cont(0.5) WITHIN GROUP (ORDER BY {SERVICE_S}) FILTER (WHERE t.status = 'done')
              / 60)::numeric, 1)::double precision AS median_service_min,
       round(100.0 * count(*) FILTER (WHERE t.status = 'done' AND {WITHIN})
             / nullif(count(*) FILTER (WHERE t.status = 'done' AND t.shown_wait_lo_s IS NOT NULL), 0), 1)
         ::double precision AS within_percent
  FROM service_catalogue s
  LEFT JOIN queue_ticket t
    ON t.site_id = s.site_id AND t.service_id = s.service_id AND $__timeFilter(t.issued_at)
 WHERE s.in_site_file AND s.site_id IN ($site)
 GROUP BY s.site_id, s.service_id, s.name
 ORDER BY s.site_id, s.name""",
    columns=columns(
        "site:text service:text issued:number served:number no_shows:number median_wait_min:number "
        "p90_wait_min:number median_service_min:number within_percent:number"
    ),
    width=16,
    height=8,
)

PER_WINDOW = PanelSpec(
    title="Per window",
    description="Tickets each window called, served and marked no-show; median service and wait, minutes.",
    visualisation="table",
    sql=f"""
SELECT w.site_id AS site, w.name AS window,
       count(t.number) AS called,
       count(t.number) FILTER (WHERE t.status = 'done') AS served,
       count(t.number) FILTER (WHERE t.status = 'no_show') AS no_shows,
       round((percentile_cont(0.5) WITHIN GROUP (ORDER BY {SERVICE_S}) FILTER (WHERE t.status = 'done')
              / 60)::numeric, 1)::double precision AS median_service_min,
       round((percentile_cont(0.5) WITHIN GROUP (ORDER BY {WAIT_S}) / 60)::numeric, 1)::double precision
         AS median_wait_min
  FROM window_catalogue w
  LEFT JOIN queue_ticket t
    ON t.site_id = w.site_id AND t.window_id = w.window_id AND $__timeFilter(t.called_at)
 WHERE w.in_site_file AND w.site_id IN ($site)
 GROUP BY w.site_id, w.window_id, w.name
 ORDER BY w.site_id, w.name""",
    columns=columns(
        "site:text window:text called:number served:number no_shows:number median_service_min:number "
        "median_wait_min:number"
    ),
    width=24,
    height=10,
)

WINDOWS = DashboardSpec(
    uid="sc-windows",
    title="Smart Complex: service windows",
    description="Queues, waits and service times at the service windows, and how honest the shown waits were.",
    file_name="windows.json",
    rows=(
        RowSpec("Queues", (WAITING_NOW, QUEUE_LENGTH)),
        RowSpec("Waits and throughput", (WAIT_TIMES, SERVED_PER_HOUR, WITHIN_ESTIMATE, PER_SERVICE)),
        RowSpec("Windows", (PER_WINDOW,)),
    ),
    variables=("site",),
    time_from="now-12h",
    refresh="1m",
)
