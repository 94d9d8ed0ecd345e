"""What the hall's board and a resident's phone show, composed from values: windows, calls, waits, place in line,
crowding, and names masked."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from devices.queue_contract import ServiceView, TicketView, WindowView, minutes_text, queue_text, wait_range
from devices.site import Belt, Site, load_belt
from server.domain.crowding import CrowdingEpisodes, crowding_level, crowding_shown
from server.domain.queue_display import compose_display, compose_ticket, mask_name, tickets_ahead

NOW = datetime(2026, 11, 27, 2, 10, tzinfo=UTC)  # 10:10 in Shanghai


@pytest.fixture(scope="module")
def belt() -> Belt:
    return load_belt()


@pytest.fixture(scope="module")
def site(belt: Belt) -> Site:
    return belt.site("complex")  # windows: 1 (party-building, party-mass), 2 (party-mass, culture), 3 (...)


@dataclass(frozen=True)
class Board:
    seq: int
    at: datetime
    windows: list[WindowView]
    services: list[ServiceView]
    received_at: datetime


@dataclass(frozen=True)
class Call:
    kind: str
    number: str
    window_id: str
    at: datetime


def service_view(service_id: str, prefix: str, waiting: int, *, estimated: bool = True) -> ServiceView:
    rates = {
        "wait_lo_base_s": 60.0,
        "wait_hi_base_s": 180.0,
        "wait_lo_per_ahead_s": 120.0,
        "wait_hi_per_ahead_s": 300.0,
    }
    return ServiceView(
        id=service_id,
        prefix=prefix,
        waiting=waiting,
        open_windows=1 if estimated else 0,
        **(rates if estimated else {}),
    )


def ticket(number: str, service: str, *, minutes_ago: int, status: str = "waiting", **fields: object) -> TicketView:
    issued = queue_text(NOW - timedelta(minutes=minutes_ago))
    values: dict[str, object] = {
        "number": number,
        "day": "2026-11-27",
        "service": service,
        "source": "dispenser",
        "status": status,
        "issued_at": issued,
        "order_at": issued,
        "waiting_ahead": 0,
        "shown_wait_lo_s": None,
        "shown_wait_hi_s": None,
    }
    values.update(fields)
    return TicketView.model_validate(values)


def test_names_keep_their_first_and_last_character_only() -> None:
    assert mask_name("张三丰") == "张*丰"
    assert mask_name("张三") == "张*"
    assert mask_name("欧阳娜娜") == "欧**娜"
    assert mask_name("Li Wei") == "L***i"
    assert mask_name("王") == "*"
    assert mask_name("") == ""


@pytest.mark.parametrize(
    ("people", "capacity", "fresh", "level"),
    [
        (31, 40, True, "ok"),
        (32, 40, True, "near"),  # 80 % of capacity
        (39, 40, True, "near"),
        (40, 40, True, "full"),
        (52, 40, True, "full"),
        (40, 40, False, "unknown"),  # a stale count is never read as room, nor as full
        (None, 40, True, "unknown"),
    ],
)
def test_crowding_level_compares_the_latest_count_with_capacity(
    people: int | None, capacity: int, fresh: bool, level: str
) -> None:
    assert crowding_level(people, capacity, fresh=fresh) == level


def test_a_crowding_episode_is_reported_once_when_it_starts() -> None:
    episodes = CrowdingEpisodes()

    def started(people: int, *, fresh: bool = True) -> list[str]:
        area = crowding_shown("windows-waiting", "Waiting area", people, 40, fresh=fresh)
        return [a.level for a in episodes.started("complex", [area])]

    assert started(10) == []
    assert started(33) == ["near"]
    assert started(41) == []  # still the same episode, now full
    assert started(41, fresh=False) == []  # a quiet sensor neither ends nor restarts it
    assert started(41) == []
    assert started(12) == []
    assert started(40) == ["full"]  # a new episode after the area emptied


def test_the_board_shows_serving_windows_newest_call_first_and_waits_per_service(site: Site, belt: Belt) -> None:
    board = Board(
        seq=17,
        at=NOW - timedelta(seconds=5),
        windows=[
            WindowView(
                id="window-1", open=True, services=["party-building", "party-mass"], serving="B012", staffed_by="王小明"
            ),
            WindowView(id="window-2", open=False, services=["party-mass", "culture"]),
        ],
        services=[service_view("party-mass", "B", 4), service_view("culture", "C", 0, estimated=False)],
        received_at=NOW,
    )
    calls = [
        Call("called", "B012", "window-1", NOW - timedelta(seconds=5)),
        Call("recalled", "A003", "window-1", NOW - timedelta(minutes=3)),
    ]
    crowding = [crowding_shown("windows-waiting", "Waiting area", 35, 40, fresh=True)]
    display = compose_display(
        site=site, tz=belt.tz, now=NOW, agent_state="online", board=board, calls=calls, crowding=crowding
    )
    assert display.local_time == "10:10:00"
    assert display.local_date == "2026-11-27"
    assert display.status.reporting
    assert display.board_seq == 17
    by_id = {window.id: window for window in display.windows}
    assert list(by_id) == [window.id for window in site.windows]  # every window of the site file, reported or not
    assert (by_id["window-1"].serving, by_id["window-1"].service_name) == ("B012", "Party-mass services")
    assert by_id["window-1"].staff == "王*明"
    assert not by_id["window-2"].open
    assert not by_id["window-3"].open  # not on the board yet: closed
    assert [(c.number, c.window_name, c.newest) for c in display.recent_calls] == [
        ("B012", "Window 1", True),
        ("A003", "Window 1", False),
    ]
    assert display.recent_calls[0].local_time == "10:09:55"
    services = {service.id: service for service in display.services}
    assert services["party-mass"].waiting == 4
    assert services["party-mass"].estimate == minutes_text(wait_range(4, board.services[0])) == "9-23 min"
    assert services["culture"].estimate == "no estimate"
    assert services["volunteer"].estimate == "no estimate"  # no event named it yet
    assert display.crowding[0].level == "near"


def test_a_site_whose_agent_is_not_online_is_marked_not_reporting(site: Site, belt: Belt) -> None:
    for state in ("offline", "lost", None):
        display = compose_display(site=site, tz=belt.tz, now=NOW, agent_state=state, board=None, calls=[], crowding=[])
        assert not display.status.reporting
        assert "not reporting" in display.status.text
        assert display.board_seq is None


def test_place_in_line_counts_earlier_tickets_of_the_same_service_only(site: Site) -> None:
    mine = ticket("B005", "party-mass", minutes_ago=10)
    waiting = [
        ticket("B003", "party-mass", minutes_ago=20),
        ticket("B004", "party-mass", minutes_ago=15),
        mine,
        ticket("B006", "party-mass", minutes_ago=5),
        ticket("C002", "culture", minutes_ago=30),  # another service: not ahead of a party-mass ticket
    ]
    assert tickets_ahead(mine, waiting, site) == 2
    shown = compose_ticket(
        site=site, ticket=mine, waiting=waiting, services=[service_view("party-mass", "B", 4)], agent_state="online"
    )
    assert (shown.ahead, shown.position) == (2, 3)
    assert (shown.wait_lo_s, shown.wait_hi_s) == wait_range(2, service_view("party-mass", "B", 4)) == (300, 780)
    assert shown.estimate == "5-13 min"
    assert "2 ahead of you" in shown.message


def test_a_priority_ticket_issued_later_but_ordered_earlier_is_ahead(site: Site) -> None:
    mine = ticket("B005", "party-mass", minutes_ago=10)
    elder = ticket("B007", "party-mass", minutes_ago=2, priority=True, order_at=queue_text(NOW - timedelta(minutes=12)))
    assert tickets_ahead(mine, [mine, elder], site) == 1
    assert tickets_ahead(elder, [mine, elder], site) == 0


def test_a_transferred_ticket_waits_only_for_the_window_it_was_sent_to(site: Site) -> None:
    # window-2 serves party-mass and culture; window-3 serves neither.
    moved = ticket("A002", "party-building", minutes_ago=30, window="window-2")
    waiting = [
        ticket("B001", "party-mass", minutes_ago=40),  # window-2 would call it first
        ticket("C001", "culture", minutes_ago=35),  # and this one
        ticket("A001", "party-building", minutes_ago=45),  # window-2 does not serve party-building
        ticket("D001", "civilization", minutes_ago=50, window="window-3"),  # sent elsewhere
        ticket("B002", "party-mass", minutes_ago=20),  # after it
        moved,
    ]
    assert tickets_ahead(moved, waiting, site) == 2


def test_a_called_ticket_names_its_window_and_shows_no_place_in_line(site: Site) -> None:
    called = ticket("B005", "party-mass", minutes_ago=10, status="called", window="window-2",
                    called_at=queue_text(NOW))  # fmt: skip
    shown = compose_ticket(site=site, ticket=called, waiting=[], services=[], agent_state="online")
    assert shown.status == "called"
    assert shown.message == "Your number B005 is called at Window 2"
    assert (shown.ahead, shown.position, shown.estimate) == (None, None, None)


def test_a_waiting_ticket_without_an_open_window_has_no_estimate(site: Site) -> None:
    mine = ticket("C001", "culture", minutes_ago=1)
    shown = compose_ticket(
        site=site, ticket=mine, waiting=[mine], services=[service_view("culture", "C", 1, estimated=False)],
        agent_state="offline",
    )  # fmt: skip
    assert (shown.position, shown.estimate, shown.wait_lo_s) == (1, "no estimate", None)
    assert not shown.site_status.reporting
