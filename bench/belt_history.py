"""N days of belt-wide production history, written straight into a migrated database, for benchmarks.

Volumes follow the shipped belt (devices/sites/changping_road.yaml). Occupancy devices report at their
report_interval_s all day, people following each space's opening hours (a bookable room counts people only while a
booking or an unbooked use is on). Door controllers send card reads and door events; dispensers and window terminals
a request or key press for each ticket of the site queues (about 14 a day per service); bookable rooms take two or
three bookings a day; devices go stale now and then; each edge agent samples its outbox every 30 s (if migration
0007 is there). Readings and outbox samples are generated in PostgreSQL; the rest is built here with a seeded
``random.Random`` and copied in. Times are UTC; opening hours are the belt's local time.
"""

from __future__ import annotations

import json
import math
import random
import zlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime, timedelta
from typing import Any

import psycopg
from psycopg.types.range import Range

from devices.site import OCCUPANCY_MODELS, Belt, Device, Site, Space
from devices.site_hours import OpeningHours

Row = tuple[Any, ...]
MINUTE = timedelta(minutes=1)
SECOND = timedelta(seconds=1)

TICKETS_PER_SERVICE_DAY = 14.0  # mean over a full open day: about 200 a day belt-wide on weekdays
DOOR_READS_PER_HOUR = 20.0  # staff and residents badging at a door while its space is open
STATUS_EPISODES_PER_DAY = 5  # a device (or agent) going stale, sometimes offline, for minutes
BOOKING_BLOCKS = (9 * 60, 12 * 60, 15 * 60, 18 * 60)  # local minutes; a booking lies within its 3-hour block
OUTBOX_MAX_ROWS = 200_000  # edge/outbox.py DEFAULT_MAX_ROWS
FULL_DAY_S = 8.5 * 3600  # a window's usual open day: a shorter one issues proportionally fewer tickets

# The tables filled by COPY: their columns, in the order the builder writes them, and the position of the column
# their rows are sorted by first (arrival order, as in production). The bench_* tables are ours (temporary).
COPY_COLUMNS: dict[str, tuple[str, int | None]] = {
    "booking": ("id, site_id, space_id, during, owner_id, created_by, attendees, status, created_at, confirmed_at,"
                " checked_in_at, check_in_source, warned_at, released_at, ended_at, cancelled_at, shadow_release_at,"
                " shadow_false_at, updated_at", 8),
    "booking_event": ("at, site_id, space_id, booking_id, kind, actor_id, mode, detail", 0),
    "unbooked_use": ("site_id, space_id, started_at, ended_at, peak_people", 2),
    "bench_presence": ("site_id, space_id, during, people", None),
    "bench_hours": ("site_id, space_id, isodow, start_min, end_min", None),
    "bench_occupancy_device": ("site_id, device_id, space_id, interval_s, phase_s, most, share, load, bookable", None),
    "queue_event": ("site_id, seq, kind, at, ts, received_at, day, number, service_id, window_id, ticket", 5),
    "queue_ticket": ("site_id, day, prefix, running_number, service_id, issued_at, waiting_ahead, source, priority,"
                     " appointment_at, status, order_at, request_id, device_id, shown_wait_lo_s, shown_wait_hi_s,"
                     " window_id, called_at, recalls, finished_at, last_seq, number", 5),  # Ticket's fields
    "device_event": ("device_id, seq, ts, received_at, site_id, space_id, kind, data", 3),
    "device_status_change": ("site_id, device_id, state, previous_state, changed_at, detail, received_at", 6),
    "device_status": ("site_id, device_id, state, since, last_seen, detail, reported_at, received_at", None),
    "ingest_reject": ("received_at, topic, reason, detail, payload_head, payload_size", 0),
}  # fmt: skip

