"""``smartcomplex score releases`` reads a real database: the truth's bookings by external_ref, their audit trail,
the holds offered in the run's spaces and each space's policy row; it prints the figures as JSON and exits 0."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from psycopg.types.range import Range

from server.cli import main
from server.db.migrate import apply_migrations
from tests.unit.test_release_score import at, truth_document


def test_the_figures_of_a_stored_day_are_printed_as_json(
    pg_dsn: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    apply_migrations(pg_dsn)
    with psycopg.connect(pg_dsn) as connection:
        owner = connection.execute(
            "INSERT INTO account (login, display_name, role) VALUES ('party-branch-1', 'Branch', 'organiser')"
            " RETURNING id"
        ).fetchone()
        assert owner is not None

        def booking(ref: str, space: str, start: str, minutes: int, status: str) -> int:
            during = Range(at(start), at(start) + timedelta(minutes=minutes), "[)")
            row = connection.execute(
                "INSERT INTO booking (site_id, space_id, during, owner_id, created_by, attendees, status,"
                " external_ref, created_at, updated_at) VALUES ('s', %s, %s, %s, %s, 3, %s, %s, %s, %s) RETURNING id",
                (space, during, owner[0], owner[0], status, ref, at("00:00:00"), at("00:00:00")),
            ).fetchone()
            assert row is not None
            return int(row[0])

        def event(booking_id: int | None, space: str, when: str, kind: str) -> None:
            connection.execute(
                "INSERT INTO booking_event (at, site_id, space_id, booking_id, kind) VALUES (%s, 's', %s, %s, %s)",
                (at(when), space, booking_id, kind),
            )

        first = booking("s/room/1", "room", "01:00:00", 60, "released")
        event(first, "room", "01:10:30", "released")
        event(None, "room", "01:10:31", "hold_offered")
        hall = booking("s/hall/9", "hall", "09:00:00", 30, "released")
        event(hall, "hall", "09:15:40", "released")  # in time under the hall's 15 minutes of grace
        booking("s/room/4", "room", "02:00:00", 60, "checked_in")
        booking("someone-else", "room", "03:00:00", 30, "confirmed")  # not the scenario's
        connection.execute(
            "INSERT INTO space_policy (site_id, space_id, mode, grace_s, warn_after_s, checkin_opens_s,"
            " undo_window_s, hold_s, strikes_to_cancel_series, auto_book_unbooked, release_without_sensor,"
            " updated_at) VALUES ('s', 'hall', 'enforce', 900, 300, 900, 900, 600, 3, false, false, now())"
        )
    truth = tmp_path / "truth.json"
    truth.write_text(json.dumps(truth_document()), encoding="utf-8")

    assert main(["score", "releases", "--truth", str(truth), "--database-url", pg_dsn]) == 0

    figures = json.loads(capsys.readouterr().out)
    assert figures["bookings_in_truth"] == 9
    assert figures["bookings_entered"] == 3
    assert figures["no_shows"] == 5
    assert figures["released_in_time"] == 2
    assert figures["not_released"] == 0
    assert figures["no_shows_not_entered"] == 3
    assert figures["false_releases"] == 0
    assert figures["waitlist_offers"] == 1
    assert figures["per_space"]["s/hall"]["grace_s"] == 900
    assert figures["per_space"]["s/room"]["mode"] == "enforce"
