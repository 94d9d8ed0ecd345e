"""The site queue's rules: numbering, order (priority aging, appointments), window actions, refusals, day rollover."""

from __future__ import annotations

import functools
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devices.queue_contract import QueueEventData, TicketView, queue_time
from devices.site import Site, parse_belt
from edge.queue.engine import APPOINTMENT_GRACE, PRIORITY_HEAD_START, QueueOutcome, QueueRefusal, SiteQueue

SHANGHAI = ZoneInfo("Asia/Shanghai")
BELT = """\
schema: smartcomplex.site/v1
name: Queue rules
timezone: Asia/Shanghai
sites:
  - id: hall
    name: Hall
    address: No. 1 Test Road
    floors: [{id: 1f, name: Ground floor, level: 1}]
    spaces:
      - {id: windows, name: Windows hall, floor: 1f, kind: service-hall, capacity: 60, bookable: false,
         hours: {mon-fri: "08:30-11:30, 13:00-17:00"}}
    services:
      - {id: affairs, name: Affairs, prefix: A}
      - {id: culture, name: Culture, prefix: C}
      - {id: legal, name: Legal advice, prefix: L}
    windows:
      - {id: window-1, name: Window 1, space: windows, services: [affairs]}
      - {id: window-2, name: Window 2, space: windows, services: [affairs, culture]}
      - {id: legal-window, name: Legal window, space: windows, services: [legal], hours: {fri: "13:00-17:00"}}
"""


@functools.cache
def hall() -> Site:
    return parse_belt(BELT, source="test").site("hall")


def local(hour: int, minute: int = 0, second: int = 0, *, day: int = 27) -> datetime:
    """A Shanghai wall-clock time in November 2026 (the 27th is a Friday), as aware UTC."""
    return datetime(2026, 11, day, hour, minute, second, tzinfo=SHANGHAI).astimezone(UTC)


def new_queue() -> SiteQueue:
    return SiteQueue(hall(), tz=SHANGHAI)


def kinds(outcome: QueueOutcome) -> list[str]:
    return [event.kind for event in outcome.events]


def called(queue: SiteQueue, window: str, now: datetime) -> str | None:
    ticket = queue.window_action(window=window, action="call_next", now=now).ticket
    return None if ticket is None else ticket.number


def issue(queue: SiteQueue, service: str, now: datetime, **options: object) -> TicketView:
    options.setdefault("source", "api")
    ticket = queue.take(service=service, now=now, **options).ticket  # type: ignore[arg-type]
    assert ticket is not None
    return ticket


def test_numbers_are_gapless_per_prefix_and_every_take_says_issued() -> None:
    queue = new_queue()
    taken = [queue.take(service=s, now=local(9, i), source="dispenser", device="td-1") for i, s in enumerate(
        ["affairs", "affairs", "culture", "affairs"]
    )]  # fmt: skip
    assert [t.ticket.number for t in taken if t.ticket] == ["A001", "A002", "C001", "A003"]
    assert all(kinds(outcome) == ["issued"] for outcome in taken)
    first = taken[0].events[0]
    assert first.at == "2026-11-27T01:00:00.000Z"
    assert first.ticket is not None
    assert first.ticket.day == "2026-11-27"
    assert (first.ticket.device, first.ticket.source, first.ticket.status) == ("td-1", "dispenser", "waiting")
    assert [s.last_issued for s in taken[-1].events[0].services] == ["A003", "C001", None]


def test_a_take_with_a_request_id_already_seen_answers_the_same_ticket_without_an_event() -> None:
    queue = new_queue()
    first = queue.take(service="affairs", now=local(9), source="api", request_id="cmd-1")
    again = queue.take(service="affairs", now=local(9, 5), source="api", request_id="cmd-1")
    assert again.events == ()
    assert again.ticket == first.ticket
    assert queue.ticket_for_request("cmd-1") == first.ticket
    assert issue(queue, "affairs", local(9, 6)).number == "A002"


