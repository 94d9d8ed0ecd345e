"""Scoring the release policy against a scenario's ground truth: hand-built truth and rows in, figures out."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from server.cli import main
from server.domain.release_types import ReleasePolicy
from server.scoring.release_score import StoredBooking, StoredEvent, score_releases
from server.scoring.truth import TruthError, parse_truth

DAY = datetime(2026, 12, 4, tzinfo=UTC)


def at(hhmmss: str) -> datetime:
    hours, minutes, seconds = (int(part) for part in hhmmss.split(":"))
    return DAY + timedelta(hours=hours, minutes=minutes, seconds=seconds)


def z(hhmmss: str) -> str:
    return at(hhmmss).isoformat().replace("+00:00", "Z")


def truth_booking(
    space: str, number: int, start: str, end: str, outcome: str, arrived: str | None = None, emptied: str | None = None
) -> dict[str, Any]:
    return {
        "id": f"s/{space}/{number}",
        "site": "s",
        "space": space,
        "start": z(start),
        "end": z(end),
        "organiser_kind": "party-branch",
        "organiser_card": 123456,
        "attendees": 0 if outcome == "no_show" else 3,
        "outcome": outcome,
        "arrived_at": None if arrived is None else z(arrived),
        "emptied_at": None if emptied is None else z(emptied),
        "cut": False,
    }


def truth_document() -> dict[str, Any]:
    room = [["00:00:00", 0], ["02:15:00", 3], ["03:00:00", 0], ["05:12:00", 4], ["06:00:00", 0]]
    room += [["06:58:00", 2], ["07:50:00", 0]]
    return {
        "schema": "smartcomplex.truth/v1",
        "scenario": "day",
        "seed": 7,
        "timezone": "Asia/Shanghai",
        "day": "2026-12-04",
        "from": z("00:00:00"),
        "until": z("10:00:00"),
        "sites": ["s"],
        "spaces": [
            {
                "site": "s",
                "space": space,
                "kind": "meeting-room",
                "capacity": 10,
                "bookable": True,
                "turned_away": 0,
                "headcount": [[z(t), people] for t, people in counts],
            }
            for space, counts in (("room", room), ("hall", [("00:00:00", 0)]))
        ],
        "bookings": [
            truth_booking("room", 1, "01:00:00", "02:00:00", "no_show"),
            truth_booking("room", 2, "04:00:00", "05:00:00", "no_show"),
            truth_booking("room", 3, "05:00:00", "06:00:00", "late", arrived="05:12:00", emptied="06:00:00"),
            truth_booking("room", 4, "02:00:00", "03:00:00", "attended", arrived="02:15:00", emptied="03:00:00"),
            truth_booking("room", 5, "07:00:00", "09:00:00", "ended_early", arrived="06:58:00", emptied="07:50:00"),
            truth_booking("room", 6, "09:55:00", "10:30:00", "no_show"),  # its grace ends after the run
            truth_booking("hall", 7, "07:00:00", "07:30:00", "no_show"),  # never entered
            truth_booking("hall", 8, "08:00:00", "08:30:00", "no_show"),
            truth_booking("hall", 9, "09:00:00", "09:30:00", "no_show"),
        ],
        "tickets": [],
        "windows": [],
        "card_uses": [],
        "faults": [],
    }


def row(number: int, space: str = "room", status: str = "confirmed", booking_id: int | None = None) -> StoredBooking:
    return StoredBooking(booking_id or number, f"s/{space}/{number}", "s", space, status)


def event(booking_id: int | None, hhmmss: str, kind: str, space: str = "room", mode: str = "enforce") -> StoredEvent:
    return StoredEvent(booking_id, "s", space, at(hhmmss), kind, mode)


ROWS = [
    row(1, status="released"),
    row(2, status="released"),
    row(3, status="checked_in"),
    row(4, status="released"),
    row(5, status="ended"),
    row(6),
    row(8, "hall"),
    row(9, "hall", status="released"),
]
EVENTS = [
    event(1, "01:10:30", "released"),  # within grace (10 min) + 1 min
    event(2, "04:11:30", "released"),  # 30 s past grace + 1 min
    event(3, "05:10:05", "released"),
    event(3, "05:12:30", "undone"),  # the late people came and got it back
    event(4, "02:20:00", "released"),  # with three people in the room: a false release
    event(5, "08:06:00", "ended_early"),
    event(9, "09:15:40", "released", space="hall"),  # the hall's grace is 15 minutes
    event(9, "09:05:00", "would_release", space="hall", mode="shadow"),
    event(100, "01:10:31", "hold_offered"),
    event(101, "10:00:00", "hold_offered"),  # after the run: not counted
]
POLICIES = {("s", "hall"): ReleasePolicy(grace=timedelta(minutes=15), warn_after=timedelta(minutes=5))}


def test_the_figures_follow_the_truth_and_the_audit_trail() -> None:
    figures = score_releases(parse_truth(truth_document()), bookings=ROWS, events=EVENTS, policies=POLICIES)

    assert figures["bookings_in_truth"] == 9
    assert figures["bookings_entered"] == 8
    assert figures["no_shows"] == 5  # 1, 2, 7, 8, 9: booking 6's grace ends after the run
    assert figures["released_in_time"] == 2  # 1, and 9 under the hall's longer grace
    assert figures["released_late"] == 1
    assert figures["not_released"] == 1
    assert figures["no_shows_not_entered"] == 1
    assert figures["false_releases"] == 1
    assert figures["late_arrivals"] == 1
    assert figures["late_arrivals_released_then_undone"] == 1
    assert figures["late_arrivals_lost"] == 0
    assert figures["undo_restored"] == 1
    assert figures["ended_early"] == 1
    assert figures["ended_early_by_system"] == 1
    assert figures["ended_while_occupied"] == 0
    assert figures["waitlist_offers"] == 1
    assert figures["per_space"]["s/hall"] == {
        "mode": "enforce",
        "grace_s": 900,
        "bookings_in_truth": 3,
        "bookings_entered": 2,
        "no_shows": 3,
        "released_in_time": 1,
        "released_late": 0,
        "not_released": 1,
        "no_shows_not_entered": 1,
        "false_releases": 0,
        "releases_as_people_arrived": 0,
        "late_arrivals": 0,
        "late_arrivals_released_then_undone": 0,
        "late_arrivals_lost": 0,
        "undo_restored": 0,
        "ended_early": 0,
        "ended_early_by_system": 0,
        "ended_while_occupied": 0,
        "waitlist_offers": 0,
    }
    assert figures["per_space"]["s/room"]["grace_s"] == 600
    assert sorted(figures["findings"]) == [
        "booking 4 released at 2026-12-04T02:20:00+00:00 with 3 in the room for 300 s",
        "s/hall/7: no-show never entered",
        "s/hall/8: no-show never released (status confirmed)",
        "s/room/2: no-show released 90 s after its grace",
    ]
    json.dumps(figures)  # printable as it is


def test_a_release_as_people_arrive_is_no_false_release_within_the_latency_allowance() -> None:
    truth = parse_truth(truth_document())

    strict = score_releases(truth, bookings=ROWS, events=EVENTS, policies=POLICIES)
    lenient = score_releases(
        truth, bookings=ROWS, events=EVENTS, policies=POLICIES, latency_allowance=timedelta(minutes=6)
    )

    assert (strict["false_releases"], strict["releases_as_people_arrived"]) == (1, 0)
    assert (lenient["false_releases"], lenient["releases_as_people_arrived"]) == (0, 1)  # they came 5 min before
    assert lenient["latency_allowance_s"] == 360
    assert "who came 300 s before (within the allowance)" in " ".join(lenient["findings"])


def test_a_late_arrival_released_and_never_restored_is_lost_and_an_early_end_with_people_in_is_counted() -> None:
    truth = parse_truth(truth_document())
    events = [event(3, "05:10:05", "released"), event(5, "07:30:00", "ended_early")]
    figures = score_releases(truth, bookings=ROWS, events=events, policies=POLICIES)

    assert figures["late_arrivals_lost"] == 1
    assert figures["late_arrivals_released_then_undone"] == 0
    assert figures["undo_restored"] == 0
    assert figures["ended_while_occupied"] == 1
    assert figures["released_in_time"] == 0
    assert figures["not_released"] == 4


def test_of_two_rows_with_one_reference_the_live_one_is_scored() -> None:
    truth = parse_truth(truth_document())
    rows = [row(1, status="cancelled", booking_id=50), row(1, status="released", booking_id=51)]
    figures = score_releases(truth, bookings=rows, events=[event(51, "01:10:00", "released")], policies={})

    assert figures["bookings_entered"] == 1
    assert figures["released_in_time"] == 1


def test_shadow_decisions_release_nothing() -> None:
    truth = parse_truth(truth_document())
    events = [event(1, "01:10:00", "released", mode="shadow")]
    figures = score_releases(truth, bookings=ROWS, events=events, policies={})

    assert figures["released_in_time"] == 0
    assert figures["per_space"]["s/room"]["not_released"] == 2


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"schema": "smartcomplex.truth/v0"}, "schema is 'smartcomplex.truth/v0'"),
        ({"from": "yesterday"}, "from: 'yesterday' is not an RFC 3339 instant"),
        ({"bookings": {}}, "bookings: not a list"),
        ({"bookings": [{"id": "x"}]}, "bookings[0].outcome: None is not a non-empty string"),
        ({"seed": "7"}, "seed: '7' is not an integer"),
    ],
)
def test_a_malformed_truth_is_refused_naming_the_place(change: dict[str, Any], message: str) -> None:
    with pytest.raises(TruthError, match="^" + message.replace("[", r"\[").replace("(", r"\(")):
        parse_truth(truth_document() | change)


def test_score_releases_exits_2_with_one_line_for_a_bad_truth_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    truth = tmp_path / "truth.json"
    truth.write_text("{not json", encoding="utf-8")

    assert main(["score", "releases", "--truth", str(truth)]) == 2

    captured = capsys.readouterr()
    assert captured.err.startswith(f"smartcomplex: bad truth file {truth}: not JSON")
    assert captured.err.count("\n") == 1
    assert captured.out == ""


def test_score_releases_exits_1_when_the_database_is_unreachable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    truth = tmp_path / "truth.json"
    truth.write_text(json.dumps(truth_document()), encoding="utf-8")

    unreachable = "host=127.0.0.1 port=1 connect_timeout=1"
    assert main(["score", "releases", "--truth", str(truth), "--database-url", unreachable]) == 1

    err = capsys.readouterr().err
    assert err.startswith("smartcomplex: database: ")
    assert err.count("\n") == 1
