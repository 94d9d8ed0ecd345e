"""The ground truth of a scenario run as JSON, to score the system's decisions against: ``smartcomplex.truth/v1``.

Written atomically (a temporary file in the same directory, fsynced, then renamed over the target), so a reader
never sees half a file. The JSON Schema beside this module (``truth.schema.json``) is the exact shape; in words:

    {
      "schema": "smartcomplex.truth/v1",
      "scenario": "day" | "sensor-dropout" | "dead-modbus" | "uplink-cut" | "crowd-surge",
      "seed": 7, "timezone": "Asia/Shanghai", "day": "2026-11-27",        # the local date planned
      "from": T, "until": T | null,         # the simulated span covered; null: to the end of the day
      "sites": ["complex", ...],
      "spaces": [{"site", "space", "kind", "capacity", "bookable",
                  "turned_away": people who found it full,
                  "headcount": [[T, people], ...]}],     # true count from T until the next entry; first at "from"
      "bookings": [{"id", "site", "space", "start", "end", "organiser_kind", "organiser_card",
                    "attendees": people who came (0 for a no-show),
                    "outcome": "attended" | "late" | "no_show" | "ended_early",
                    "arrived_at": T | null,    # first person in (late: 5-20 min after start)
                    "emptied_at": T | null,    # last person out (ended_early: well before end)
                    "cut": bool}],             # the booking was not over at "until"
      "tickets": [{"site", "ticket": "A001", "service", "taken_at", "waiting_space",
                   "outcome": "served" | "left" | "not_called",
                   "called_at", "window", "served_from", "served_to",   # T | null
                   "left_at",                  # left: gave up waiting; not_called: sent home at closing
                   "recalled_at", "no_show_at",   # a window called a ticket whose holder had left
                   "cut": bool}],
      "windows": [{"site", "window", "open_at", "close_at": T | null, "staff_card", "after_break", "cut": bool}],
      "card_uses": [{"at", "site", "space", "card", "holder": "staff:<window>" | "organiser:<booking id>"}],
      "faults": [{"kind", "site": str | null, "device": str | null, "space": str | null, "people": int | null,
                  "from": T, "until": T | null}]      # until null: to the end of the run
    }

T is an RFC 3339 UTC instant (``2026-11-27T01:00:00Z``). Everything planned at or after ``until`` is left out
(items that start then) or null (later facts of an item that started before; its ``cut`` is true). An ``outcome``
is what the people did or were about to do, even when its times fell after ``until``.
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from simulators.scenario.plan import ScenarioPlan

TRUTH_SCHEMA = "smartcomplex.truth/v1"
JSON_SCHEMA_RESOURCE = "truth.schema.json"


def instant(at: datetime) -> str:
    text = at.astimezone(UTC).isoformat(timespec="seconds" if at.microsecond == 0 else "microseconds")
    return text.replace("+00:00", "Z")


def truth_json_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(
        resources.files("simulators.scenario").joinpath(JSON_SCHEMA_RESOURCE).read_text(encoding="utf-8")
    )
    return schema


def truth_document(plan: ScenarioPlan, *, until: datetime | None = None) -> dict[str, Any]:
    """The truth of ``plan`` from its begin to ``until`` (None: the whole planned day)."""

    def before(at: datetime | None) -> bool:
        return at is not None and (until is None or at < until)

    def kept(at: datetime | None) -> str | None:
        return instant(at) if at is not None and before(at) else None

    def cut(*times: datetime | None) -> bool:
        return any(at is not None and not before(at) for at in times)

    spaces = []
    for space in plan.spaces:
        changes = [(at, people) for at, people in space.headcount if before(at)]
        if not changes or changes[0][0] > plan.begin:
            changes.insert(0, (plan.begin, 0))
        spaces.append(
            {
                "site": space.site,
                "space": space.space,
                "kind": space.kind,
                "capacity": space.capacity,
                "bookable": space.bookable,
                "turned_away": space.turned_away,
                "headcount": [[instant(at), people] for at, people in changes],
            }
        )
    bookings = [
        {
            "id": b.id,
            "site": b.site,
            "space": b.space,
            "start": instant(b.start),
            "end": instant(b.end),
            "organiser_kind": b.organiser_kind,
            "organiser_card": b.organiser_card,
            "attendees": b.attendees,
            "outcome": b.outcome,
            "arrived_at": kept(b.arrived_at),
            "emptied_at": kept(b.emptied_at),
            "cut": cut(b.end),
        }
        for b in plan.bookings
        if before(b.start)
    ]
    tickets = [
        {
            "site": t.site,
            "ticket": t.number,
            "service": t.service,
            "taken_at": instant(t.taken_at),
            "waiting_space": t.waiting_space,
            "outcome": t.outcome,
            "called_at": kept(t.called_at),
            "window": t.window if before(t.called_at) else None,
            "served_from": kept(t.served_from),
            "served_to": kept(t.served_to),
            "left_at": kept(t.left_at),
            "recalled_at": kept(t.recalled_at),
            "no_show_at": kept(t.no_show_at),
            "cut": cut(t.called_at, t.served_from, t.served_to, t.left_at, t.recalled_at, t.no_show_at),
        }
        for t in plan.tickets
        if before(t.taken_at)
    ]
    windows = [
        {
            "site": s.site,
            "window": s.window,
            "open_at": instant(s.open_at),
            "close_at": kept(s.close_at),
            "staff_card": s.staff_card,
            "after_break": s.after_break,
            "cut": cut(s.close_at),
        }
        for s in plan.sessions
        if before(s.open_at)
    ]
    card_uses = [
        {"at": instant(c.at), "site": c.site, "space": c.space, "card": c.card, "holder": c.holder}
        for c in plan.card_uses
        if before(c.at)
    ]
    faults = [
        {
            "kind": f.kind,
            "site": f.site,
            "device": f.device,
            "space": f.space,
            "people": f.people,
            "from": instant(f.start),
            "until": kept(f.end),
        }
        for f in plan.faults
        if before(f.start)
    ]
    return {
        "schema": TRUTH_SCHEMA,
        "scenario": plan.scenario,
        "seed": plan.seed,
        "timezone": plan.timezone,
        "day": plan.day.isoformat(),
        "from": instant(plan.begin),
        "until": instant(until) if until is not None else None,
        "sites": list(plan.site_ids),
        "spaces": spaces,
        "bookings": bookings,
        "tickets": tickets,
        "windows": windows,
        "card_uses": card_uses,
        "faults": faults,
    }


def write_truth(path: Path, plan: ScenarioPlan, *, until: datetime | None = None) -> None:
    """Write the truth document to ``path`` atomically; OSError when the directory cannot be written."""
    text = json.dumps(truth_document(plan, until=until), ensure_ascii=False, indent=1) + "\n"
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
