"""Complex overview: where people are now, per space and floor, and headcounts against legal capacities."""

from __future__ import annotations

from dashboards.grafana.spec import OK_WARN_ALERT, DashboardSpec, PanelSpec, RowSpec, columns

# The newest reading of each sensor in the 15 minutes before the end of the range ("now" on a live dashboard); a
# space with two sensors counts the larger figure. Spaces whose sensors said nothing in that window are absent
# (unknown), never counted as empty.
_LATEST_PER_SPACE = """
WITH latest AS (
  SELECT DISTINCT ON (r.site_id, r.space_id, r.device_id) r.site_id, r.space_id, r.people, r.ts
    FROM occupancy_reading r
   WHERE r.site_id IN ($site)
     AND r.ts > $__timeTo()::timestamptz - interval '15 minutes' AND r.ts <= $__timeTo()::timestamptz
   ORDER BY r.site_id, r.space_id, r.device_id, r.ts DESC, r.seq DESC
), per_space AS (
  SELECT site_id, space_id, max(people) AS people, max(ts) AS observed_at FROM latest GROUP BY site_id, space_id
)"""

PEOPLE_NOW = PanelSpec(
    title="People in the building now",
    description="Sum over spaces of the newest count of each space's sensors (last 15 minutes before the range's "
    "end). Spaces whose sensors are silent are left out, not counted as empty.",
    visualisation="stat",
    sql=_LATEST_PER_SPACE + "\nSELECT coalesce(sum(people), 0)::bigint AS people FROM per_space",
    columns=columns("people:number"),
    width=6,
    height=6,
    unit="none",
)

SPACES_REPORTING = PanelSpec(
    title="Spaces reporting / known",
    description="Spaces with a fresh reading (last 15 minutes) against the spaces of the chosen sites.",
    visualisation="stat",
    sql=_LATEST_PER_SPACE
    + """
SELECT (SELECT count(*) FROM per_space) AS reporting,
       (SELECT count(*) FROM space_catalogue WHERE in_site_file AND site_id IN ($site)) AS known""",
    columns=columns("reporting:number known:number"),
    width=6,
    height=6,
)

OCCUPANCY_NOW = PanelSpec(
    title="Occupancy by space now",
    description="Newest count per space with its floor and capacity; share of capacity coloured at 80 % and 100 %.",
    visualisation="table",
    sql=_LATEST_PER_SPACE
    + """
SELECT c.site_id AS site, c.floor_name AS floor, c.name AS space, p.people, c.capacity,
       round(100.0 * p.people / c.capacity, 1)::double precision AS percent_of_capacity, p.observed_at
  FROM per_space p JOIN space_catalogue c USING (site_id, space_id)
 WHERE c.site_id || '/' || c.space_id IN ($space)
 ORDER BY c.site_id, c.floor_level, c.name""",
    columns=columns(
        "site:text floor:text space:text people:number capacity:number percent_of_capacity:number observed_at:time"
    ),
    width=12,
    height=12,
    thresholds=OK_WARN_ALERT,
)

BY_FLOOR = PanelSpec(
    title="People per floor",
    description="People on each floor (the floor's spaces summed per 15 minutes of the occupancy_15m rollup), "
    "averaged over the panel's interval.",
    visualisation="timeseries",
    sql="""
SELECT $__timeGroupAlias(bucket, $__interval), metric, avg(people)::double precision AS people
  FROM (SELECT o.bucket, c.site_id || ' ' || c.floor_name AS metric, sum(o.avg_people) AS people
          FROM occupancy_15m o JOIN space_catalogue c USING (site_id, space_id)
         WHERE $__timeFilter(o.bucket) AND o.site_id IN ($site)
         GROUP BY 1, 2) per_quarter_hour
 GROUP BY 1, 2
 ORDER BY 1, 2""",
    columns=columns("time:time metric:text people:number"),
    width=12,
    height=12,
    unit="none",
)

BY_SPACE = PanelSpec(
    title="People per space",
    description="Average people in each chosen space over the panel's interval (from the occupancy_15m rollup).",
    visualisation="timeseries",
    sql="""
SELECT $__timeGroupAlias(o.bucket, $__interval), c.name AS metric, avg(o.avg_people)::double precision AS people
  FROM occupancy_15m o JOIN space_catalogue c USING (site_id, space_id)
 WHERE $__timeFilter(o.bucket) AND o.site_id IN ($site) AND o.site_id || '/' || o.space_id IN ($space)
 GROUP BY 1, 2
 ORDER BY 1, 2""",
    columns=columns("time:time metric:text people:number"),
    width=12,
    height=12,
    unit="none",
)

_WATCHED = "c.kind IN ('day-care', 'exhibition-hall')"

CAPACITY_NOW = PanelSpec(
    title="Elderly Day-care Center and Experience Hall: share of legal capacity now",
    description="Newest headcount against the legal capacity in the site file (placeholders until the facility "
    "team confirms them). Orange from 80 %, red from 100 %.",
    visualisation="gauge",
    sql=_LATEST_PER_SPACE
    + f"""
SELECT c.name AS space, round(100.0 * coalesce(p.people, 0) / c.capacity, 1)::double precision AS percent
  FROM space_catalogue c LEFT JOIN per_space p USING (site_id, space_id)
 WHERE c.in_site_file AND c.site_id IN ($site) AND {_WATCHED}
 ORDER BY c.name""",
    columns=columns("space:text percent:number"),
    width=8,
    height=8,
    unit="percent",
    thresholds=OK_WARN_ALERT,
    min_value=0,
    max_value=120,
)

CAPACITY_OVER_TIME = PanelSpec(
    title="Headcount against legal capacity",
    description="Highest count in each interval (15 minutes at the finest) as a share of the legal capacity; the "
    "lines mark 80 % and 100 %.",
    visualisation="timeseries",
    sql=f"""
SELECT $__timeGroupAlias(o.bucket, $__interval), c.name AS metric,
       round(100.0 * max(o.max_people) / min(c.capacity), 1)::double precision AS percent
  FROM occupancy_15m o JOIN space_catalogue c USING (site_id, space_id)
 WHERE $__timeFilter(o.bucket) AND o.site_id IN ($site) AND {_WATCHED}
 GROUP BY 1, 2
 ORDER BY 1, 2""",
    columns=columns("time:time metric:text percent:number"),
    width=16,
    height=8,
    unit="percent",
    thresholds=OK_WARN_ALERT,
    min_value=0,
)

OVERVIEW = DashboardSpec(
    uid="sc-overview",
    title="Smart Complex: overview",
    description="Where people are across the belt, and headcounts against legal capacities.",
    file_name="overview.json",
    rows=(
        RowSpec("Now", (PEOPLE_NOW, SPACES_REPORTING, OCCUPANCY_NOW)),
        RowSpec("Floors and spaces", (BY_FLOOR, BY_SPACE)),
        RowSpec("Legal capacity", (CAPACITY_NOW, CAPACITY_OVER_TIME)),
    ),
    variables=("site", "space"),
    time_from="now-12h",
)
