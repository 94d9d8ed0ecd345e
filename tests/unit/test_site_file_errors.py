"""A bad site file fails with one SiteFileError line naming the file, the line, the key path and the problem."""

from __future__ import annotations

import pytest

from devices.site import SiteFileError, parse_belt

# A small valid belt; each case below changes one thing in it. Line numbers in the cases refer to this text.
VALID = """\
schema: smartcomplex.site/v1
name: Test belt
timezone: Asia/Shanghai
sites:
  - id: hub
    name: Hub
    address: No. 1 Test Road
    floors:
      - {id: 1f, name: Ground floor, level: 1}
      - {id: 3f, name: Third floor, level: 3}
    spaces:
      - id: hall
        name: Service hall
        floor: 1f
        kind: service-hall
        capacity: 50
        bookable: false
        hours: {mon-fri: "08:30-17:00", sat: "09:00-12:00"}
      - id: council-hall
        name: Council hall
        floor: 3f
        kind: council-hall
        capacity: 80
        bookable: true
        hours:
          mon-fri: "09:00-12:00, 13:00-17:00"
    services:
      - {id: affairs, name: Affairs, prefix: A}
      - {id: legal, name: Legal advice, prefix: L}
    windows:
      - {id: window-1, name: Window 1, space: hall, services: [affairs]}
      - id: legal-window
        name: Legal window
        space: hall
        services: [legal]
        hours: {fri: "13:00-17:00"}
    devices:
      - id: hall-occupancy
        model: milesight-vs121
        space: hall
        transport: mqtt
        serial: SN0001
        vendor_topic: milesight/vs121/SN0001
        report_interval_s: 60
      - id: door-counter
        model: modbus-people-counter
        space: hall
        transport: modbus
        host: 192.0.2.10
        port: 502
        unit: 1
        report_interval_s: 10
  - id: annex
    name: Annex
    address: No. 2 Test Road
    floors: [{id: 1f, name: Ground floor, level: 1}]
    spaces:
      - id: room
        name: Room
        floor: 1f
        kind: meeting-room
        capacity: 8
        bookable: true
        hours: {mon: "09:00-17:00"}
    devices:
      - id: room-occupancy
        model: milesight-vs121
        space: room
        transport: mqtt
        serial: SN0002
        vendor_topic: milesight/vs121/SN0002
        report_interval_s: 60
"""

DAYS = "mon, tue, wed, thu, fri, sat, sun"


def variant(old: str, new: str) -> str:
    assert VALID.count(old) == 1, f"{old!r} must occur exactly once in VALID"
    return VALID.replace(old, new)