def test_priority_passes_only_tickets_issued_within_the_head_start_before_it() -> None:
    queue = new_queue()
    issue(queue, "affairs", local(9, 0))  # A001: 12 minutes before the priority ticket
    issue(queue, "affairs", local(9, 5))  # A002: 7 minutes before it
    elder = issue(queue, "affairs", local(9, 12), priority=True)
    assert queue_time(elder.order_at) == local(9, 12) - PRIORITY_HEAD_START
    assert (elder.number, elder.waiting_ahead, queue.position("A003")) == ("A003", 1, 1)
    queue.window_action(window="window-1", action="open", now=local(9, 13))
    order = [called(queue, "window-1", local(9, 14 + i)) for i in range(3)]
    assert order == ["A001", "A003", "A002"]


def test_an_appointment_in_time_takes_its_place_at_its_time_and_an_early_one_waits_for_it() -> None:
    queue = new_queue()
    queue.window_action(window="window-1", action="open", now=local(9))
    early = issue(queue, "affairs", local(9, 40), appointment_at=local(10, 0), source="appointment")
    issue(queue, "affairs", local(9, 45))  # A002, a walk-in before the appointment's time
    assert queue_time(early.order_at) == local(10, 0)
    assert called(queue, "window-1", local(9, 50)) == "A002"
    finished = queue.window_action(window="window-1", action="call_next", now=local(9, 55))
    assert (kinds(finished), finished.ticket) == (["done"], None)  # A001 is waiting, but not yet for its time
    with pytest.raises(QueueRefusal) as refused:
        queue.window_action(window="window-1", action="call_next", now=local(9, 56))
    assert refused.value.code == "no_ticket"
    assert called(queue, "window-1", local(10, 0)) == "A001"


def test_an_appointment_that_comes_after_the_grace_is_a_walk_in() -> None:
    queue = new_queue()
    late = issue(queue, "affairs", local(10, 11), appointment_at=local(10, 0))
    in_time = issue(queue, "affairs", local(10, 10), appointment_at=local(10, 0))
    assert queue_time(late.order_at) == local(10, 11)
    assert queue_time(in_time.order_at) == local(10, 0) == local(10, 10) - APPOINTMENT_GRACE


def test_call_next_finishes_the_ticket_at_the_window_then_calls_the_oldest_it_may_serve() -> None:
    queue = new_queue()
    queue.window_action(window="window-2", action="open", now=local(9), staff="li.wei")
    issue(queue, "culture", local(9, 1))
    issue(queue, "affairs", local(9, 2))
    first = queue.window_action(window="window-2", action="call_next", now=local(9, 3))
    assert (kinds(first), first.ticket and first.ticket.number) == (["called"], "C001")
    second = queue.window_action(window="window-2", action="call_next", now=local(9, 9))
    assert kinds(second) == ["done", "called"]
    assert second.ticket is not None
    assert second.ticket.number == "A001"
    done = second.events[0]
    assert done.ticket is not None
    assert (done.ticket.number, done.ticket.status) == ("C001", "done")
    assert [w.serving for w in done.windows] == [None, None, None]  # the board right after the done
    assert [w.serving for w in second.events[1].windows] == [None, "A001", None]
    last = queue.window_action(window="window-2", action="call_next", now=local(9, 15))
    assert (kinds(last), last.ticket) == (["done"], None)
    with pytest.raises(QueueRefusal) as refused:
        queue.window_action(window="window-2", action="call_next", now=local(9, 16))
    assert refused.value.code == "no_ticket"


def test_recall_counts_and_no_show_frees_the_window() -> None:
    queue = new_queue()
    queue.window_action(window="window-1", action="open", now=local(9))
    issue(queue, "affairs", local(9, 1))
    called(queue, "window-1", local(9, 2))
    recalled = queue.window_action(window="window-1", action="recall", now=local(9, 3))
    assert kinds(recalled) == ["recalled"]
    assert recalled.ticket is not None
    assert recalled.ticket.recalls == 1
    gone = queue.window_action(window="window-1", action="no_show", now=local(9, 4), ticket="A001")
    assert gone.ticket is not None
    assert (gone.ticket.status, gone.ticket.finished_at) == (
        "no_show",
        "2026-11-27T01:04:00.000Z",
    )
    assert gone.events[-1].windows[0].serving is None


