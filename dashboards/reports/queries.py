"""The report's SQL. Its definitions are those of Grafana's rooms and windows dashboards (dashboards/definitions.py,
used by both; tests/unit/test_report_queries.py checks the panels use them), so a report and a dashboard over the
same days give the same figures.

Parameters: ``sites`` (a list of site ids); ``start``/``end`` (UTC bounds of one local day, on the 15-minute grid)
and ``tz`` (their IANA zone); ``first``/``last`` (local dates, inclusive: a ticket's ``day`` is its site's local
date). Times handed out are local (``AT TIME ZONE``, to the second) and hours are counted on the 15-minute grid.
"""

from __future__ import annotations

from dashboards.definitions import COUNTED, SERVICE_S, WAIT_S, WITHIN

__all__ = ["COUNTED", "SERVICE_S", "WAIT_S", "WITHIN"]


def _minutes(aggregate: str) -> str:
    return f"round(({aggregate} / 60)::numeric, 1)::double precision"


# Per bookable room on one local day, on the 15-minute grid of the occupancy_15m rollup: a slot is booked when a
# counted booking overlaps it and used when a sensor counted somebody in it. A room no longer in the site file
# appears only on days it was booked or used.
ROOMS_OF_DAY = f"""
WITH slots AS (
  SELECT c.site_id, c.space_id, c.name, c.in_site_file, g.slot
    FROM space_catalogue c
   CROSS JOIN generate_series(%(start)s::timestamptz, %(end)s::timestamptz - interval '15 minutes',
                              interval '15 minutes') AS g(slot)
   WHERE c.bookable AND c.site_id = ANY(%(sites)s)
), used AS (
  SELECT o.site_id, o.space_id, o.bucket
    FROM occupancy_15m o
   WHERE o.bucket >= %(start)s AND o.bucket < %(end)s AND o.site_id = ANY(%(sites)s) AND o.max_people > 0
), marked AS (
  SELECT s.site_id, s.space_id, s.name, s.in_site_file,
         EXISTS (SELECT 1 FROM booking b
                  WHERE b.site_id = s.site_id AND b.space_id = s.space_id AND {COUNTED}
                    AND b.during && tstzrange(s.slot, s.slot + interval '15 minutes')) AS booked,
         u.bucket IS NOT NULL AS used
    FROM slots s
    LEFT JOIN used u ON u.site_id = s.site_id AND u.space_id = s.space_id AND u.bucket = s.slot
), releases AS (
  SELECT e.site_id, e.space_id, count(*) AS released
    FROM booking_event e
   WHERE e.kind = 'released' AND e.mode = 'enforce' AND e.at >= %(start)s AND e.at < %(end)s
     AND e.site_id = ANY(%(sites)s)
   GROUP BY e.site_id, e.space_id
)
SELECT m.site_id AS site, m.space_id AS room_id, m.name AS room,
       (count(*) FILTER (WHERE m.booked) / 4.0)::double precision AS booked_hours,
       (count(*) FILTER (WHERE m.booked AND m.used) / 4.0)::double precision AS used_of_booked_hours,
       (count(*) FILTER (WHERE m.used AND NOT m.booked) / 4.0)::double precision AS unbooked_use_hours,
       coalesce(max(r.released), 0)::bigint AS no_shows_released
  FROM marked m
  LEFT JOIN releases r ON r.site_id = m.site_id AND r.space_id = m.space_id
 GROUP BY m.site_id, m.space_id, m.name, m.in_site_file
HAVING m.in_site_file OR count(*) FILTER (WHERE m.booked OR m.used) > 0 OR max(r.released) > 0
 ORDER BY m.site_id, m.name"""

# Every no-show the policy released on one local day (enforced mode), with the booking's times and whether the
# release was undone (people came after all) before any later release of the same booking.
NO_SHOWS_OF_DAY = """
SELECT e.site_id AS site, e.space_id AS room_id, coalesce(c.name, e.space_id) AS room, e.booking_id,
       date_trunc('second', lower(b.during) AT TIME ZONE %(tz)s) AS booked_from,
       date_trunc('second', upper(b.during) AT TIME ZONE %(tz)s) AS booked_to,
       date_trunc('second', e.at AT TIME ZONE %(tz)s) AS released_at,
       u.at IS NOT NULL AS undone,
       date_trunc('second', u.at AT TIME ZONE %(tz)s) AS undone_at
  FROM booking_event e
  JOIN booking b ON b.id = e.booking_id
  LEFT JOIN space_catalogue c ON c.site_id = e.site_id AND c.space_id = e.space_id
  LEFT JOIN LATERAL (
    SELECT min(x.at) AS at
      FROM booking_event x
     WHERE x.booking_id = e.booking_id AND x.kind = 'undone' AND x.at >= e.at
       AND NOT EXISTS (SELECT 1 FROM booking_event r
                        WHERE r.booking_id = e.booking_id AND r.kind = 'released' AND r.mode = 'enforce'
                          AND r.at > e.at AND r.at <= x.at)
  ) u ON true
 WHERE e.kind = 'released' AND e.mode = 'enforce' AND e.at >= %(start)s AND e.at < %(end)s
   AND e.site_id = ANY(%(sites)s)
 ORDER BY e.at, e.id"""