# (case id, site-file text, line, location, problem)
BAD_FILES = [
    (
        "capacity-below-one",
        variant("capacity: 80", "capacity: 0"),
        23,
        "sites[hub].spaces[council-hall].capacity",
        "Input should be greater than or equal to 1",
    ),
    (
        "capacity-not-a-number",
        variant("capacity: 50", "capacity: fifty"),
        16,
        "sites[hub].spaces[hall].capacity",
        "Input should be a valid integer, unable to parse string as an integer",
    ),
    (
        "bookable-not-a-boolean",
        variant("bookable: false", "bookable: perhaps"),
        17,
        "sites[hub].spaces[hall].bookable",
        "Input should be a valid boolean, unable to interpret input",
    ),
    (
        "unknown-key",
        variant("capacity: 50\n", "capacity: 50\n        colour: red\n"),
        17,
        "sites[hub].spaces[hall].colour",
        "unknown key",
    ),
    (
        "missing-key-points-at-its-item",
        variant("        kind: service-hall\n", ""),
        12,
        "sites[hub].spaces[hall].kind",
        "required key is missing",
    ),
    (
        "item-without-id-is-named-by-index",
        variant("      - id: council-hall\n        name: Council hall", "      - name: Council hall"),
        19,
        "sites[hub].spaces[1].id",
        "required key is missing",
    ),
    (
        "repeated-key-in-an-item",
        variant("capacity: 50\n", "capacity: 50\n        capacity: 60\n"),
        17,
        "sites[hub].spaces[hall].capacity",
        "key 'capacity' is repeated (first on line 16)",
    ),
    (
        "repeated-top-level-key",
        variant("timezone: Asia/Shanghai\n", "timezone: Asia/Shanghai\nname: Another belt\n"),
        4,
        "name",
        "key 'name' is repeated (first on line 2)",
    ),
    (
        "unknown-schema-version",
        variant("smartcomplex.site/v1", "smartcomplex.site/v9"),
        1,
        "schema",
        "Input should be 'smartcomplex.site/v1'",
    ),
    (
        "unknown-timezone",
        variant("Asia/Shanghai", "Asia/Shanghia"),
        3,
        "timezone",
        "'Asia/Shanghia' is not an IANA time zone such as 'Asia/Shanghai'",
    ),
    (
        "unknown-space-kind",
        variant("kind: service-hall", "kind: ballroom"),
        15,
        "sites[hub].spaces[hall].kind",
        "Input should be 'activity-room', 'classroom', 'consulting-room', 'council-hall', 'day-care', "
        "'entrance', 'exhibition-hall', 'meeting-room', 'reading-room', 'rest-station', 'service-hall' or "
        "'waiting-area'",
    ),
    (
        "hours-unknown-day",
        variant('sat: "09:00-12:00"', 'sta: "09:00-12:00"'),
        18,
        "sites[hub].spaces[hall].hours.sta",
        f"'sta' is not a day; use {DAYS} or a range like mon-fri",
    ),
    (
        "hours-backwards-day-range",
        variant('mon-fri: "09:00-12:00, 13:00-17:00"', 'fri-mon: "09:00-12:00, 13:00-17:00"'),
        26,
        "sites[hub].spaces[council-hall].hours.fri-mon",
        "day range 'fri-mon' runs backwards; write e.g. 'mon-fri'",
    ),
    (
        "hours-end-before-start",
        variant('13:00-17:00"\n    services', '17:00-13:00"\n    services'),
        26,
        "sites[hub].spaces[council-hall].hours.mon-fri",
        "'17:00-13:00' ends before it starts; intervals may not cross midnight",
    ),
    (
        "hours-overlapping-intervals",
        variant("09:00-12:00, 13:00-17:00", "09:00-13:30, 13:00-17:00"),
        26,
        "sites[hub].spaces[council-hall].hours.mon-fri",
        "intervals 09:00-13:30 and 13:00-17:00 overlap or touch; join them into one",
    ),
    (
        "hours-day-named-twice",
        variant('13:00-17:00"\n', '13:00-17:00"\n          fri: "18:00-20:00"\n'),
        27,
        "sites[hub].spaces[council-hall].hours.fri",
        "fri is already given by 'mon-fri'; name each day once",
    ),
    (
        "hours-not-a-time-of-day",
        variant('sat: "09:00-12:00"', 'sat: "09:00-25:00"'),
        18,
        "sites[hub].spaces[hall].hours.sat",
        "'09:00-25:00' is not a time of day (00:00 to 24:00)",
    ),
    (
        "hours-not-an-interval",
        variant('sat: "09:00-12:00"', 'sat: "9 to 12"'),
        18,
        "sites[hub].spaces[hall].hours.sat",
        "'9 to 12' is not an interval like '08:30-17:00'",
    ),
    (
        "hours-written-as-one-string",
        variant('{mon-fri: "08:30-17:00", sat: "09:00-12:00"}', '"mon-fri 08:30-17:00"'),
        18,
        "sites[hub].spaces[hall].hours",
        'hours are a mapping of days to intervals, e.g. {mon-fri: "08:30-17:00", sat: "09:00-12:00"}',
    ),
    (
        "window-hours-outside-its-space",
        variant('{fri: "13:00-17:00"}', '{fri: "13:00-18:00"}'),
        36,
        "sites[hub].windows[legal-window].hours",
        "window hours (Fri 13:00-18:00) fall outside the hours of space 'hall' (Mon-Fri 08:30-17:00; Sat 09:00-12:00)",
    ),
    (
        "window-in-unknown-space",
        variant("space: hall\n        services: [legal]", "space: lobby\n        services: [legal]"),
        34,
        "sites[hub].windows[legal-window].space",
        "no space 'lobby' in this site (known: hall, council-hall)",
    ),
    (
        "window-handles-unknown-service",
        variant("services: [legal]", "services: [legol]"),
        35,
        "sites[hub].windows[legal-window].services[0]",
        "no service 'legol' in this site (known: affairs, legal)",
    ),
    (
        "service-no-window-handles",
        variant("services: [affairs]", "services: [legal]"),
        28,
        "sites[hub].services[affairs].id",
        "no window handles service 'affairs'; list it under a window's services",
    ),
    (
        "space-on-unknown-floor",
        variant("floor: 3f", "floor: 2f"),
        21,
        "sites[hub].spaces[council-hall].floor",
        "no floor '2f' in this site (known: 1f, 3f)",
    ),
    (
        "device-in-unknown-space",
        variant("space: room\n", "space: lobby\n"),
        68,
        "sites[annex].devices[room-occupancy].space",
        "no space 'lobby' in this site (known: room)",
    ),
    (
        "duplicate-space-id",
        variant("- id: council-hall", "- id: hall"),
        19,
        "sites[hub].spaces[hall].id",
        "duplicate space id 'hall'",
    ),
    (
        "duplicate-ticket-prefix",
        variant("prefix: L", "prefix: A"),
        29,
        "sites[hub].services[legal].prefix",
        "duplicate ticket prefix 'A'",
    ),
    (
        "ticket-prefix-not-one-letter",
        variant("prefix: L", "prefix: LA"),
        29,
        "sites[hub].services[legal].prefix",
        "ticket prefix 'LA' is not one uppercase letter A-Z",
    ),
    (
        "duplicate-site-id",
        variant("- id: annex", "- id: hub"),
        53,
        "sites[hub].id",
        "duplicate site id 'hub'",
    ),
    (
        "device-id-repeated-in-another-site",
        variant("- id: room-occupancy", "- id: hall-occupancy"),
        66,
        "sites[annex].devices[hall-occupancy].id",
        "device id 'hall-occupancy' is already used in site 'hub'",
    ),
    (
        "vendor-topic-repeated-in-another-site",
        variant("vendor_topic: milesight/vs121/SN0002", "vendor_topic: milesight/vs121/SN0001"),
        71,
        "sites[annex].devices[room-occupancy].vendor_topic",
        "vendor_topic 'milesight/vs121/SN0001' is already used by device 'hall-occupancy' of site 'hub'",
    ),
    (
        "device-id-not-an-id",
        variant("- id: hall-occupancy", "- id: Hall Sensor"),
        38,
        "sites[hub].devices[Hall Sensor].id",
        "'Hall Sensor' is not an id: use 1-63 characters of a-z, 0-9, '_' and '-', starting with a letter or digit",
    ),
    (
        "vendor-topic-with-wildcard",
        variant("milesight/vs121/SN0001", "milesight/+/SN0001"),
        43,
        "sites[hub].devices[hall-occupancy].vendor_topic",
        "'milesight/+/SN0001' is not an MQTT topic to subscribe to exactly: no '+', '#', spaces, empty levels "
        "or leading '$'",
    ),
    (
        "mqtt-device-without-vendor-topic",
        variant("        vendor_topic: milesight/vs121/SN0001\n", ""),
        38,
        "sites[hub].devices[hall-occupancy].vendor_topic",
        "mqtt devices need vendor_topic",
    ),
    (
        "modbus-device-without-host",
        variant("        host: 192.0.2.10\n", ""),
        45,
        "sites[hub].devices[door-counter].host",
        "modbus devices need host",
    ),
    (
        "modbus-device-with-vendor-topic",
        variant("        unit: 1\n", "        unit: 1\n        vendor_topic: counters/door\n"),
        52,
        "sites[hub].devices[door-counter].vendor_topic",
        "modbus devices take no vendor_topic",
    ),
    (
        "model-on-the-wrong-transport",
        variant("transport: modbus", "transport: mqtt"),
        48,
        "sites[hub].devices[door-counter].transport",
        "model modbus-people-counter speaks modbus, not mqtt",
    ),
    (
        "unknown-device-model",
        variant("model: milesight-vs121\n        space: hall", "model: milesight-vs999\n        space: hall"),
        39,
        "sites[hub].devices[hall-occupancy].model",
        "Input should be 'milesight-vs121', 'modbus-people-counter', 'modbus-door-controller', 'ditel-led-board',"
        " 'mqtt-ticket-dispenser', 'mqtt-window-terminal' or 'mqtt-display-board'",
    ),
    (
        "yaml-syntax-error",
        variant("name: Service hall", "name: Service: hall"),
        13,
        "(document)",
        "YAML: mapping values are not allowed here",
    ),
    (
        "yaml-tab-indentation",
        variant("  - id: annex", "\t- id: annex"),
        53,
        "(document)",
        "YAML: while scanning for the next token: found character '\\t' that cannot start any token",
    ),
    (
        "yaml-bad-explicit-tag",
        variant("capacity: 50", "capacity: !!int fifty"),
        16,
        "(document)",
        "YAML: cannot read 'fifty' as tag:yaml.org,2002:int: invalid literal for int() with base 10: 'fifty'",
    ),
    (
        "two-documents",
        VALID + "---\nname: second\n",
        73,
        "(document)",
        "YAML: expected a single document in the stream: but found another document",
    ),
    (
        "top-level-list",
        "- schema: smartcomplex.site/v1\n",
        1,
        "(document)",
        "expected a mapping with schema, name, timezone and sites at the top, found a list",
    ),
    (
        "top-level-scalar",
        "\n\njust some words\n",
        3,
        "(document)",
        "expected a mapping with schema, name, timezone and sites at the top, found a single value",
    ),
]


