"""The site queue survives a restart: saved in SQLite after each change, loaded into a new queue, carried on."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from edge.queue.engine import QueueOutcome, SiteQueue
from edge.queue.store import create_queue_tables, load_state, save_outcome
from tests.unit.test_queue_engine import SHANGHAI, hall, local


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    path = tmp_path / "outbox.sqlite3"
    with closing(sqlite3.connect(path)) as db, db:
        create_queue_tables(db)
        create_queue_tables(db)  # idempotent: the agent runs it at every start
    return path


def saved(path: Path, queue: SiteQueue, outcome: QueueOutcome) -> QueueOutcome:
    """Save as the agent does: one transaction per change."""
    db = sqlite3.connect(path)
    try:
        with db:
            save_outcome(db, queue.state, outcome)
    finally:
        db.close()
    return outcome


def restarted(path: Path) -> SiteQueue:
    db = sqlite3.connect(path)
    try:
        state = load_state(db)
    finally:
        db.close()
    return SiteQueue(hall(), tz=SHANGHAI, state=state)


def test_nothing_saved_yet_loads_as_none(db_path: Path) -> None:
    with closing(sqlite3.connect(db_path)) as db:
        assert load_state(db) is None


def test_a_restarted_queue_continues_numbers_remembers_requests_and_keeps_order_and_windows(db_path: Path) -> None:
    queue = restarted(db_path)
    saved(db_path, queue, queue.window_action(window="window-1", action="open", now=local(9), staff="li.wei"))
    saved(db_path, queue, queue.take(service="affairs", now=local(9, 1), source="api", request_id="cmd-1"))
    saved(db_path, queue, queue.take(service="affairs", now=local(9, 2), source="dispenser"))
    saved(db_path, queue, queue.take(service="culture", now=local(9, 3), source="dispenser"))
    saved(db_path, queue, queue.take(service="affairs", now=local(9, 11), source="api", priority=True))  # A003
    saved(db_path, queue, queue.window_action(window="window-1", action="call_next", now=local(9, 13)))
    saved(db_path, queue, queue.window_action(window="window-1", action="call_next", now=local(9, 20)))
    saved(db_path, queue, queue.window_action(window="window-2", action="open", now=local(9, 21)))
    before = queue.board(local(9, 22))

    again = restarted(db_path)
    assert again.board(local(9, 22)) == before
    assert [again.position(n) for n in ("A001", "A002", "A003", "C001")] == [None, 0, None, 0]
    assert again.state.windows["window-1"].staffed_by == "li.wei"
    assert again.state.windows["window-1"].serving == "A003"  # the priority ticket passed A002
    repeat = again.take(service="affairs", now=local(9, 23), source="api", request_id="cmd-1")
    assert (repeat.events, repeat.ticket and repeat.ticket.number) == ((), "A001")
    assert saved(db_path, again, again.take(service="affairs", now=local(9, 24), source="api")).ticket is not None
    assert again.state.tickets["A004"].sequence == 5
    order = [saved(db_path, again, again.window_action(window="window-2", action="call_next", now=local(9, m)))
             for m in (25, 30, 35)]  # fmt: skip
    assert [o.ticket.number for o in order if o.ticket] == ["A002", "C001", "A004"]
    assert again.state.service_times["affairs"]  # the occupancy learned so far was kept and grows

    third = restarted(db_path)
    assert third.board(local(9, 40)) == again.board(local(9, 40))


def test_a_restart_on_a_later_day_expires_the_saved_day_and_numbers_start_again(db_path: Path) -> None:
    queue = restarted(db_path)
    saved(db_path, queue, queue.take(service="affairs", now=local(16), source="dispenser"))
    saved(db_path, queue, queue.take(service="affairs", now=local(16, 1), source="dispenser"))
    tomorrow = restarted(db_path)
    rolled = saved(db_path, tomorrow, tomorrow.tick(local(8, day=28)))
    assert [e.kind for e in rolled.events] == ["expired", "expired"]
    fresh = saved(db_path, tomorrow, tomorrow.take(service="affairs", now=local(8, 30, day=28), source="api"))
    assert fresh.ticket is not None
    assert (fresh.ticket.number, fresh.ticket.day) == ("A001", "2026-11-28")
    with closing(sqlite3.connect(db_path)) as db:
        rows = db.execute("SELECT day, number, status FROM queue_tickets ORDER BY day, number").fetchall()
    assert rows == [
        ("2026-11-27", "A001", "expired"),
        ("2026-11-27", "A002", "expired"),
        ("2026-11-28", "A001", "waiting"),
    ]
    assert list(restarted(db_path).state.tickets) == ["A001"]
