"""Milesight VS121-P report cases: real-format payloads with what they must normalise to, and malformed ones with
the reason they must be refused. Imported by the contract tests and by the integration test through the broker.

Payload files in ``fixtures/vs121/`` are byte-for-byte what a sensor publishes. The ``doc_*`` files are the examples
of Milesight's "VS121-P Communication Protocol" page made into JSON the way the device sends it: the ``//`` comments
and the HTTP-only ``snapshot`` removed, the missing commas and the quotes around ``Region1`` added; their quirks kept
(the ``Max_counted`` spelling, ``numbering_regions`` given twice, ``occupancy [1, 0]`` beside counts ``[5, 5]``).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from devices.errors import RejectReason
from devices.readings import OccupancyReading, RegionCount

FIXTURES = Path(__file__).parent / "fixtures" / "vs121"


def fixture(name: str) -> bytes:
    return (FIXTURES / f"{name}.json").read_bytes()


def _reading(people: int, occupied: bool, trigger: str, *regions: tuple[str, int, bool]) -> OccupancyReading:
    return OccupancyReading(
        people=people,
        occupied=occupied,
        regions=tuple(RegionCount(name, count, flag) for name, count, flag in regions),
        trigger="interval" if trigger == "interval" else "change",
    )


# (id, payload, observed_at in UTC, expected reading)
VALID_CASES: list[tuple[str, bytes, datetime, OccupancyReading]] = [
    (
        # Names from numbering_regions; region 2 has 5 people although its flag says 0, so it is occupied.
        "doc_interval_max_counted_typo",
        fixture("doc_interval_max_counted_typo"),
        datetime(2022, 12, 20, 11, 15, 52, tzinfo=UTC),
        _reading(10, True, "interval", ("Region1", 5, True), ("Region2", 5, True)),
    ),
    (
        # One of the four people stands outside both regions; non-ASCII region names pass through.
        "interval_named_regions",
        fixture("interval_named_regions"),
        datetime(2026, 11, 27, 10, 0, tzinfo=UTC),
        _reading(4, True, "interval", ("Hall A", 3, True), ("阅览室", 0, False)),
    ),
    (
        "trigger_everyone_left",
        fixture("trigger_everyone_left"),
        datetime(2026, 11, 27, 1, 31, 7, tzinfo=UTC),
        _reading(0, False, "change", ("Hall A", 0, False), ("阅览室", 0, False)),
    ),
    (
        # The document's trigger example has no report_type field.
        "trigger_without_report_type",
        fixture("trigger_without_report_type"),
        datetime(2022, 12, 20, 10, 20, 3, tzinfo=UTC),
        _reading(1, True, "change", ("Meeting Room 2", 1, True)),
    ),
    (
        "counts_as_strings",
        fixture("counts_as_strings"),
        datetime(2026, 11, 27, 2, 15, tzinfo=UTC),
        _reading(3, True, "interval", ("Window 1", 2, True), ("Window 2", 1, True)),
    ),
    (
        "utc_minus_0330",
        fixture("utc_minus_0330"),
        datetime(2026, 11, 27, 10, 0, tzinfo=UTC),
        _reading(2, True, "interval", ("Desk 4", 2, True)),
    ),
    (
        # No region drawn: the arrays are not sent, the whole view still counts.
        "zero_regions",
        fixture("zero_regions"),
        datetime(2026, 11, 27, 6, 15, tzinfo=UTC),
        _reading(4, True, "interval"),
    ),
    (
        "empty_room",
        fixture("empty_room"),
        datetime(2026, 11, 27, 14, 0, tzinfo=UTC),
        _reading(0, False, "interval", ("Activity Room", 0, False)),
    ),
    (
        # "UTC+8" without minutes, dst_status as 0.
        "short_timezone_form",
        fixture("short_timezone_form"),
        datetime(2026, 11, 27, 3, 15, tzinfo=UTC),
        _reading(1, True, "interval", ("Consulting Room", 1, True)),
    ),
    (
        # UTC+1:00 standard time with DST in effect: local 12:00 is 10:00 UTC.
        "dst_in_effect",
        fixture("dst_in_effect"),
        datetime(2026, 7, 1, 10, 0, tzinfo=UTC),
        _reading(5, True, "interval", ("Foyer", 5, True)),
    ),
    (
        "new_year_boundary",
        fixture("new_year_boundary"),
        datetime(2025, 12, 31, 23, 30, tzinfo=UTC),
        _reading(1, True, "interval", ("Hall A", 1, True), ("阅览室", 0, False)),
    ),
    (
        "http_post_with_snapshot",
        fixture("http_post_with_snapshot"),
        datetime(2026, 11, 27, 7, 15, tzinfo=UTC),
        _reading(2, True, "interval", ("Region1", 2, True)),
    ),
    (
        # Someone sitting still: no count, but the sensor still flags the desk occupied.
        "seated_but_uncounted",
        fixture("seated_but_uncounted"),
        datetime(2026, 11, 27, 8, 2, 41, tzinfo=UTC),
        _reading(0, True, "change", ("Desk 1", 0, True), ("Desk 2", 0, False)),
    ),
]


def _variant(change: Callable[[dict[str, Any]], object]) -> bytes:
    """The ``interval_named_regions`` report with one thing changed."""
    report = copy.deepcopy(json.loads(fixture("interval_named_regions")))
    change(report)
    return json.dumps(report, ensure_ascii=False).encode("utf-8")


def _set(path: str, value: object) -> bytes:
    def change(report: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target = report
        for part in parents:
            target = target[part]
        target[last] = value

    return _variant(change)


def _drop(path: str) -> bytes:
    def change(report: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target = report
        for part in parents:
            target = target[part]
        del target[last]

    return _variant(change)


_BASE_TEXT = fixture("interval_named_regions")

# The document's first example exactly as the page prints it: comments, missing commas, unquoted names.
DOC_TEXT_AS_PRINTED = b"""{
"event":"Region People Counting",
"report_type": "interval",
"device_info":{ "device":"Workplace Sensor", "device_sn":"369362028335" },
"current_total":10,
"max_counted":12,//Maximum number of people during the reporting interval
"regions_name": [Region1, Region2], //Do not send this information if no region is specified
"occupancy":[1,0]
}"""

# (id, payload, reason it must be refused for)
MALFORMED_CASES: list[tuple[str, bytes, RejectReason]] = [
    ("one_megabyte_snapshot", _set("snapshot", "A" * (1024 * 1024)), RejectReason.TOO_LARGE),
    ("empty_body", b"", RejectReason.NOT_JSON),
    ("not_utf8", _BASE_TEXT.replace("阅览室".encode(), "阅览室".encode("gb18030")), RejectReason.NOT_JSON),
    ("truncated", _BASE_TEXT[:-20], RejectReason.NOT_JSON),
    ("doc_text_as_printed", DOC_TEXT_AS_PRINTED, RejectReason.NOT_JSON),
    ("top_level_array", b"[" + _BASE_TEXT + b"]", RejectReason.NOT_JSON),
    ("nan_total", _BASE_TEXT.replace(b'"current_total":4', b'"current_total":NaN'), RejectReason.NON_FINITE),
    ("infinity_count", _BASE_TEXT.replace(b"[3,0]", b"[Infinity,0]"), RejectReason.NON_FINITE),
    ("overflowing_count", _BASE_TEXT.replace(b"[3,0]", b"[1e309,0]"), RejectReason.NON_FINITE),
    ("doc_occupancy_status_mode", fixture("doc_occupancy_status_mode"), RejectReason.SCHEMA),
    ("other_event", _set("event", "Line Crossing Counting"), RejectReason.SCHEMA),
    ("unknown_report_type", _set("report_type", "hourly"), RejectReason.SCHEMA),
    ("device_info_not_object", _set("device_info", "VS121"), RejectReason.SCHEMA),
    ("missing_device_sn", _drop("device_info.device_sn"), RejectReason.SCHEMA),
    ("missing_time_info", _drop("time_info"), RejectReason.SCHEMA),
    ("missing_end_time", _drop("time_info.end_time"), RejectReason.SCHEMA),
    ("missing_timezone", _drop("time_info.timezone"), RejectReason.SCHEMA),
    ("iana_timezone", _set("time_info.timezone", "Asia/Shanghai"), RejectReason.SCHEMA),
    ("timezone_beyond_14h", _set("time_info.timezone", "UTC+15:00"), RejectReason.SCHEMA),
    ("iso_end_time", _set("time_info.end_time", "2026-11-27T18:00:00+08:00"), RejectReason.SCHEMA),
    ("impossible_date", _set("time_info.end_time", "2026/02/30 18:00:00"), RejectReason.SCHEMA),
    ("dst_status_word", _set("time_info.dst_status", "summer"), RejectReason.SCHEMA),
    ("missing_current_total", _drop("current_total"), RejectReason.SCHEMA),
    ("negative_total", _set("current_total", -1), RejectReason.SCHEMA),
    ("negative_total_as_string", _set("current_total", "-1"), RejectReason.SCHEMA),
    ("fractional_count", _set("current_counted", [2.5, 0]), RejectReason.SCHEMA),
    ("count_as_word", _set("current_counted", ["three", 0]), RejectReason.SCHEMA),
    ("boolean_count", _set("current_total", True), RejectReason.SCHEMA),
    ("count_beyond_int32", _set("current_total", 2**31), RejectReason.SCHEMA),
    ("arrays_of_different_lengths", _set("current_counted", [3, 0, 1]), RejectReason.SCHEMA),
    ("total_mapped_regions_disagrees", _set("total_mapped_regions", 3), RejectReason.SCHEMA),
    ("region_array_not_array", _set("occupancy", "1,0"), RejectReason.SCHEMA),
    ("occupancy_flag_2", _set("occupancy", [2, 0]), RejectReason.SCHEMA),
    ("repeated_region_name", _set("regions_name", ["Hall A", "Hall A"]), RejectReason.SCHEMA),
    ("empty_region_name", _set("regions_name", ["Hall A", " "]), RejectReason.SCHEMA),
    ("conflicting_key_spellings", _set("Max_counted", 8), RejectReason.SCHEMA),
]