# The release policy's decisions per room on one local day, counted by when they were taken (as Grafana counts
# them): releases and undos (enforced), would-release and false releases (shadow), early ends.
RELEASE_DECISIONS_OF_DAY = """
SELECT e.site_id AS site, e.space_id AS room_id,
       count(*) FILTER (WHERE e.kind = 'released' AND e.mode = 'enforce') AS released,
       count(*) FILTER (WHERE e.kind = 'undone') AS undone,
       count(*) FILTER (WHERE e.kind = 'would_release') AS would_release,
       count(*) FILTER (WHERE e.kind = 'shadow_false_release') AS shadow_false_release,
       count(*) FILTER (WHERE e.kind = 'ended_early') AS ended_early
  FROM booking_event e
 WHERE e.at >= %(start)s AND e.at < %(end)s AND e.site_id = ANY(%(sites)s)
   AND e.kind IN ('released', 'undone', 'would_release', 'shadow_false_release', 'ended_early')
 GROUP BY e.site_id, e.space_id
 ORDER BY e.site_id, e.space_id"""

# Per service, the tickets of the local days first..last. Percentiles are over the tickets called (a ticket never
# called has no wait); the within-estimate counts give Grafana's share (tables.within_percent).
SERVICES = f"""
SELECT s.site_id AS site, s.service_id, s.name AS service,
       count(t.number) AS issued,
       count(t.number) FILTER (WHERE t.status = 'done') AS served,
       count(t.number) FILTER (WHERE t.status = 'no_show') AS no_shows,
       {_minutes(f"percentile_cont(0.5) WITHIN GROUP (ORDER BY {WAIT_S})")} AS median_wait_min,
       {_minutes(f"percentile_cont(0.9) WITHIN GROUP (ORDER BY {WAIT_S})")} AS p90_wait_min,
       {_minutes(f"percentile_cont(0.5) WITHIN GROUP (ORDER BY {SERVICE_S}) FILTER (WHERE t.status = 'done')")}
         AS median_service_min,
       count(t.number) FILTER (WHERE t.status = 'done' AND t.shown_wait_lo_s IS NOT NULL) AS served_with_estimate,
       count(t.number) FILTER (WHERE t.status = 'done' AND {WITHIN}) AS served_within_estimate
  FROM service_catalogue s
  LEFT JOIN queue_ticket t
    ON t.site_id = s.site_id AND t.service_id = s.service_id AND t.day BETWEEN %(first)s AND %(last)s
 WHERE s.site_id = ANY(%(sites)s)
 GROUP BY s.site_id, s.service_id, s.name, s.in_site_file
HAVING s.in_site_file OR count(t.number) > 0
 ORDER BY s.site_id, s.name"""

# Per window, the tickets of the local days first..last it called (the window that called a ticket last).
WINDOWS = f"""
SELECT w.site_id AS site, w.window_id, w.name AS window,
       count(t.number) AS called,
       count(t.number) FILTER (WHERE t.status = 'done') AS served,
       count(t.number) FILTER (WHERE t.status = 'no_show') AS no_shows,
       {_minutes(f"percentile_cont(0.5) WITHIN GROUP (ORDER BY {SERVICE_S}) FILTER (WHERE t.status = 'done')")}
         AS median_service_min,
       {_minutes(f"percentile_cont(0.5) WITHIN GROUP (ORDER BY {WAIT_S})")} AS median_wait_min
  FROM window_catalogue w
  LEFT JOIN queue_ticket t
    ON t.site_id = w.site_id AND t.window_id = w.window_id AND t.called_at IS NOT NULL
   AND t.day BETWEEN %(first)s AND %(last)s
 WHERE w.site_id = ANY(%(sites)s)
 GROUP BY w.site_id, w.window_id, w.name, w.in_site_file
HAVING w.in_site_file OR count(t.number) > 0
 ORDER BY w.site_id, w.name"""

# Waits per site and over every site asked for (site null), for the summary: medians cannot be added up.
SITE_WAITS = f"""
SELECT t.site_id AS site,
       {_minutes(f"percentile_cont(0.5) WITHIN GROUP (ORDER BY {WAIT_S})")} AS median_wait_min,
       {_minutes(f"percentile_cont(0.9) WITHIN GROUP (ORDER BY {WAIT_S})")} AS p90_wait_min
  FROM queue_ticket t
 WHERE t.day BETWEEN %(first)s AND %(last)s AND t.site_id = ANY(%(sites)s)
 GROUP BY GROUPING SETS ((t.site_id), ())"""

# Tickets served per local hour of the day (when they were finished), over the local days first..last.
SERVED_BY_HOUR = """
SELECT t.site_id AS site, extract(hour FROM t.finished_at AT TIME ZONE sc.timezone)::integer AS hour,
       count(*) AS served
  FROM queue_ticket t
  JOIN site_catalogue sc ON sc.site_id = t.site_id
 WHERE t.day BETWEEN %(first)s AND %(last)s AND t.site_id = ANY(%(sites)s) AND t.status = 'done'
   AND t.finished_at IS NOT NULL
 GROUP BY 1, 2
 ORDER BY 1, 2"""

SITES = "SELECT site_id, name, timezone, in_site_file FROM site_catalogue ORDER BY site_id"
