"""Scoring the queue's wait estimates and numbering against a scenario's ground truth: hand-built truth and rows in,
figures out."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from server.cli import main
from server.scoring.truth import TruthError
from server.scoring.wait_score import QueueEventRow, SystemTicket, score_waits
from server.scoring.wait_truth import WaitTruth, parse_wait_truth

DAY = date(2026, 12, 4)  # local 08:30 is 00:30 UTC
MIDNIGHT = datetime(2026, 12, 4, tzinfo=UTC)
SERVICE = "party-mass"


def at(hhmm: str) -> datetime:
    hours, minutes = (int(part) for part in hhmm.split(":"))
    return MIDNIGHT + timedelta(hours=hours, minutes=minutes)


def z(hhmm: str) -> str:
    return at(hhmm).isoformat().replace("+00:00", "Z")


def truth_ticket(
    number: str, taken: str, called: str | None, outcome: str = "served", service: str = SERVICE
) -> dict[str, Any]:
    return {
        "site": "s",
        "ticket": number,
        "service": service,
        "taken_at": z(taken),
        "waiting_space": "hall",
        "outcome": outcome,
        "called_at": None if called is None else z(called),
        "window": None if called is None else "window-1",
        "served_from": None,
        "served_to": None,
        "left_at": None,
        "recalled_at": None,
        "no_show_at": None,
        "cut": False,
    }


def truth_of(*tickets: dict[str, Any], until: str | None = "09:00") -> WaitTruth:
    return parse_wait_truth(
        {
            "schema": "smartcomplex.truth/v1",
            "scenario": "day",
            "seed": 7,
            "timezone": "Asia/Shanghai",
            "day": DAY.isoformat(),
            "from": z("00:30"),
            "until": None if until is None else z(until),
            "sites": ["s"],
            "spaces": [],
            "bookings": [],
            "tickets": list(tickets),
            "windows": [],
            "card_uses": [],
            "faults": [],
        }
    )


def system_ticket(
    number: str,
    issued: str,
    shown_min: tuple[int, int] | None = (5, 12),
    *,
    source: str = "dispenser",
    service: str = SERVICE,
) -> SystemTicket:
    lo, hi = (None, None) if shown_min is None else (shown_min[0] * 60, shown_min[1] * 60)
    return SystemTicket("s", DAY, number, service, source, at(issued), lo, hi)


def event(seq: int, kind: str, number: str, service: str = SERVICE) -> QueueEventRow:
    return QueueEventRow("s", seq, kind, DAY, number, service)


def test_served_waits_are_scored_against_the_range_shown_at_issue() -> None:
    truth = truth_of(
        truth_ticket("B001", "01:00", "01:06"),  # 6 min, shown 5-12: within
        truth_ticket("B002", "01:01", "01:21"),  # 20 min: late
        truth_ticket("B003", "01:02", "01:04"),  # 2 min: early
        truth_ticket("B004", "01:03", "01:13"),  # 10 min, shown no estimate
        truth_ticket("B005", "01:04", None, outcome="left"),
    )
    rows = [
        system_ticket("B001", "01:00"),
        system_ticket("B002", "01:01"),
        system_ticket("B003", "01:02", (5, 15)),
        system_ticket("B004", "01:03", None),
        system_ticket("B005", "01:04"),
    ]

    figures = score_waits(truth, tickets=rows, events=[])

    assert (figures["tickets"], figures["tickets_in_truth"], figures["matched"]) == (5, 5, 5)
    assert figures["served"] == 4
    assert (figures["early"], figures["late"], figures["shown_without_estimate"]) == (1, 1, 1)
    assert figures["served_within_shown_range"] == 0.25
    assert figures["median_wait_min"] == 8.0  # of 2, 6, 10, 20
    assert figures["median_range_width_min"] == 7.0  # of 7, 7, 10: the unestimated one has no width
    assert figures["number_mismatches"] == 0
    assert figures["per_service"]["s/party-mass"]["served"] == 4
    assert figures["findings"] == [
        "s/B002: waited 20 min, shown 5-12 min",
        "s/B003: waited 2 min, shown 5-15 min",
        "s/B004: waited 10 min, shown no estimate",
    ]


def test_tolerance_lets_a_wait_just_outside_the_range_count_as_within() -> None:
    truth = truth_of(truth_ticket("B001", "01:00", "01:13"))  # 13 min against 5-12
    rows = [system_ticket("B001", "01:00")]

    strict = score_waits(truth, tickets=rows, events=[])
    allowed = score_waits(truth, tickets=rows, events=[], tolerance=timedelta(seconds=60))

    assert (strict["late"], strict["served_within_shown_range"]) == (1, 0.0)
    assert (allowed["late"], allowed["served_within_shown_range"]) == (0, 1.0)
    assert allowed["tolerance_s"] == 60.0


def test_tickets_are_matched_by_order_per_service_and_mismatched_numbers_are_counted() -> None:
    truth = truth_of(
        truth_ticket("B001", "01:00", "01:06"),
        truth_ticket("A001", "01:01", "01:08", service="party-building"),
        truth_ticket("B002", "01:02", "01:30"),
    )
    # The system's B001 went to someone the truth does not know of before the scenario began; numbers shift by one.
    rows = [
        system_ticket("B001", "00:10"),
        system_ticket("B002", "01:00"),
        system_ticket("A001", "01:01", service="party-building"),
        system_ticket("B003", "01:02", (25, 35)),
    ]

    figures = score_waits(truth, tickets=rows, events=[])

    assert (figures["tickets"], figures["matched"], figures["number_mismatches"]) == (3, 3, 2)
    assert figures["served_within_shown_range"] == 1.0  # B002 6 min in 5-12, A001 7 in 5-12, B003 28 in 25-35
    assert figures["per_service"]["s/party-building"]["number_mismatches"] == 0
    assert figures["per_service"]["s/party-mass"]["number_mismatches"] == 2
    assert "s/party-mass: ticket 1 is B002, B001 in the truth" in figures["findings"]


def test_tickets_not_from_a_dispenser_or_outside_the_run_are_not_matched() -> None:
    truth = truth_of(truth_ticket("B001", "01:00", "01:06"), truth_ticket("B002", "08:50", None, "not_called"))
    rows = [
        system_ticket("B001", "01:00"),
        system_ticket("B002", "01:01", source="api"),
        system_ticket("B003", "09:05"),  # after the truth's until
    ]

    figures = score_waits(truth, tickets=rows, events=[])

    assert (figures["tickets"], figures["tickets_in_truth"], figures["matched"]) == (1, 2, 1)
    assert "s/party-mass: 1 truth tickets have no system ticket (from B002)" in figures["findings"]


def test_a_day_with_nobody_served_has_no_share_and_no_medians() -> None:
    figures = score_waits(truth_of(truth_ticket("B001", "01:00", None, "left")), tickets=[], events=[])

    assert figures["served"] == 0
    assert figures["served_within_shown_range"] is None
    assert figures["median_wait_min"] is None
    assert figures["median_range_width_min"] is None


def test_duplicate_and_missing_numbers_are_counted_per_day_and_prefix() -> None:
    rows = [
        system_ticket("B001", "01:00"),
        system_ticket("B002", "01:05", source="api"),  # any source takes a number of the prefix
        system_ticket("B005", "01:10"),
        system_ticket("A002", "01:10", service="party-building"),
    ]
    events = [event(1, "issued", "B001"), event(2, "issued", "B002"), event(3, "issued", "B002")]
    events += [event(4, "issued", "B005"), event(5, "issued", "A002", "party-building")]

    figures = score_waits(truth_of(), tickets=rows, events=events)

    assert figures["duplicate_numbers"] == 1
    assert figures["gaps"] == 3  # B003, B004, A001
    assert figures["per_service"]["s/party-mass"]["gaps"] == 2
    assert figures["per_service"]["s/party-building"]["gaps"] == 1
    assert "s/B002 on 2026-12-04: issued 2 times" in figures["findings"]
    assert "s B on 2026-12-04: 2 numbers missing (B003, B004)" in figures["findings"]


def test_a_second_call_counts_unless_a_transfer_came_between() -> None:
    events = [event(1, "issued", "B001"), event(2, "called", "B001"), event(3, "transferred", "B001")]
    events += [event(4, "called", "B001")]  # called at the window it was sent to: fine
    events += [event(5, "issued", "B002"), event(6, "called", "B002"), event(7, "recalled", "B002")]  # a recall: fine
    events += [event(8, "issued", "B003"), event(9, "called", "B003"), event(10, "called", "B003")]

    figures = score_waits(truth_of(), tickets=[], events=events)

    assert figures["called_twice"] == 1
    assert [f for f in figures["findings"] if "called again" in f] == [
        "s/B003 on 2026-12-04: called again with no transfer between (called called)"
    ]


def test_a_transferred_ticket_is_matched_under_the_service_it_was_issued_for() -> None:
    truth = truth_of(truth_ticket("B001", "01:00", "01:06"))
    rows = [system_ticket("B001", "01:00", service="culture")]  # transferred to culture after its first call

    figures = score_waits(truth, tickets=rows, events=[event(1, "issued", "B001")])

    assert figures["per_service"]["s/party-mass"]["matched"] == 1
    assert figures["served_within_shown_range"] == 1.0


def test_a_truth_to_the_end_of_the_day_spans_to_local_midnight() -> None:
    truth = truth_of(until=None)

    assert truth.end == datetime(2026, 12, 4, 16, 0, tzinfo=UTC)  # 00:00 in Shanghai
    assert truth.local_days == (DAY,)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"schema": "other"}, "schema"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"tickets": [truth_ticket("B001", "01:00", None, outcome="bored")]}, "tickets[0].outcome"),
        ({"tickets": [{**truth_ticket("B001", "01:00", None), "taken_at": "10:00"}]}, "tickets[0].taken_at"),
    ],
)
def test_a_malformed_truth_names_the_place(change: dict[str, Any], problem: str) -> None:
    document = {
        "schema": "smartcomplex.truth/v1",
        "scenario": "day",
        "seed": 1,
        "timezone": "Asia/Shanghai",
        "day": "2026-12-04",
        "from": z("00:30"),
        "until": None,
        "sites": ["s"],
        "tickets": [],
    }
    with pytest.raises(TruthError, match=problem.replace("[", r"\[").replace("]", r"\]")):
        parse_wait_truth({**document, **change})


def test_the_command_refuses_a_missing_truth_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nowhere.json"

    assert main(["score", "waits", "--truth", str(missing), "--database-url", "host=127.0.0.1 port=1"]) == 2
    assert f"bad truth file {missing}: cannot read it" in capsys.readouterr().err


def test_the_command_refuses_a_negative_tolerance(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["score", "waits", "--truth", str(tmp_path / "t.json"), "--tolerance-s", "-1"]) == 2
    assert "--tolerance-s must not be negative" in capsys.readouterr().err