def test_a_ticket_transferred_to_a_window_waits_there_in_its_place_in_time() -> None:
    queue = new_queue()
    for window in ("window-1", "window-2"):
        queue.window_action(window=window, action="open", now=local(9))
    issue(queue, "affairs", local(9, 1))  # A001
    issue(queue, "affairs", local(9, 2))  # A002
    called(queue, "window-1", local(9, 3))
    moved = queue.window_action(window="window-1", action="transfer", now=local(9, 4), to_window="window-2")
    assert kinds(moved) == ["transferred"]
    assert moved.ticket is not None
    assert (moved.ticket.status, moved.ticket.window, moved.ticket.called_at) == (
        "waiting",
        "window-2",
        "2026-11-27T01:03:00.000Z",
    )
    assert called(queue, "window-1", local(9, 5)) == "A002"  # window-1 may no longer call A001
    assert called(queue, "window-2", local(9, 6)) == "A001"  # first at window-2: it kept its place


def test_a_ticket_transferred_to_a_service_waits_for_that_service_windows() -> None:
    queue = new_queue()
    for window in ("window-1", "window-2"):
        queue.window_action(window=window, action="open", now=local(9))
    issue(queue, "culture", local(9, 0))  # C001
    issue(queue, "affairs", local(9, 1))  # A001
    issue(queue, "culture", local(9, 2))  # C002
    assert called(queue, "window-1", local(9, 3)) == "A001"
    moved = queue.window_action(window="window-1", action="transfer", now=local(9, 4), to_service="culture")
    assert moved.ticket is not None
    assert (moved.ticket.service, moved.ticket.window) == ("culture", None)
    with pytest.raises(QueueRefusal) as refused:
        queue.window_action(window="window-1", action="call_next", now=local(9, 5))
    assert refused.value.code == "no_ticket"  # window-1 serves affairs only
    order = [called(queue, "window-2", local(9, 6 + i)) for i in range(3)]
    assert order == ["C001", "A001", "C002"]


def test_closing_finishes_the_ticket_and_a_closed_window_refuses_all_but_open() -> None:
    queue = new_queue()
    queue.window_action(window="window-2", action="open", now=local(9))
    issue(queue, "affairs", local(9, 1))
    called(queue, "window-2", local(9, 2))
    closed = queue.window_action(window="window-2", action="close", now=local(9, 30))
    assert kinds(closed) == ["done", "window_closed"]
    assert closed.changed_windows[0].open is False
    for action in ("close", "call_next", "recall", "no_show", "done"):
        with pytest.raises(QueueRefusal) as refused:
            queue.window_action(window="window-2", action=action, now=local(9, 31))
        assert refused.value.code == "window_closed"


def test_the_last_window_closing_at_the_end_of_its_hours_expires_the_tickets_still_waiting() -> None:
    queue = new_queue()
    queue.window_action(window="legal-window", action="open", now=local(13))
    queue.window_action(window="window-1", action="open", now=local(13))
    issue(queue, "legal", local(16, 40))
    issue(queue, "affairs", local(16, 41))
    on_break = queue.window_action(window="legal-window", action="close", now=local(15))
    assert kinds(on_break) == ["window_closed"]  # a break: the window's hours go on
    queue.window_action(window="legal-window", action="open", now=local(15, 15))
    closing = queue.window_action(window="legal-window", action="close", now=local(17))
    assert kinds(closing) == ["window_closed", "expired"]
    assert closing.events[-1].ticket is not None
    assert closing.events[-1].ticket.number == "L001"
    assert queue.position("A001") == 0  # window-1 is still open for affairs


