"""The site queue end to end: buttons, keys and API requests through the edge agent that owns the queue, tickets
printed, calls on the boards, and the centre's copy in PostgreSQL."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.integration.queue_site import QueueSite, queue_site, resident, rows, staff, start_agent, stop_agent
from tests.waiting import wait_until


@pytest.fixture
def site(tmp_path: Path, pg_dsn: str) -> Iterator[QueueSite]:
    with queue_site(tmp_path, pg_dsn) as running:
        yield running


def _tickets(site: QueueSite) -> list[tuple[str, str]]:
    return [(str(n), str(s)) for n, s in rows(site.dsn, "SELECT number, status FROM queue_ticket ORDER BY number")]


def test_a_button_press_prints_a_numbered_ticket_with_an_estimate_and_the_centre_gets_it(site: QueueSite) -> None:
    site.terminals["window-1"].key("open")
    site.dispenser.press("affairs")
    site.dispenser.press("affairs")
    wait_until(lambda: len(site.dispenser.printed) == 2, timeout=15, what="two tickets printed")
    assert [request.ticket for request in site.dispenser.printed] == ["A001", "A002"]
    assert [request.waiting_ahead for request in site.dispenser.printed] == [0, 1]
    assert all(request.estimate for request in site.dispenser.printed)
    wait_until(lambda: _tickets(site) == [("A001", "waiting"), ("A002", "waiting")], timeout=15, what="centre's copy")


def test_a_call_at_a_window_terminal_shows_on_the_mqtt_board_and_the_led_board(site: QueueSite) -> None:
    site.dispenser.press("affairs")
    # Two devices' messages may reach the agent in either order: staff call once the ticket is out, as in the hall.
    wait_until(lambda: len(site.dispenser.printed) == 1, timeout=15, what="the ticket printed")
    site.terminals["window-2"].key("open")
    site.terminals["window-2"].key("call_next")
    wait_until(lambda: site.board.text == "A001 -> Window 2", timeout=15, what="the MQTT board shows the call")
    wait_until(lambda: site.led.text.rstrip() == "A001 -> Window 2", timeout=15, what="the LED board shows it")
    wait_until(lambda: _tickets(site) == [("A001", "called")], timeout=15, what="the centre's copy called")
    called = rows(site.dsn, "SELECT window_id FROM queue_event WHERE kind = 'called'")
    assert called == [("window-2",)]


def test_tickets_taken_and_called_through_the_api_are_answered_by_the_site(site: QueueSite) -> None:
    opened = site.api.post("/api/v1/sites/hall/windows/window-1/open", json={}, headers=staff(site))
    assert opened.status_code == 200, opened.text
    taken = site.api.post("/api/v1/sites/hall/tickets", json={"service": "affairs"}, headers=resident(site))
    assert taken.status_code == 201, taken.text
    ticket = taken.json()["ticket"]
    assert (ticket["number"], ticket["source"], ticket["waiting_ahead"]) == ("A001", "api", 0)
    assert taken.json()["my_ticket_page"] == f"/display/hall/ticket/{ticket['day']}/A001"
    again = site.api.post(
        "/api/v1/sites/hall/tickets",
        json={"service": "affairs"},
        headers={**resident(site), "Idempotency-Key": "k1"},
    )
    retried = site.api.post(
        "/api/v1/sites/hall/tickets",
        json={"service": "affairs"},
        headers={**resident(site), "Idempotency-Key": "k1"},
    )
    assert again.json()["ticket"]["number"] == retried.json()["ticket"]["number"] == "A002"
    called = site.api.post("/api/v1/sites/hall/windows/window-1/call_next", json={}, headers=staff(site))
    assert called.status_code == 200, called.text
    assert called.json()["ticket"]["number"] == "A001"
    assert called.json()["events"] == ["called"]
    wait_until(lambda: site.board.text == "A001 -> Window 1", timeout=15, what="the board shows the API's call")


def test_the_api_refuses_what_the_queue_cannot_do_with_a_code(site: QueueSite) -> None:
    closed = site.api.post("/api/v1/sites/hall/windows/window-1/call_next", json={}, headers=staff(site))
    assert (closed.status_code, closed.json()["code"]) == (409, "window_closed")
    unknown = site.api.post("/api/v1/sites/hall/tickets", json={"service": "nothing"}, headers=resident(site))
    assert (unknown.status_code, unknown.json()["code"]) == (422, "unknown_service")
    residents_call = site.api.post("/api/v1/sites/hall/windows/window-1/open", json={}, headers=resident(site))
    assert residents_call.status_code == 403
    priority = site.api.post(
        "/api/v1/sites/hall/tickets", json={"service": "affairs", "priority": True}, headers=resident(site)
    )
    assert priority.status_code == 403
    anonymous = site.api.post("/api/v1/sites/hall/tickets", json={"service": "affairs"})
    assert anonymous.status_code == 401


def test_200_concurrent_takes_and_calls_give_unique_gapless_numbers_and_no_double_call(site: QueueSite) -> None:
    for window in ("window-1", "window-2"):
        assert site.api.post(f"/api/v1/sites/hall/windows/{window}/open", json={}, headers=staff(site)).is_success
    requests = [("take", "affairs")] * 100 + [("take", "culture")] * 40 + [("call", "window-1")] * 30
    requests += [("call", "window-2")] * 30
    barrier = threading.Barrier(len(requests))

    def send(request: tuple[str, str]) -> tuple[int, bool]:
        kind, what = request
        barrier.wait()
        if kind == "take":
            answer = site.api.post("/api/v1/sites/hall/tickets", json={"service": what}, headers=resident(site))
        else:
            answer = site.api.post(f"/api/v1/sites/hall/windows/{what}/call_next", json={}, headers=staff(site))
        return answer.status_code, answer.is_success and "called" in answer.json()["events"]

    with ThreadPoolExecutor(len(requests)) as pool:
        answers = list(pool.map(send, requests))
    statuses = Counter(code for code, _called in answers)
    # Every take is issued; a call finds nothing waiting only when it came before any take (409 no_ticket).
    assert statuses[201] == 140, statuses
    assert set(statuses) <= {200, 201, 409}, statuses
    wait_until(
        lambda: rows(site.dsn, "SELECT count(*) FROM queue_ticket")[0][0] == 140, timeout=30, what="all at the centre"
    )
    for prefix, count in (("A", 100), ("C", 40)):
        numbers = rows(site.dsn, "SELECT number FROM queue_ticket WHERE prefix = %s ORDER BY running_number", (prefix,))
        assert [number for (number,) in numbers] == [f"{prefix}{n:03d}" for n in range(1, count + 1)]
    twice = rows(site.dsn, "SELECT number FROM queue_event WHERE kind = 'called' GROUP BY number HAVING count(*) > 1")
    assert twice == []
    calls = rows(site.dsn, "SELECT count(*) FROM queue_event WHERE kind = 'called'")[0][0]
    assert calls == sum(called for _code, called in answers) > 0


def test_numbering_continues_after_the_agent_restarts(site: QueueSite) -> None:
    site.dispenser.press("affairs")
    wait_until(lambda: len(site.dispenser.printed) == 1, timeout=15, what="the first ticket")
    stop_agent(site.agent)
    site.agent = start_agent(site)
    site.dispenser.press("affairs")
    wait_until(lambda: len(site.dispenser.printed) == 2, timeout=15, what="the second ticket")
    assert [request.ticket for request in site.dispenser.printed] == ["A001", "A002"]
