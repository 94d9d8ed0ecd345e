"""Fields only some device models take: a counter's word order, a dispenser's buttons, a terminal's window."""

from __future__ import annotations

import pytest

from devices.site import SiteFileError, parse_belt

BELT = """\
schema: smartcomplex.site/v1
name: Test belt
timezone: Asia/Shanghai
sites:
  - id: hub
    name: Hub
    address: No. 1 Test Road
    floors: [{id: 1f, name: Ground floor, level: 1}]
    spaces:
      - {id: hall, name: Hall, floor: 1f, kind: service-hall, capacity: 50, bookable: false,
         hours: {mon-fri: "08:30-17:00"}}
      - {id: waiting, name: Waiting, floor: 1f, kind: waiting-area, capacity: 50, bookable: false,
         hours: {mon-fri: "08:30-17:00"}}
    services:
      - {id: affairs, name: Affairs, prefix: A}
      - {id: legal, name: Legal advice, prefix: L}
    windows:
      - {id: window-1, name: Window 1, space: hall, services: [affairs, legal]}
    devices:
      - {id: counter, model: modbus-people-counter, space: hall, transport: modbus, host: 192.0.2.1, port: 502,
         unit: 1, report_interval_s: 10, word_order: little}
      - {id: dispenser, model: mqtt-ticket-dispenser, space: waiting, transport: mqtt, serial: TD1,
         vendor_topic: queue/dispenser/TD1, report_interval_s: 30, services: [affairs, legal]}
      - {id: terminal, model: mqtt-window-terminal, space: hall, transport: mqtt, serial: WT1,
         vendor_topic: queue/terminal/WT1, report_interval_s: 30, window: window-1}
      - {id: board, model: mqtt-display-board, space: waiting, transport: mqtt, serial: DB1,
         vendor_topic: queue/display/DB1, report_interval_s: 30}
      - {id: led, model: ditel-led-board, space: hall, transport: modbus, host: 192.0.2.2, port: 502, unit: 1,
         report_interval_s: 10}
      - {id: door, model: modbus-door-controller, space: hall, transport: modbus, host: 192.0.2.3, port: 502,
         unit: 1, report_interval_s: 1}
"""


def test_queue_and_modbus_device_models_load_with_their_own_fields() -> None:
    site = parse_belt(BELT, source="site.yaml").site("hub")
    assert site.device("counter").word_order == "little"
    assert site.device("dispenser").services == ("affairs", "legal")
    assert site.device("terminal").window == "window-1"
    assert site.device("door").word_order is None


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        ("word_order: little}", "word_order: middle}", "word_order: Input should be 'big' or 'little'"),
        (
            "vendor_topic: queue/display/DB1,",
            "vendor_topic: queue/display/DB1, window: window-1,",
            "model mqtt-display-board takes no window",
        ),
        (
            "unit: 1, report_interval_s: 1}",
            "unit: 1, report_interval_s: 1, word_order: big}",
            "model modbus-door-controller takes no word_order",
        ),
        ("services: [affairs, legal]}", "services: [affairs, passports]}", "no service 'passports' in this site"),
        ("services: [affairs, legal]}", "services: [affairs, affairs]}", "duplicate service 'affairs'"),
        ("services: [affairs, legal]}", "services: []}", "services: Tuple should have at least 1 item"),
        (
            "report_interval_s: 30, services: [affairs, legal]}",
            "report_interval_s: 30}",
            "model mqtt-ticket-dispenser needs services",
        ),
        ("window: window-1}", "window: window-9}", "no window 'window-9' in this site"),
        ("window: window-1}", "}", "model mqtt-window-terminal needs window"),
        (
            "{id: terminal, model: mqtt-window-terminal, space: hall,",
            "{id: terminal, model: mqtt-window-terminal, space: waiting,",
            "the terminal of window 'window-1' must be in the window's space 'hall'",
        ),
    ],
    ids=[
        "bad-word-order",
        "window-on-a-board",
        "word-order-on-a-door",
        "unknown-service",
        "repeated-button",
        "no-buttons",
        "dispenser-without-services",
        "unknown-window",
        "terminal-without-window",
        "terminal-away-from-its-window",
    ],
)
def test_model_specific_fields_are_checked(old: str, new: str, problem: str) -> None:
    assert old in BELT
    with pytest.raises(SiteFileError) as caught:
        parse_belt(BELT.replace(old, new, 1), source="site.yaml")
    assert str(caught.value).startswith("site.yaml:")
    assert problem in str(caught.value), str(caught.value)
