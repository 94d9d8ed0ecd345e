"""Events, device health and commands against the machine's real PostgreSQL: idempotent events, status upserts with
their history, and answers recorded on their commands."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from devices.commands import new_command
from devices.device_status import HealthState
from server.db.commands import AnswerOutcome, CommandAnswer, get_command, insert_command, mark_unanswered, record_answer
from server.db.device_health import StatusUpdate, record_statuses, site_health, status_history
from server.db.errors import DatabaseError
from server.db.events import StoredEvent, events_of_site, insert_events
from server.db.migrate import apply_migrations

SITE = "complex"
DOOR = "complex-sharing-space-door"
T0 = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)


@pytest.fixture
def conn(pg_dsn: str) -> Iterator[psycopg.Connection[Any]]:
    apply_migrations(pg_dsn)
    with psycopg.connect(pg_dsn) as connection:
        yield connection


def event(seq: int, *, kind: str = "door", ts: datetime = T0, data_json: str = '{"closed":true}') -> StoredEvent:
    return StoredEvent(
        device_id=DOOR,
        seq=seq,
        ts=ts,
        received_at=ts + timedelta(seconds=1),
        site_id=SITE,
        space_id="sharing-space",
        kind=kind,
        data_json=data_json,
    )


def test_events_are_stored_with_their_data_and_a_replay_inserts_nothing(conn: psycopg.Connection[Any]) -> None:
    batch = [
        event(1, kind="access", data_json='{"card":"12345678","reads":41,"missed":0}'),
        event(1, kind="access", data_json='{"card":"12345678","reads":41,"missed":0}'),  # delivered twice
        event(2, ts=T0 + timedelta(seconds=5), data_json='{"closed":false,"exit_requested":true}'),
    ]
    assert insert_events(conn, events=batch) == 2
    conn.commit()
    assert insert_events(conn, events=batch) == 0  # the whole batch again, after a crash before the ack
    conn.commit()

    rows = events_of_site(conn, site_id=SITE)
    assert [(row.seq, row.kind) for row in rows] == [(2, "door"), (1, "access")]
    assert rows[1].data == {"card": "12345678", "reads": 41, "missed": 0}
    assert [row.seq for row in events_of_site(conn, site_id=SITE, kind="access")] == [1]


def test_an_event_whose_data_is_not_an_object_fails_the_batch(conn: psycopg.Connection[Any]) -> None:
    with pytest.raises(DatabaseError, match="insert device events"):
        insert_events(conn, events=[event(1, data_json="[1, 2]")])


def status(
    state: HealthState, *, at: datetime, device_id: str = DOOR, reported: bool = True, detail: str = ""
) -> StatusUpdate:
    return StatusUpdate(
        site_id=SITE,
        device_id=device_id,
        state=state,
        since=at if reported else None,
        last_seen=at - timedelta(seconds=30) if reported else None,
        detail=detail,
        reported_at=at if reported else None,
        received_at=at + timedelta(seconds=1),
    )


def test_status_keeps_the_newest_report_and_appends_history_only_when_the_state_changes(
    conn: psycopg.Connection[Any],
) -> None:
    reports = [
        status("online", at=T0),
        status("online", at=T0),  # the retained report again, after a reconnect
        status("offline", at=T0 + timedelta(minutes=5), detail="timeout"),
        status("offline", at=T0 + timedelta(minutes=6), detail="timeout"),
        status("online", at=T0 + timedelta(minutes=9)),
    ]
    changes = record_statuses(conn, updates=reports)
    conn.commit()

    assert [(c.previous_state, c.state, c.changed_at) for c in changes] == [
        (None, "online", T0),
        ("online", "offline", T0 + timedelta(minutes=5)),
        ("offline", "online", T0 + timedelta(minutes=9)),
    ]
    assert [(c.previous_state, c.state) for c in status_history(conn, site_id=SITE, device_id=DOOR)] == [
        (None, "online"),
        ("online", "offline"),
        ("offline", "online"),
    ]
    health = site_health(conn, site_id=SITE)[DOOR]
    later = T0 + timedelta(minutes=9)
    assert (health.state, health.since, health.reported_at) == ("online", later, later)


def test_an_older_report_arriving_late_changes_nothing(conn: psycopg.Connection[Any]) -> None:
    record_statuses(conn, updates=[status("offline", at=T0 + timedelta(minutes=5))])
    assert record_statuses(conn, updates=[status("online", at=T0)]) == []
    conn.commit()
    assert site_health(conn, site_id=SITE)[DOOR].state == "offline"
    assert len(status_history(conn, site_id=SITE, device_id=DOOR)) == 1


def test_each_sites_agent_has_its_own_status(conn: psycopg.Connection[Any]) -> None:
    agent = status("online", at=T0, device_id="_agent", reported=False)
    other_site = StatusUpdate("affairs-center", "_agent", "lost", None, None, "", None, T0)
    changes = record_statuses(conn, updates=[agent, other_site])
    conn.commit()

    assert [(c.site_id, c.state, c.changed_at) for c in changes] == [
        (SITE, "online", agent.received_at),  # no since nor reported_at: the change is dated when it was received
        ("affairs-center", "lost", T0),
    ]
    assert site_health(conn, site_id=SITE)["_agent"].state == "online"
    assert site_health(conn, site_id="affairs-center")["_agent"].state == "lost"


def issued(conn: psycopg.Connection[Any], command_id: str = "c0ffee") -> None:
    command = new_command(command_id, "unlock", {"seconds": 5}, now=T0, ttl=timedelta(seconds=30))
    insert_command(conn, site_id=SITE, device_id=DOOR, command=command)
    conn.commit()


def answer(command_id: str = "c0ffee", *, device_id: str = DOOR, status: str = "done") -> CommandAnswer:
    return CommandAnswer(
        command_id=command_id,
        site_id=SITE,
        device_id=device_id,
        action="unlock",
        status=status,
        detail="",
        data_json='{"held_s":5}',
        answered_at=T0 + timedelta(seconds=1),
    )


def test_an_answer_is_recorded_once_on_its_command(conn: psycopg.Connection[Any]) -> None:
    issued(conn)
    command = get_command(conn, command_id="c0ffee")
    assert command is not None
    assert (command.status, command.args, command.expires_at) == ("sent", {"seconds": 5}, T0 + timedelta(seconds=30))

    assert record_answer(conn, answer=answer()) is AnswerOutcome.RECORDED
    assert record_answer(conn, answer=answer(status="failed")) is AnswerOutcome.ALREADY_ANSWERED
    conn.commit()

    command = get_command(conn, command_id="c0ffee")
    assert command is not None
    assert (command.status, command.result_data, command.answered_at) == (
        "done",
        {"held_s": 5},
        T0 + timedelta(seconds=1),
    )


def test_answers_for_unknown_commands_or_from_another_device_change_nothing(conn: psycopg.Connection[Any]) -> None:
    issued(conn)
    assert record_answer(conn, answer=answer("feed")) is AnswerOutcome.UNKNOWN_COMMAND
    other = answer(device_id="complex-council-hall-door")
    assert record_answer(conn, answer=other) is AnswerOutcome.OTHER_TARGET
    conn.commit()
    command = get_command(conn, command_id="c0ffee")
    assert command is not None
    assert command.status == "sent"


def test_a_command_past_expiry_and_grace_becomes_unanswered_and_a_late_answer_still_counts(
    conn: psycopg.Connection[Any],
) -> None:
    issued(conn)
    grace = timedelta(seconds=15)
    assert mark_unanswered(conn, now=T0 + timedelta(seconds=44), grace=grace) == 0  # answer may still be on its way
    assert mark_unanswered(conn, now=T0 + timedelta(seconds=45), grace=grace) == 1
    conn.commit()
    command = get_command(conn, command_id="c0ffee")
    assert command is not None
    assert command.status == "unanswered"

    assert record_answer(conn, answer=answer()) is AnswerOutcome.RECORDED
    conn.commit()
    command = get_command(conn, command_id="c0ffee")
    assert command is not None
    assert command.status == "done"
