"""Rooms and bookings: booked against actually used, no-shows released, the false-release rate, utilisation."""

from __future__ import annotations

from dashboards.definitions import COUNTED
from dashboards.grafana.spec import DashboardSpec, PanelSpec, RowSpec, columns

_RANGE = "tstzrange($__timeFrom()::timestamptz, $__timeTo()::timestamptz)"

# Per bookable room, on the 15-minute grid of the occupancy_15m rollup: a slot is booked when a counted booking
# overlaps it and used when a sensor counted somebody in it.
_SLOTS = f"""
WITH slots AS (
  SELECT c.site_id, c.space_id, g.slot, g.slot AT TIME ZONE sc.timezone AS local_slot
    FROM space_catalogue c
    JOIN site_catalogue sc USING (site_id)
   CROSS JOIN generate_series(date_bin(interval '15 minutes', $__timeFrom()::timestamptz, TIMESTAMPTZ '2000-01-03'),
                              $__timeTo()::timestamptz - interval '15 minutes', interval '15 minutes') AS g(slot)
   WHERE c.in_site_file AND c.bookable AND c.site_id IN ($site) AND c.site_id || '/' || c.space_id IN ($room)
), booked AS (
  -- Each counted booking expanded once into the 15-minute slots it overlaps (joined below, not probed per slot).
  SELECT DISTINCT b.site_id, b.space_id, g.slot
    FROM booking b
   CROSS JOIN LATERAL generate_series(date_bin(interval '15 minutes', lower(b.during), TIMESTAMPTZ '2000-01-03'),
                                      upper(b.during) - interval '1 microsecond', interval '15 minutes') AS g(slot)
   WHERE b.site_id IN ($site) AND b.site_id || '/' || b.space_id IN ($room) AND {COUNTED}
     AND b.during && tstzrange($__timeFrom()::timestamptz - interval '15 minutes', $__timeTo()::timestamptz)
), used AS (
  SELECT o.site_id, o.space_id, o.bucket
    FROM occupancy_15m o
   WHERE o.bucket >= $__timeFrom()::timestamptz - interval '15 minutes' AND o.bucket < $__timeTo()::timestamptz
     AND o.site_id IN ($site) AND o.site_id || '/' || o.space_id IN ($room) AND o.max_people > 0
), marked AS (
  SELECT s.site_id, s.space_id, s.local_slot, k.slot IS NOT NULL AS booked, u.bucket IS NOT NULL AS used
    FROM slots s
    LEFT JOIN booked k ON k.site_id = s.site_id AND k.space_id = s.space_id AND k.slot = s.slot
    LEFT JOIN used u ON u.site_id = s.site_id AND u.space_id = s.space_id AND u.bucket = s.slot
)"""

BOOKINGS_STATS = PanelSpec(
    title="Bookings, no-shows released, releases undone",
    description="Bookings starting in the range; releases of no-shows by the policy; releases undone because "
    "people came after all; rooms used without a booking.",
    visualisation="stat",
    sql=f"""
SELECT (SELECT count(*) FROM booking b
         WHERE b.site_id IN ($site) AND b.site_id || '/' || b.space_id IN ($room) AND {COUNTED}
           AND lower(b.during) BETWEEN $__timeFrom() AND $__timeTo()) AS bookings,
       count(*) FILTER (WHERE e.kind = 'released' AND e.mode = 'enforce') AS released,
       count(*) FILTER (WHERE e.kind = 'undone') AS undone,
       count(*) FILTER (WHERE e.kind = 'unbooked_use_started') AS unbooked_use
  FROM booking_event e
 WHERE e.site_id IN ($site) AND e.site_id || '/' || e.space_id IN ($room) AND $__timeFilter(e.at)""",
    columns=columns("bookings:number released:number undone:number unbooked_use:number"),
    width=14,
    height=6,
)

FALSE_RELEASE_RATE = PanelSpec(
    title="False-release rate",
    description="Shadow mode: releases the policy would have made where people came afterwards, of all it would "
    "have made. Enforced: releases undone because people came, of all releases. Empty without such decisions.",
    visualisation="stat",
    sql="""
SELECT round(100.0 * count(*) FILTER (WHERE kind = 'shadow_false_release')
             / nullif(count(*) FILTER (WHERE kind = 'would_release'), 0), 1)::double precision AS shadow_percent,
       round(100.0 * count(*) FILTER (WHERE kind = 'undone')
             / nullif(count(*) FILTER (WHERE kind = 'released' AND mode = 'enforce'), 0), 1)::double precision
         AS enforced_percent
  FROM booking_event
 WHERE site_id IN ($site) AND site_id || '/' || space_id IN ($room) AND $__timeFilter(at)""",
    columns=columns("shadow_percent:number enforced_percent:number"),
    width=10,
    height=6,
    unit="percent",
)