def test_a_new_local_day_expires_open_tickets_and_numbers_start_again_at_one() -> None:
    queue = new_queue()
    queue.window_action(window="window-1", action="open", now=local(16))
    issue(queue, "affairs", local(16, 10))
    issue(queue, "affairs", local(16, 20))
    called(queue, "window-1", local(16, 30))
    assert kinds(queue.tick(local(23, 59, 59))) == []
    rolled = queue.tick(local(0, 0, 1, day=28))
    assert [(e.kind, e.ticket and e.ticket.number) for e in rolled.events] == [("expired", "A001"), ("expired", "A002")]
    assert rolled.events[-1].windows[0].serving is None
    assert {t.day for t in rolled.changed_tickets} == {"2026-11-27"}
    fresh = issue(queue, "affairs", local(8, 30, day=28))
    assert (fresh.number, fresh.day) == ("A001", "2026-11-28")


def test_a_take_on_a_later_day_first_expires_the_earlier_days_tickets() -> None:
    queue = new_queue()
    issue(queue, "culture", local(16))
    outcome = queue.take(service="culture", now=local(9, day=30), source="dispenser")
    assert kinds(outcome) == ["expired", "issued"]
    assert outcome.ticket is not None
    assert outcome.ticket.number == "C001"


@pytest.mark.parametrize(
    ("request_kwargs", "code"),
    [
        ({"window": "window-9", "action": "open"}, "unknown_window"),
        ({"window": "window-1", "action": "call_next", "ticket": "C001"}, "service_not_at_window"),
        ({"window": "window-1", "action": "done", "ticket": "A002"}, "not_at_window"),
        ({"window": "window-1", "action": "done", "ticket": "A099"}, "no_ticket"),
        ({"window": "window-1", "action": "transfer"}, "bad_request"),
        ({"window": "window-1", "action": "transfer", "to_window": "window-9"}, "unknown_window"),
        ({"window": "window-1", "action": "transfer", "to_service": "nothing"}, "unknown_service"),
        ({"window": "legal-window", "action": "call_next"}, "window_closed"),
    ],
)
def test_refusals_say_why_and_change_nothing(request_kwargs: dict[str, str], code: str) -> None:
    queue = new_queue()
    queue.window_action(window="window-1", action="open", now=local(9))
    for service in ("affairs", "affairs", "culture"):
        issue(queue, service, local(9, 1))
    called(queue, "window-1", local(9, 2))
    before = (queue.board(local(9, 3)), [t.view() for t in queue.state.tickets.values()])
    with pytest.raises(QueueRefusal) as refused:
        queue.window_action(now=local(9, 3), **request_kwargs)  # type: ignore[arg-type]
    assert refused.value.code == code
    assert (queue.board(local(9, 3)), [t.view() for t in queue.state.tickets.values()]) == before


def test_takes_are_refused_for_an_unknown_service_a_naive_time_and_an_exhausted_prefix() -> None:
    queue = new_queue()
    cases = [
        ({"service": "nothing", "now": local(9)}, "unknown_service"),
        ({"service": "affairs", "now": datetime(2026, 11, 27, 9)}, "bad_request"),
    ]
    for kwargs, code in cases:
        with pytest.raises(QueueRefusal) as refused:
            queue.take(source="api", **kwargs)  # type: ignore[arg-type]
        assert refused.value.code == code
    issue(queue, "affairs", local(9))
    queue.state.counters["A"] = 9999
    with pytest.raises(QueueRefusal) as refused:
        queue.take(service="affairs", now=local(9, 1), source="api")
    assert refused.value.code == "numbers_exhausted"