# Rows go in in time order, as they arrive in production: occupancy_reading's BRIN index on ts relies on it.
# Every occupancy device's readings: a sine over each open interval of its space (scaled by the space's load, a
# per-day factor and noise), or for a bookable room the people of bench_presence. Never above the device's share
# of the space's capacity, so the sensors of one space never sum above it.
_READINGS_SQL = """
INSERT INTO occupancy_reading (device_id, seq, ts, received_at, site_id, space_id, people, occupied)
SELECT device_id, n, ts, ts + interval '300 ms' + random() * interval '1500 ms', site_id, space_id, people, people > 0
  FROM (SELECT d.device_id, n, t.ts, d.site_id, d.space_id,
               least(d.most, CASE
                   WHEN d.bookable THEN round(coalesce(p.people, 0) * d.share * (0.85 + 0.3 * random()))
                   WHEN h.start_min IS NULL THEN 0
                   ELSE round(d.most * d.load * sin(pi() * (l.minute - h.start_min) / (h.end_min - h.start_min))
                              * (0.6 + 0.4 * (abs(hashtext(d.device_id || l.day::text)) %% 100) / 100.0)
                              * (0.8 + 0.4 * random()))
               END)::integer AS people
          FROM bench_occupancy_device d
         CROSS JOIN generate_series(1, ((%(seconds)s - d.phase_s) / d.interval_s)::integer) AS n
         CROSS JOIN LATERAL (SELECT %(start)s::timestamptz + (d.phase_s + (n - 1) * d.interval_s) * interval '1 s'
                               AS ts) t
         CROSS JOIN LATERAL (SELECT (t.ts AT TIME ZONE %(tz)s)::date AS day,
                                    extract(isodow FROM t.ts AT TIME ZONE %(tz)s) AS isodow,
                                    extract(epoch FROM (t.ts AT TIME ZONE %(tz)s)::time) / 60 AS minute) l
          LEFT JOIN LATERAL (SELECT x.start_min, x.end_min FROM bench_hours x
                              WHERE NOT d.bookable AND x.site_id = d.site_id AND x.space_id = d.space_id
                                AND x.isodow = l.isodow AND l.minute >= x.start_min AND l.minute < x.end_min) h
                 ON true
          LEFT JOIN LATERAL (SELECT x.people FROM bench_presence x
                              WHERE d.bookable AND x.site_id = d.site_id AND x.space_id = d.space_id
                                AND x.during @> t.ts LIMIT 1) p ON true) readings
 ORDER BY ts
"""

# Every site's outbox every 30 s: empty or nearly so, except one uplink outage on about one day in four per site
# (placed by a hash of site and day): the backlog grows 0.5 envelopes/s, its samples arrive when the link is back,
# and it drains in two minutes.
_OUTBOX_SQL = """
INSERT INTO edge_outbox_sample (site_id, ts, received_at, depth, oldest_age_s, dropped_telemetry, max_rows)
SELECT site_id, ts,
       CASE WHEN into_s >= 0 AND into_s < outage_s THEN ts + (outage_s - into_s + 2) * interval '1 s'
            ELSE ts + interval '400 ms' END,
       CASE WHEN into_s >= 0 AND into_s < outage_s THEN 40 + floor(into_s * 0.5)
            WHEN into_s >= outage_s AND into_s < outage_s + 120
              THEN floor((40 + outage_s * 0.5) * (1 - (into_s - outage_s) / 120.0))
            ELSE idle_depth END,
       CASE WHEN into_s >= 0 AND into_s < outage_s THEN into_s + 1
            WHEN into_s >= outage_s AND into_s < outage_s + 120
              THEN greatest(1, outage_s * (1 - (into_s - outage_s) / 120.0))
            WHEN idle_depth > 0 THEN random() * 2 END,
       0, %(max_rows)s
  FROM (SELECT s.site_id, g.ts,
               CASE WHEN h %% 4 = 0 THEN extract(epoch FROM g.ts - date_trunc('day', g.ts)) - (120 + h %% 1200) * 60
               END AS into_s,
               (5 + (h / 1200) %% 36) * 60 AS outage_s,
               CASE WHEN random() < 0.15 THEN 1 + floor(random() * 3) ELSE 0 END AS idle_depth
          FROM site_catalogue s
         CROSS JOIN generate_series(%(start)s::timestamptz, %(end)s::timestamptz - interval '30 s',
                                    interval '30 s') g(ts)
         CROSS JOIN LATERAL (SELECT abs(hashtext(s.site_id || date_trunc('day', g.ts)::date::text)) AS h) k
         WHERE s.in_site_file) samples
 ORDER BY ts
"""


@dataclass(frozen=True, slots=True)
class Span:
    start: datetime
    end: datetime

    def overlaps(self, other: Span) -> bool:
        return self.start < other.end and other.start < self.end


