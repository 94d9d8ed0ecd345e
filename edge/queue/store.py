"""The site queue's state in the outbox's SQLite file (tables prefixed ``queue_``).

The functions run on a connection the caller holds inside a transaction, the same one that submits the events of
the change to the outbox: a number is never issued without its event, nor an event sent for a number not saved.

- ``queue_meta``: one row, ``state``: the day, counters per prefix, issue sequence, learned service times and the
  last numbers issued and called (JSON).
- ``queue_tickets``: one row per ticket and day, its :class:`~devices.queue_contract.TicketView` as JSON plus what
  the queue needs besides (issue sequence, latest call). Earlier days' rows stay as the site's record.
- ``queue_windows``: one row per window.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from devices.queue_contract import TicketView, queue_text, queue_time
from edge.queue.engine import QueueOutcome
from edge.queue.state import QueueState, QueueTicket, WindowState

QUEUE_SCHEMA_SQL: tuple[str, ...] = (
    "CREATE TABLE IF NOT EXISTS queue_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS queue_tickets (
        day TEXT NOT NULL,
        number TEXT NOT NULL,
        sequence INTEGER NOT NULL,
        status TEXT NOT NULL,
        last_called_at TEXT,
        view TEXT NOT NULL,
        PRIMARY KEY (day, number)
    )""",
    """CREATE TABLE IF NOT EXISTS queue_windows (
        id TEXT PRIMARY KEY,
        open INTEGER NOT NULL,
        staffed_by TEXT,
        serving TEXT
    )""",
)
_STATE_KEY = "state"


def create_queue_tables(db: sqlite3.Connection) -> None:
    for statement in QUEUE_SCHEMA_SQL:
        db.execute(statement)


def save_outcome(db: sqlite3.Connection, state: QueueState, outcome: QueueOutcome) -> None:
    """Write what ``outcome`` changed (tickets, windows) and the state's counters; the caller commits."""
    db.execute(
        "INSERT INTO queue_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (_STATE_KEY, json.dumps(_meta(state), separators=(",", ":"))),
    )
    for view in outcome.changed_tickets:
        held = state.tickets.get(view.number) if view.day == state.day else None
        sequence = 0 if held is None else held.sequence  # 0: an earlier day's ticket, never ordered again
        last_call = None if held is None or held.last_called_at is None else queue_text(held.last_called_at)
        db.execute(
            """INSERT INTO queue_tickets (day, number, sequence, status, last_called_at, view)
               VALUES (?, ?, ?, ?, ?, ?)
               ON CONFLICT (day, number) DO UPDATE SET sequence = excluded.sequence, status = excluded.status,
                   last_called_at = excluded.last_called_at, view = excluded.view""",
            (view.day, view.number, sequence, view.status, last_call, view.model_dump_json()),
        )
    for window in state.windows.values():  # a handful of rows: all of them, so they cannot drift
        db.execute(
            """INSERT INTO queue_windows (id, open, staffed_by, serving) VALUES (?, ?, ?, ?)
               ON CONFLICT (id) DO UPDATE SET open = excluded.open, staffed_by = excluded.staffed_by,
                   serving = excluded.serving""",
            (window.id, int(window.open), window.staffed_by, window.serving),
        )


def load_state(db: sqlite3.Connection) -> QueueState | None:
    """The saved state (the saved day's tickets); None when nothing was saved yet."""
    row = db.execute("SELECT value FROM queue_meta WHERE key = ?", (_STATE_KEY,)).fetchone()
    if row is None:
        return None
    meta: dict[str, Any] = json.loads(row[0])
    state = QueueState(
        day=meta["day"],
        counters={str(k): int(v) for k, v in meta["counters"].items()},
        sequence=int(meta["sequence"]),
        service_times={str(k): [float(x) for x in v] for k, v in meta["service_times"].items()},
        last_called={str(k): str(v) for k, v in meta["last_called"].items()},
        last_issued={str(k): str(v) for k, v in meta["last_issued"].items()},
    )
    tickets = db.execute(
        "SELECT sequence, last_called_at, view FROM queue_tickets WHERE day = ? ORDER BY sequence", (state.day,)
    )
    for sequence, last_call, view in tickets:
        ticket = QueueTicket.from_view(
            TicketView.model_validate_json(view),
            sequence=int(sequence),
            last_called_at=None if last_call is None else queue_time(str(last_call)),
        )
        state.tickets[ticket.number] = ticket
    for window_id, is_open, staffed_by, serving in db.execute(
        "SELECT id, open, staffed_by, serving FROM queue_windows ORDER BY id"
    ):
        state.windows[str(window_id)] = WindowState(str(window_id), bool(is_open), staffed_by, serving)
    return state


def _meta(state: QueueState) -> dict[str, Any]:
    return {
        "day": state.day,
        "counters": state.counters,
        "sequence": state.sequence,
        "service_times": state.service_times,
        "last_called": state.last_called,
        "last_issued": state.last_issued,
    }