@pytest.mark.parametrize(
    ("text", "line", "location", "problem"),
    [pytest.param(*case[1:], id=case[0]) for case in BAD_FILES],
)
def test_bad_site_file_is_refused_with_its_line_and_location(text: str, line: int, location: str, problem: str) -> None:
    with pytest.raises(SiteFileError) as caught:
        parse_belt(text, source="site.yaml")
    err = caught.value
    assert str(err) == f"site.yaml:{line}: {location}: {problem}"
    assert (err.source, err.line, err.location, err.problem) == ("site.yaml", line, location, problem)


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n"], ids=["empty", "blank-lines", "comment-only"])
def test_empty_site_file_is_refused_without_a_line(text: str) -> None:
    with pytest.raises(SiteFileError) as caught:
        parse_belt(text, source="site.yaml")
    assert str(caught.value) == (
        "site.yaml: (document): the file is empty; expected a mapping with schema, name, timezone and sites"
    )
    assert caught.value.line is None


def test_valid_sample_loads() -> None:
    belt = parse_belt(VALID, source="site.yaml")
    assert [site.id for site in belt.sites] == ["hub", "annex"]


def test_control_character_is_refused_at_its_line() -> None:
    with pytest.raises(SiteFileError) as caught:
        parse_belt(variant("name: Service hall", "name: Service\x07hall"), source="site.yaml")
    assert str(caught.value) == (
        "site.yaml:13: (document): YAML: unacceptable character #x0007: special characters are not allowed"
    )


def test_repeated_key_inside_an_anchored_mapping_is_refused_once_where_defined() -> None:
    text = variant(
        'hours: {mon-fri: "08:30-17:00", sat: "09:00-12:00"}',
        'hours: &office {mon-fri: "08:30-17:00", mon-fri: "09:00-12:00"}',
    )
    with pytest.raises(SiteFileError) as caught:
        parse_belt(text, source="site.yaml")
    assert str(caught.value) == (
        "site.yaml:18: sites[hub].spaces[hall].hours.mon-fri: key 'mon-fri' is repeated (first on line 18)"
    )


def test_aliases_and_merge_keys_are_read_like_plain_yaml() -> None:
    text = variant(
        'hours: {mon-fri: "08:30-17:00", sat: "09:00-12:00"}', 'hours: &office {mon-fri: "08:30-17:00"}'
    ).replace('hours: {mon: "09:00-17:00"}', 'hours: {<<: *office, sat: "09:00-12:00"}')
    belt = parse_belt(text, source="site.yaml")
    assert str(belt.site("annex").space("room").hours) == "Mon-Fri 08:30-17:00; Sat 09:00-12:00"