def test_the_board_gives_an_estimate_only_for_services_an_open_window_handles() -> None:
    queue = new_queue()
    unknown = issue(queue, "affairs", local(9))
    assert (unknown.shown_wait_lo_s, unknown.shown_wait_hi_s) == (None, None)
    queue.window_action(window="window-1", action="open", now=local(9, 1))
    estimated = issue(queue, "affairs", local(9, 2))
    assert estimated.waiting_ahead == 1
    assert estimated.shown_wait_lo_s is not None
    assert estimated.shown_wait_hi_s is not None
    assert 0 <= estimated.shown_wait_lo_s < estimated.shown_wait_hi_s
    _windows, services = queue.board(local(9, 3))
    affairs, culture, _legal = services
    assert (affairs.waiting, affairs.open_windows, culture.open_windows) == (2, 1, 0)
    assert affairs.wait_hi_per_ahead_s is not None
    assert affairs.wait_hi_per_ahead_s > 0
    assert culture.wait_lo_base_s is None


def last_board_matches(queue: SiteQueue, event: QueueEventData, now: datetime) -> bool:
    windows, services = queue.board(now)
    return event.windows == windows and event.services == services


def test_every_event_of_a_request_ends_on_the_board_the_queue_shows() -> None:
    queue = new_queue()
    queue.window_action(window="window-1", action="open", now=local(9))
    issue(queue, "affairs", local(9, 1))
    outcome = queue.window_action(window="window-1", action="call_next", now=local(9, 2))
    assert last_board_matches(queue, outcome.events[-1], local(9, 2))
    assert timedelta(0) == queue_time(outcome.events[-1].at) - local(9, 2)


# --- properties over random days ------------------------------------------------------------------------------------

WINDOWS = ("window-1", "window-2", "legal-window")
_take = st.tuples(st.just("take"), st.sampled_from(("affairs", "culture", "legal")), st.booleans())
_act = st.tuples(
    st.just("window"),
    st.sampled_from(WINDOWS),
    st.sampled_from(("open", "open", "close", "call_next", "call_next", "call_next", "recall", "no_show", "done",
                     "transfer")),
)  # fmt: skip
_step = st.tuples(st.integers(min_value=0, max_value=240), st.one_of(_take, _act))  # minutes later, what


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(_step, min_size=1, max_size=50))
def test_random_days_keep_numbers_gapless_call_each_ticket_once_and_boards_true(
    steps: list[tuple[int, tuple[Any, ...]]],
) -> None:
    queue = new_queue()
    now = local(8, 0)
    issued: dict[tuple[str, str], list[int]] = defaultdict(list)  # (day, prefix) -> running numbers
    called_once: set[tuple[str, str]] = set()  # (day, number) called by call_next and not transferred since
    for minutes, (what, *args) in steps:
        now += timedelta(minutes=minutes)
        before = ([t.view() for t in queue.state.tickets.values()], queue.board(now))
        try:
            if what == "take":
                outcome = queue.take(service=args[0], now=now, source="dispenser", priority=args[1])
            else:
                window, action = args
                extra = {"to_window": "window-2"} if action == "transfer" else {}
                outcome = queue.window_action(window=window, action=action, now=now, **extra)
        except QueueRefusal:
            assert ([t.view() for t in queue.state.tickets.values()], queue.board(now)) == before
            continue
        for event in outcome.events:
            ticket = event.ticket
            serving = [w.serving for w in event.windows if w.serving is not None]
            assert len(serving) == len(set(serving))  # a ticket is at one window at most
            if ticket is None:
                continue
            key = (ticket.day, ticket.number)
            if event.kind == "issued":
                issued[ticket.day, ticket.number[0]].append(int(ticket.number[1:]))
            elif event.kind == "called":
                assert key not in called_once, f"{ticket.number} called twice"
                called_once.add(key)
            elif event.kind == "transferred":
                called_once.discard(key)
        if outcome.events:
            assert last_board_matches(queue, outcome.events[-1], now)
        for place in queue.state.windows.values():
            if place.serving is not None:
                at_window = queue.state.tickets[place.serving]
                assert (at_window.status, at_window.window) == ("called", place.id)
    for numbers in issued.values():
        assert numbers == list(range(1, len(numbers) + 1))