BOOKED_VS_USED = PanelSpec(
    title="Booked against used, per room",
    description="Hours booked in the range, hours of that booked time a sensor counted somebody, hours used with no "
    "booking, and no-shows released (15-minute slots).",
    visualisation="table",
    sql=_SLOTS
    + f"""
, per_room AS (
  SELECT m.site_id, m.space_id,
         count(*) FILTER (WHERE m.booked) AS booked, count(*) FILTER (WHERE m.booked AND m.used) AS booked_used,
         count(*) FILTER (WHERE m.used AND NOT m.booked) AS unbooked_used
    FROM marked m
   GROUP BY m.site_id, m.space_id
), releases AS (
  SELECT e.site_id, e.space_id, count(*) AS released
    FROM booking_event e
   WHERE e.kind = 'released' AND e.mode = 'enforce' AND e.at <@ {_RANGE}
   GROUP BY e.site_id, e.space_id
)
SELECT c.site_id AS site, c.name AS room,
       (r.booked / 4.0)::double precision AS booked_hours,
       (r.booked_used / 4.0)::double precision AS used_of_booked_hours,
       round(100.0 * r.booked_used / nullif(r.booked, 0), 1)::double precision AS used_percent,
       (r.unbooked_used / 4.0)::double precision AS unbooked_use_hours,
       coalesce(x.released, 0) AS no_shows_released
  FROM per_room r
  JOIN space_catalogue c USING (site_id, space_id)
  LEFT JOIN releases x USING (site_id, space_id)
 ORDER BY c.site_id, c.name""",
    columns=columns(
        "site:text room:text booked_hours:number used_of_booked_hours:number used_percent:number "
        "unbooked_use_hours:number no_shows_released:number"
    ),
    width=24,
    height=10,
)

PER_SITE = PanelSpec(
    title="Per site",
    description="The same figures summed over each site's bookable rooms.",
    visualisation="table",
    sql=_SLOTS
    + """
SELECT m.site_id AS site,
       (count(*) FILTER (WHERE m.booked) / 4.0)::double precision AS booked_hours,
       (count(*) FILTER (WHERE m.booked AND m.used) / 4.0)::double precision AS used_of_booked_hours,
       round(100.0 * count(*) FILTER (WHERE m.booked AND m.used)
             / nullif(count(*) FILTER (WHERE m.booked), 0), 1)::double precision AS used_percent,
       (count(*) FILTER (WHERE m.used AND NOT m.booked) / 4.0)::double precision AS unbooked_use_hours
  FROM marked m
 GROUP BY m.site_id
 ORDER BY m.site_id""",
    columns=columns(
        "site:text booked_hours:number used_of_booked_hours:number used_percent:number unbooked_use_hours:number"
    ),
    width=24,
    height=6,
)

BY_HOUR = PanelSpec(
    title="Booked and used by hour of day (local time)",
    description="Share of bookable room time booked, and used, per hour of the day over the range.",
    visualisation="barchart",
    sql=_SLOTS
    + """
SELECT to_char(m.local_slot, 'HH24":00"') AS hour,
       round(100.0 * avg(m.booked::int), 1)::double precision AS booked_percent,
       round(100.0 * avg(m.used::int), 1)::double precision AS used_percent
  FROM marked m
 GROUP BY 1
 ORDER BY 1""",
    columns=columns("hour:text booked_percent:number used_percent:number"),
    width=14,
    height=9,
    unit="percent",
)

BY_WEEKDAY = PanelSpec(
    title="Booked and used by weekday (local time)",
    description="Room-hours booked and used per weekday, averaged over the rooms.",
    visualisation="barchart",
    sql=_SLOTS
    + """
SELECT to_char(m.local_slot, 'ID Dy') AS weekday,
       (count(*) FILTER (WHERE m.booked) / 4.0 / count(DISTINCT (m.site_id, m.space_id)))::double precision
         AS booked_hours_per_room,
       (count(*) FILTER (WHERE m.used) / 4.0 / count(DISTINCT (m.site_id, m.space_id)))::double precision
         AS used_hours_per_room
  FROM marked m
 GROUP BY 1
 ORDER BY 1""",
    columns=columns("weekday:text booked_hours_per_room:number used_hours_per_room:number"),
    width=10,
    height=9,
    unit="h",
)

RELEASE_DECISIONS = PanelSpec(
    title="Release decisions",
    description="The release policy's decisions per hour: released, undone, ended early, withheld (a sensor was "
    "stale or counted people) and, in shadow mode, would-release and false release.",
    visualisation="timeseries",
    sql="""
SELECT $__timeGroupAlias(at, '1h'), kind AS metric, count(*)::double precision AS decisions
  FROM booking_event
 WHERE $__timeFilter(at) AND site_id IN ($site) AND site_id || '/' || space_id IN ($room)
   AND kind IN ('released', 'undone', 'ended_early', 'release_withheld', 'would_release', 'shadow_false_release')
 GROUP BY 1, 2
 ORDER BY 1, 2""",
    columns=columns("time:time metric:text decisions:number"),
    width=24,
    height=8,
    stacked=True,
)

ROOMS = DashboardSpec(
    uid="sc-rooms",
    title="Smart Complex: rooms and bookings",
    description="Booked versus used, no-shows released, the false-release rate, utilisation by hour and weekday.",
    file_name="rooms.json",
    rows=(
        RowSpec("Bookings and releases", (BOOKINGS_STATS, FALSE_RELEASE_RATE, RELEASE_DECISIONS)),
        RowSpec("Booked against used", (BOOKED_VS_USED, PER_SITE)),
        RowSpec("Utilisation", (BY_HOUR, BY_WEEKDAY)),
    ),
    variables=("site", "room"),
    time_from="now-7d",
    refresh="5m",
)