@dataclass(slots=True)
class Ticket:
    """A queue ticket as it stands at the end of the history."""

    site_id: str
    day: date
    prefix: str
    number: int
    service_id: str
    issued: datetime
    ahead: int
    source: str = "dispenser"
    priority: bool = False
    appointment: datetime | None = None
    status: str = "waiting"
    order_at: datetime | None = None
    request_id: str | None = None
    device_id: str | None = None
    shown_lo_s: int | None = None
    shown_hi_s: int | None = None
    window: str | None = None
    called: datetime | None = None
    recalls: int = 0
    finished: datetime | None = None
    last_seq: int = 0

    @property
    def label(self) -> str:
        return f"{self.prefix}{self.number:03d}"

    @property
    def left_at(self) -> datetime | None:
        return self.called or self.finished

    def steps(self) -> list[tuple[datetime, str, str | None]]:
        """(at, queue event kind, terminal key or None) of everything that happened to it."""
        steps: list[tuple[datetime, str, str | None]] = [(self.issued, "issued", None)]
        if self.called is not None:
            steps.append((self.called, "called", "call_next"))
            steps += [(self.called + 90 * i * SECOND, "recalled", "recall") for i in range(1, self.recalls + 1)]
        if self.finished is not None:
            steps.append((self.finished, self.status, self.status if self.status in ("done", "no_show") else None))
        return steps

    def row(self) -> Row:
        return (*(getattr(self, field.name) for field in fields(self)), self.label)


class HistoryBuilder:
    """Rows of the modest tables (bookings, queues, events, statuses, rejects), built in memory, by table."""

    def __init__(self, belt: Belt, *, start: datetime, end: datetime, seed: int) -> None:
        self.belt, self.tz, self.start, self.end = belt, belt.tz, start, end
        self.rng = random.Random(seed)
        self.rows: dict[str, list[Row]] = defaultdict(list)
        self.device_events: dict[tuple[str, str, str], list[tuple[datetime, str, dict[str, Any]]]] = defaultdict(list)
        first, last = start.astimezone(self.tz).date(), end.astimezone(self.tz).date()
        self.days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
        self.booking_id = 0

    def opening(self, hours: OpeningHours, day: date) -> list[Span]:
        midnight = datetime.combine(day, datetime.min.time(), self.tz)
        return [Span(midnight + i.start * MINUTE, midnight + i.end * MINUTE) for i in hours.intervals_on(day.weekday())]

    def build(self, owners: Sequence[int]) -> None:
        for site in self.belt.sites:
            for index, space in enumerate(s for s in site.spaces if s.bookable):  # every third in shadow mode
                self.bookings(site.id, space, "shadow" if index % 3 == 2 else "enforce", owners)
            self.queue(site)
            self.doors(site)
            self.sensors(site)
        self.statuses()
        self.rejects()
        for (device_id, site_id, space_id), events in self.device_events.items():
            events.sort(key=lambda event: event[0])
            for seq, (ts, kind, data) in enumerate(events, start=1):
                row = (device_id, seq, ts, ts + 0.3 * SECOND, site_id, space_id, kind, json.dumps(data))
                self.rows["device_event"].append(row)

    def sensors(self, site: Site) -> None:
        """Opening hours and occupancy devices, for the readings, which are made in SQL (_READINGS_SQL)."""
        for space in site.spaces:
            hours = [(weekday + 1, i.start, i.end) for weekday in range(7) for i in space.hours.intervals_on(weekday)]
            self.rows["bench_hours"] += [(site.id, space.id, *interval) for interval in hours]
        sensors = [d for d in site.devices if d.model in OCCUPANCY_MODELS]
        for device in sensors:
            space = site.space(device.space)
            share = 1 / sum(1 for d in sensors if d.space == device.space)
            load = 0.3 + 0.4 * (zlib.crc32(space.id.encode()) % 100) / 100  # peak share of capacity
            phase = zlib.crc32(device.id.encode()) % device.report_interval_s
            most = max(1, int(space.capacity * share))
            row = (site.id, device.id, space.id, device.report_interval_s, phase, most, share, load, space.bookable)
            self.rows["bench_occupancy_device"].append(row)

    def bookings(self, site_id: str, space: Space, mode: str, owners: Sequence[int]) -> None:
        rng = self.rng
        upcoming = [self.days[-1] + timedelta(days=i) for i in range(1, 8)]  # next week's bookings are made too
        for day in (*self.days, *upcoming):
            spans = self.opening(space.hours, day)
            midnight = datetime.combine(day, datetime.min.time(), self.tz)
            taken: list[Span] = []
            for block in BOOKING_BLOCKS:
                if rng.random() >= 0.7:
                    continue
                offset = rng.choice((0, 15, 30, 60))
                minutes = min(180 - offset, rng.choice((60, 90, 120, 150, 180)))
                slot = Span(midnight + (block + offset) * MINUTE, midnight + (block + offset + minutes) * MINUTE)
                if not any(s.start <= slot.start and slot.end <= s.end for s in spans):
                    continue  # outside opening hours (a lunch break, an early close)
                if self.start <= slot.start < self.end + timedelta(days=7):
                    attendees = rng.randint(2, space.capacity * 3 // 4)
                    self.booking(site_id, space.id, slot, mode, rng.choice(owners), attendees)
                    taken.append(slot)
            self.unbooked_use(site_id, space.id, spans, taken)

    def booking(self, site_id: str, space_id: str, slot: Span, mode: str, owner: int, attendees: int) -> None:
        """One booking, its fate decided as the release policy (10-minute grace) would have, and its events."""
        rng, start = self.rng, slot.start
        self.booking_id += 1
        created = min(start - timedelta(hours=rng.uniform(2, 240)), self.end - MINUTE)  # booked in the past
        status, upper, came, left = "confirmed", slot.end, None, slot.end
        at: dict[str, datetime | None] = dict.fromkeys(("warned", "released", "ended", "cancelled", "shadow", "false"))
        events: list[tuple[datetime, str, int | None, str, str]] = [(created, "created", owner, "enforce", "")]
        fate = rng.random() if start + 30 * MINUTE <= self.end else 1.0  # later: still confirmed at the end
        if fate < 0.05:
            status, at["cancelled"] = "cancelled", created + (start - created) * rng.random()
            events.append((at["cancelled"], "cancelled", owner, "enforce", "was confirmed"))
        elif fate < 0.20 and mode == "enforce":  # a no-show: warned, then released
            status, at["warned"], at["released"] = "released", start + 5 * MINUTE, start + 10 * MINUTE
            events.append((start + 5 * MINUTE, "release_warning", None, "enforce", "nobody counted"))
            events.append((start + 10 * MINUTE, "released", None, "enforce", "no-show after 600 s"))
            if rng.random() < 0.1:  # the organiser undid it: they were on their way
                undone = start + rng.uniform(12, 18) * MINUTE
                events.append((undone, "undone", owner, "enforce", "organiser undid the release"))
                status, came = "checked_in", undone + MINUTE
        elif fate < 0.20:
            at["shadow"] = start + 10 * MINUTE
            events.append((start + 10 * MINUTE, "would_release", None, "shadow", "no-show after 600 s"))
            if rng.random() < 0.25:  # people came after the policy would have released it: a false release
                came = at["false"] = start + rng.uniform(12, 25) * MINUTE
                events.append((came, "shadow_false_release", None, "shadow", "people counted after release"))
                status = "checked_in"
        elif fate < 0.24 and mode == "enforce":  # a sensor was stale: the policy held back, and they came
            events.append((start + 10 * MINUTE, "release_withheld", None, "enforce", "sensor stale"))
            status, came = "checked_in", start + 12 * MINUTE
        elif fate < 1.0:
            status, came = "checked_in", start + rng.uniform(-8, 8) * MINUTE
            left_early = start + (slot.end - start) * rng.uniform(0.4, 0.6)
            if rng.random() < 0.12 and slot.end - start >= 90 * MINUTE and left_early + 30 * MINUTE <= self.end:
                left = left_early  # the room then stood empty for the policy's 30 minutes: ended early
                status, upper = "ended", left + 30 * MINUTE
                at["ended"] = upper
                events.append((upper, "ended_early", None, "enforce", "empty for 1800 s"))
        if came is not None:
            events.append((came, "checked_in", None, "enforce", "sensor"))
            self.rows["bench_presence"].append((site_id, space_id, Range(came, left, "[)"), attendees))
        self.rows["booking"].append(
            (self.booking_id, site_id, space_id, Range(start, upper, "[)"), owner, owner, attendees, status,
             created, created, came, came and "sensor", at["warned"], at["released"], at["ended"], at["cancelled"],
             at["shadow"], at["false"], max(event[0] for event in events))
        )  # fmt: skip
        self.rows["booking_event"] += [(when, site_id, space_id, self.booking_id, *rest) for when, *rest in events]

    def unbooked_use(self, site_id: str, space_id: str, spans: Sequence[Span], taken: Sequence[Span]) -> None:
        """An hour of use without a booking now and then (4 % of the free open hours)."""
        for span in spans:
            use = Span(span.start, span.start + 60 * MINUTE)
            while use.end <= min(span.end, self.end):
                if use.start >= self.start and self.rng.random() < 0.04 and not any(map(use.overlaps, taken)):
                    people = self.rng.randint(1, 4)
                    self.rows["unbooked_use"].append((site_id, space_id, use.start, use.end, people))
                    started = (use.start + 5 * MINUTE, site_id, space_id, None, "unbooked_use_started", None)
                    self.rows["booking_event"].append((*started, "enforce", ""))
                    self.rows["bench_presence"].append((site_id, space_id, Range(use.start, use.end, "[)"), people))
                use = Span(use.end, use.end + 60 * MINUTE)

    def queue(self, site: Site) -> None:
        """The site queue's tickets and events, and the dispenser's and window terminals' device events."""
        rng = self.rng
        dispenser = next((d for d in site.devices if d.model == "mqtt-ticket-dispenser"), None)
        terminal = {d.window: d for d in site.devices if d.model == "mqtt-window-terminal"}
        events: list[tuple[datetime, str, Ticket | None, str | None]] = []  # (at, kind, ticket, window)
        tickets: list[Ticket] = []
        for day in self.days if site.services else ():
            opening = {w.id: self.opening(w.hours or site.space(w.space).hours, day) for w in site.windows}
            for window_id, span in ((w, span) for w, spans in opening.items() for span in spans):
                for at, kind, key in ((span.start, "window_opened", "open"), (span.end, "window_closed", "close")):
                    if self.start <= at <= self.end:
                        events.append((at, kind, None, window_id))
                        if window_id in terminal:
                            data = {"window": window_id, "action": key}
                            self.device_event(terminal[window_id], site.id, at, "terminal", data)
            for service in site.services:
                windows = [w.id for w in site.windows if service.id in w.services and opening[w.id]]
                spans = [span for w in windows for span in opening[w]]
                if not spans:
                    continue
                open_s = sum((s.end - s.start).total_seconds() for s in spans) / len(windows)
                count = _poisson(rng, TICKETS_PER_SERVICE_DAY * min(1.0, open_s / FULL_DAY_S))
                issued: list[Ticket] = []
                for number, at in enumerate(sorted(_uniform_in(rng, spans) for _ in range(count)), start=1):
                    window = rng.choice([w for w in windows if any(s.start <= at < s.end for s in opening[w])])
                    ahead = sum(1 for t in issued if t.left_at is None or t.left_at > at)
                    ticket = Ticket(site.id, day, service.prefix, number, service.id, at, ahead)
                    issued.append(self.settle(ticket, window))
                tickets += [t for t in issued if self.start <= t.issued <= self.end]
        for ticket in tickets:
            if ticket.source == "dispenser" and dispenser is not None and dispenser.services:
                ticket.device_id = dispenser.id
                data = {"service": ticket.service_id, "button": dispenser.services.index(ticket.service_id) + 1}
                self.device_event(dispenser, site.id, ticket.issued - SECOND, "ticket_request", data)
            for at, kind, key in ticket.steps():
                if at <= self.end:
                    events.append((at, kind, ticket, ticket.window))
                    if key is not None and ticket.window in terminal:
                        data = {"window": ticket.window, "action": key, "ticket": ticket.label}
                        self.device_event(terminal[ticket.window], site.id, at, "terminal", data)
        events.sort(key=lambda event: (event[0], event[2] is not None))
        for seq, (at, kind, ticket, window) in enumerate(events, start=1):
            day, label, service, view = None, None, None, None
            if ticket is not None:
                ticket.last_seq, day, label, service = seq, ticket.day, ticket.label, ticket.service_id
                view = json.dumps({"number": label, "service": service, "status": kind})
            row = (site.id, seq, kind, at, at + 0.05 * SECOND, at + 0.3 * SECOND, day, label, service, window, view)
            self.rows["queue_event"].append(row)
        self.rows["queue_ticket"] += [ticket.row() for ticket in tickets]

    def settle(self, ticket: Ticket, window: str) -> Ticket:
        """What became of a ticket by the end of the history: a wait of about 12 minutes, 88 % served."""
        rng, issued = self.rng, ticket.issued
        ticket.source = rng.choices(("dispenser", "api", "appointment", "staff"), weights=(80, 10, 5, 5))[0]
        ticket.priority = rng.random() < 0.08
        appointment = ticket.appointment = issued + 10 * MINUTE if ticket.source == "appointment" else None
        wait = min(5400.0, 30 + rng.expovariate(1 / 720))  # seconds from issue (or appointment) to the call
        ticket.order_at = appointment or (issued - 10 * MINUTE if ticket.priority else issued)
        if rng.random() >= 0.1:  # else no estimate was shown
            ticket.shown_lo_s = 60 * round(wait * rng.uniform(0.5, 1.0) / 60)
            ticket.shown_hi_s = ticket.shown_lo_s + 60 * rng.randint(5, 15)
        if ticket.source in ("api", "appointment"):
            ticket.request_id = f"take-{ticket.day:%Y%m%d}-{ticket.label}"
        called = (appointment or issued) + wait * SECOND
        fate = rng.random()
        if fate < 0.94:
            ticket.status, ticket.called, ticket.window = "done" if fate < 0.88 else "no_show", called, window
            ticket.recalls = 0 if fate < 0.88 else rng.randint(1, 2)
            service_s = rng.uniform(120, 900) if fate < 0.88 else 90 * ticket.recalls + 90
            ticket.finished = called + service_s * SECOND
        else:
            ticket.status = "cancelled" if fate < 0.98 else "expired"
            ticket.finished = issued + rng.uniform(60, wait) * SECOND
        if ticket.finished is not None and ticket.finished > self.end:  # still at a window, or waiting, at the end
            ticket.finished, ticket.recalls = None, 0
            if ticket.called is not None and ticket.called <= self.end:
                ticket.status = "called"
            else:
                ticket.status, ticket.called, ticket.window = "waiting", None, None
        return ticket

    def device_event(self, device: Device, site_id: str, ts: datetime, kind: str, data: dict[str, Any]) -> None:
        if self.start <= ts < self.end:
            self.device_events[device.id, site_id, device.space].append((ts, kind, data))

    def doors(self, site: Site) -> None:
        """Card reads while the door's space is open, each followed by the door opening and closing."""
        rng = self.rng
        cards = [str(rng.randint(10_000_000, 99_999_999)) for _ in range(300)]
        for door in (d for d in site.devices if d.model == "modbus-door-controller"):
            reads = 0
            for day in self.days:
                for span in self.opening(site.space(door.space).hours, day):
                    reads_now = _poisson(rng, DOOR_READS_PER_HOUR * (span.end - span.start).total_seconds() / 3600)
                    for at in sorted(_uniform_in(rng, [span]) for _ in range(reads_now)):
                        reads += 1
                        self.device_event(door, site.id, at, "access", {"card": rng.choice(cards), "reads": reads})
                        for ts, closed in ((at + SECOND, False), (at + rng.uniform(4, 9) * SECOND, True)):
                            data = {"closed": closed, "exit_requested": False, "strike_released": not closed}
                            self.device_event(door, site.id, ts, "door", data)

    def statuses(self) -> None:
        """Every device and agent online from the start; a few episodes a day of one going stale (or offline)."""
        rng = self.rng
        devices = [(s.id, d) for s in self.belt.sites for d in (*(x.id for x in s.devices), "_agent")]
        state = dict.fromkeys(devices, ("online", self.start))
        changes = self.rows["device_status_change"]
        changes += [(*key, "online", None, self.start, "", self.start + SECOND) for key in devices]
        for day in range((self.end - self.start).days + 1):
            for episode in range(STATUS_EPISODES_PER_DAY):  # 4 h apart, each over within 70 min: never overlapping
                key = rng.choice(devices)
                stale = self.start + timedelta(days=day, hours=1 + 4 * episode + rng.uniform(0, 2.5))
                steps = [(stale, "stale", "online", "no report for 3 intervals")]
                if rng.random() < 0.4:
                    steps.append((stale + 2 * MINUTE, "offline", "stale", "unreachable"))
                steps.append((stale + rng.uniform(3, 65) * MINUTE, "online", steps[-1][1], ""))
                for at, new, old, detail in (step for step in steps if step[0] < self.end):
                    changes.append((*key, new, old, at, detail, at + 2 * SECOND))
                    state[key] = (new, at)
        for (site_id, device_id), (now, since) in state.items():
            seen = self.end - rng.uniform(1, 30) * SECOND if now == "online" else since
            reported = None if device_id == "_agent" else self.end - 5 * SECOND  # an agent's own status has none
            row = (site_id, device_id, now, since, seen, "", reported, self.end - 4 * SECOND)
            self.rows["device_status"].append(row)

    def rejects(self) -> None:
        """One to six rejected messages a day."""
        rng, reasons = self.rng, ("schema", "unknown_device", "bad_topic", "future_timestamp", "not_json")
        for day in range((self.end - self.start).days):
            for _ in range(rng.randint(1, 6)):
                at, reason = self.start + timedelta(days=day + rng.random()), rng.choice(reasons)
                payload = json.dumps({"schema": "occupancy.v1", "seq": rng.randint(1, 10**6)}).encode()
                topic = f"sc/v1/{rng.choice(self.belt.sites).id}/unknown-{rng.randint(1, 9)}/event/occupancy"
                self.rows["ingest_reject"].append((at, topic, reason, f"{reason}: bench", payload, len(payload)))


def _poisson(rng: random.Random, mean: float) -> int:
    """A count of random arrivals: its normal approximation (mean, give or take its square root) is close enough."""
    return max(0, round(rng.gauss(mean, math.sqrt(mean))))


def _uniform_in(rng: random.Random, spans: Sequence[Span]) -> datetime:
    """A uniformly random instant of the spans (weighted by their lengths; an overlap counts twice)."""
    lengths = [(s.end - s.start).total_seconds() for s in spans]
    point = rng.uniform(0, sum(lengths))
    for span, length in zip(spans, lengths, strict=True):
        if point < length:
            return span.start + point * SECOND
        point -= length
    return spans[-1].end - SECOND


def _create_temporary_tables(conn: psycopg.Connection[Any]) -> None:
    """What the readings' SQL needs besides the catalogue: opening hours, occupancy devices, bookable rooms' use."""
    conn.execute("CREATE TEMP TABLE bench_hours (site_id text, space_id text, isodow int, start_min int, end_min int)")
    conn.execute(
        "CREATE TEMP TABLE bench_occupancy_device (site_id text, device_id text, space_id text, interval_s int,"
        " phase_s int, most int, share float8, load float8, bookable bool)"
    )
    conn.execute("CREATE TEMP TABLE bench_presence (site_id text, space_id text, during tstzrange, people int)")


def fill_history(conn: psycopg.Connection[Any], belt: Belt, *, start: datetime, end: datetime, seed: int = 7) -> None:
    """Write the history of [start, end) into the migrated database of ``conn`` (catalogue already synced); the
    caller commits. Leaves the temporary tables bench_* behind in the session."""
    conn.execute("SET TIME ZONE 'UTC'; SET synchronous_commit = off")
    conn.execute("SELECT setseed(%s)", (1 / (seed + 1),))
    _create_temporary_tables(conn)
    with conn.cursor() as cur, cur.copy("COPY account (login, display_name, role, created_at) FROM STDIN") as copy:
        for login, role in (("bench-staff", "staff"), *((f"bench-organiser-{i}", "organiser") for i in (1, 2, 3))):
            copy.write_row((login, login.replace("-", " ").title(), role, start))
    owners = [row[0] for row in conn.execute("SELECT id FROM account WHERE role = 'organiser' ORDER BY id")]
    builder = HistoryBuilder(belt, start=start, end=end, seed=seed)
    builder.build(owners)
    with conn.cursor() as cur:
        for table, (columns, arrival) in COPY_COLUMNS.items():
            rows = builder.rows.get(table, [])
            if arrival is not None:
                rows.sort(key=lambda row: row[arrival])
            with cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
    conn.execute("SELECT setval(pg_get_serial_sequence('booking', 'id'), (SELECT max(id) FROM booking))")
    conn.execute("CREATE INDEX ON bench_presence USING gist (site_id, space_id, during)")
    conn.execute("ANALYZE bench_presence")
    seconds = int((end - start).total_seconds())
    conn.execute(_READINGS_SQL, {"seconds": seconds, "start": start, "tz": belt.timezone})
    if conn.execute("SELECT to_regclass('edge_outbox_sample')").fetchone() != (None,):
        conn.execute(_OUTBOX_SQL, {"start": start, "end": end, "max_rows": OUTBOX_MAX_ROWS})
