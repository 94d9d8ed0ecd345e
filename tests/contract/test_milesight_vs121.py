"""Milesight VS121-P reports: real-format payloads normalise as expected, malformed ones are refused by reason and
field, and what our simulator encodes parses back to what it was given."""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devices.envelope import decode_envelope, encode_envelope
from devices.errors import MAX_DETAIL_CHARS, PayloadRejected, RejectReason
from devices.readings import OccupancyReading, RegionCount, occupancy_envelope, occupancy_from_envelope
from devices.vendors.milesight_vs121 import (
    MAX_UTC_OFFSET,
    Vs121Report,
    encode_vs121_report,
    parse_vs121_report,
    vs121_to_reading,
)
from tests.contract.vs121_cases import MALFORMED_CASES, VALID_CASES, fixture


@pytest.mark.parametrize(("payload", "observed_at", "expected"), [pytest.param(*c[1:], id=c[0]) for c in VALID_CASES])
def test_vendor_payload_normalises_to_the_expected_reading(
    payload: bytes, observed_at: datetime, expected: OccupancyReading
) -> None:
    when, reading = vs121_to_reading(parse_vs121_report(payload))
    assert (when, reading) == (observed_at, expected)
    assert when.tzinfo is UTC


@pytest.mark.parametrize(("payload", "observed_at", "expected"), [pytest.param(*c[1:], id=c[0]) for c in VALID_CASES])
def test_normalised_reading_survives_the_envelope(
    payload: bytes, observed_at: datetime, expected: OccupancyReading
) -> None:
    when, reading = vs121_to_reading(parse_vs121_report(payload))
    wire = encode_envelope(occupancy_envelope("vs121-hall", 1, when, reading))
    envelope = decode_envelope(wire, now=observed_at)
    assert (envelope.ts, occupancy_from_envelope(envelope)) == (observed_at, expected)


def test_documented_example_keeps_serial_offset_and_misspelled_max_counted() -> None:
    report = parse_vs121_report(fixture("doc_interval_max_counted_typo"))
    assert report == Vs121Report(
        device_sn="369362028335",
        report_type="interval",
        observed_at=datetime(2022, 12, 20, 11, 15, 52, tzinfo=UTC),
        utc_offset=timedelta(hours=8),
        current_total=10,
        max_counted=12,
        regions=(RegionCount("Region1", 5, True), RegionCount("Region2", 5, True)),
    )


def test_dst_status_moves_the_offset_one_hour_ahead() -> None:
    assert parse_vs121_report(fixture("dst_in_effect")).utc_offset == timedelta(hours=2)
    assert parse_vs121_report(fixture("utc_minus_0330")).utc_offset == -timedelta(hours=3, minutes=30)


@pytest.mark.parametrize(("payload", "reason"), [pytest.param(*c[1:], id=c[0]) for c in MALFORMED_CASES])
def test_malformed_vendor_payload_is_rejected_for_its_reason(payload: bytes, reason: RejectReason) -> None:
    with pytest.raises(PayloadRejected) as caught:
        parse_vs121_report(payload)
    assert caught.value.reason is reason
    assert 0 < len(caught.value.detail) <= MAX_DETAIL_CHARS


# Where each refused-for-schema payload goes wrong, as the detail must say.
SCHEMA_FIELDS = {
    "doc_occupancy_status_mode": "current_counted: ",
    "other_event": "event: ",
    "unknown_report_type": "report_type: ",
    "device_info_not_object": "device_info: ",
    "missing_device_sn": "device_info.device_sn: ",
    "missing_time_info": "time_info: ",
    "missing_end_time": "time_info.end_time: ",
    "missing_timezone": "time_info.timezone: ",
    "iana_timezone": "time_info.timezone: ",
    "timezone_beyond_14h": "time_info.timezone: ",
    "iso_end_time": "time_info.end_time: ",
    "impossible_date": "time_info.end_time: ",
    "dst_status_word": "time_info.dst_status: ",
    "missing_current_total": "current_total: ",
    "negative_total": "current_total: ",
    "negative_total_as_string": "current_total: ",
    "fractional_count": "current_counted.0: ",
    "count_as_word": "current_counted.0: ",
    "boolean_count": "current_total: ",
    "count_beyond_int32": "current_total: ",
    "arrays_of_different_lengths": "regions: ",
    "total_mapped_regions_disagrees": "total_mapped_regions: ",
    "region_array_not_array": "occupancy: ",
    "occupancy_flag_2": "occupancy.0: ",
    "repeated_region_name": "regions_name: ",
    "empty_region_name": "regions_name.1: ",
    "conflicting_key_spellings": "max_counted: ",
}


@pytest.mark.parametrize(
    ("payload", "field"),
    [pytest.param(c[1], SCHEMA_FIELDS[c[0]], id=c[0]) for c in MALFORMED_CASES if c[2] is RejectReason.SCHEMA],
)
def test_schema_rejection_names_the_field(payload: bytes, field: str) -> None:
    with pytest.raises(PayloadRejected) as caught:
        parse_vs121_report(payload)
    assert caught.value.detail.startswith(field)


def test_encoded_report_has_the_vendor_layout() -> None:
    payload = encode_vs121_report(
        device_sn="6723D39142850012",
        observed_at=datetime(2026, 11, 27, 10, 0, 0, 999_000, tzinfo=UTC),
        utc_offset=timedelta(hours=8),
        report_type="interval",
        region_names=["Hall A", "阅览室"],
        region_counts=[3, 0],
        max_counted=7,
        current_total=4,
        period_start=datetime(2026, 11, 27, 9, 45, tzinfo=UTC),
    )
    assert json.loads(payload) == json.loads(fixture("interval_named_regions")) | {
        "device_info": {
            "device": "VS121",
            "device_sn": "6723D39142850012",
            "device_mac": "24:E1:24:00:00:01",
            "ip_address": "192.168.1.100",
        }
    }
    assert list(json.loads(payload)) == [
        "event",
        "report_type",
        "device_info",
        "time_info",
        "current_total",
        "max_counted",
        "total_mapped_regions",
        "regions_name",
        "numbering_regions",
        "current_counted",
        "occupancy",
    ]


def test_encoded_report_without_regions_omits_the_region_arrays() -> None:
    payload = encode_vs121_report(
        device_sn="1",
        observed_at=datetime(2026, 11, 27, 10, 0, tzinfo=UTC),
        utc_offset=timedelta(hours=-3, minutes=-30),
        report_type="trigger",
        region_names=[],
        region_counts=[],
        current_total=2,
        dst_active=True,
    )
    document = json.loads(payload)
    assert document["total_mapped_regions"] == 0
    assert not {"regions_name", "numbering_regions", "current_counted", "occupancy", "max_counted"} & set(document)
    assert document["time_info"] == {
        "timezone": "UTC-4:30",
        "dst_status": True,
        "start_time": "2026/11/27 06:30:00",
        "end_time": "2026/11/27 06:30:00",
    }


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"report_type": "periodic"}, id="report-type"),
        pytest.param({"device_sn": ""}, id="empty-serial"),
        pytest.param({"region_counts": [1]}, id="length-mismatch"),
        pytest.param({"region_names": ["a", "a"]}, id="duplicate-names"),
        pytest.param({"region_names": ["a", " b"]}, id="name-with-blank"),
        pytest.param({"region_counts": [1, -1]}, id="negative-count"),
        pytest.param({"region_counts": [1, True]}, id="bool-count"),
        pytest.param({"utc_offset": timedelta(hours=15)}, id="offset-too-big"),
        pytest.param({"utc_offset": timedelta(seconds=30)}, id="offset-seconds"),
        pytest.param({"observed_at": datetime(2026, 11, 27, 10, 0)}, id="naive-time"),
    ],
)
def test_encode_refuses_values_the_device_could_not_send(changes: dict[str, Any]) -> None:
    arguments: dict[str, Any] = {
        "device_sn": "1",
        "observed_at": datetime(2026, 11, 27, 10, 0, tzinfo=UTC),
        "utc_offset": timedelta(hours=8),
        "report_type": "interval",
        "region_names": ["a", "b"],
        "region_counts": [1, 2],
    }
    with pytest.raises(ValueError):  # noqa: PT011 - the message is free text; the type is the contract
        encode_vs121_report(**(arguments | changes))


_offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(lambda minutes: timedelta(minutes=minutes))
_names = st.lists(
    st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), min_size=1, max_size=12)
    .filter(str.strip)
    .map(str.strip),
    max_size=16,
    unique=True,
)


@settings(deadline=None)
@given(
    device_sn=st.from_regex(r"[0-9A-F]{12,16}", fullmatch=True),
    observed_at=st.datetimes(
        min_value=datetime(2000, 1, 1),  # hypothesis bounds are naive; timezones= makes values aware
        max_value=datetime(2099, 12, 31),
        timezones=st.just(UTC),
    ),
    utc_offset=_offsets,
    dst_active=st.booleans(),
    report_type=st.sampled_from(["interval", "trigger"]),
    names_and_counts=_names.flatmap(
        lambda names: st.tuples(st.just(names), st.lists(st.integers(0, 500), min_size=len(names), max_size=len(names)))
    ),
    max_counted=st.none() | st.integers(0, 1000),
    extra_people=st.integers(0, 50),
)
def test_encoded_report_parses_back_to_what_was_encoded(
    device_sn: str,
    observed_at: datetime,
    utc_offset: timedelta,
    dst_active: bool,
    report_type: str,
    names_and_counts: tuple[Sequence[str], Sequence[int]],
    max_counted: int | None,
    extra_people: int,
) -> None:
    if dst_active and abs(utc_offset - timedelta(hours=1)) > MAX_UTC_OFFSET:
        dst_active = False
    names, counts = names_and_counts
    payload = encode_vs121_report(
        device_sn=device_sn,
        observed_at=observed_at,
        utc_offset=utc_offset,
        report_type=report_type,
        region_names=names,
        region_counts=counts,
        max_counted=max_counted,
        current_total=sum(counts) + extra_people,
        dst_active=dst_active,
    )
    assert parse_vs121_report(payload) == Vs121Report(
        device_sn=device_sn,
        report_type=report_type,
        observed_at=observed_at.replace(microsecond=0),  # the device writes whole seconds
        utc_offset=utc_offset,
        current_total=sum(counts) + extra_people,
        max_counted=max_counted,
        regions=tuple(RegionCount(name, count, count > 0) for name, count in zip(names, counts, strict=True)),
    )


def _parses_or_rejects(payload: bytes) -> None:
    rejection: PayloadRejected | None = None
    try:
        parse_vs121_report(payload)
    except PayloadRejected as exc:
        rejection = exc
    if rejection is not None:
        assert isinstance(rejection.reason, RejectReason)
        assert 0 < len(rejection.detail) <= MAX_DETAIL_CHARS


_any_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
_base_report = json.loads(fixture("interval_named_regions"))


_paths = sorted(_base_report) + [
    f"{section}.{key}" for section in ("device_info", "time_info") for key in _base_report[section]
]


@settings(deadline=None)
@given(st.sampled_from(_paths), _any_json)
def test_parse_raises_only_payload_rejected_when_any_field_is_replaced(path: str, value: object) -> None:
    report = copy.deepcopy(_base_report)
    *parents, last = path.split(".")
    target = report
    for part in parents:
        target = target[part]
    target[last] = value
    _parses_or_rejects(json.dumps(report).encode("utf-8"))


@settings(deadline=None)
@given(st.binary(max_size=512))
def test_parse_raises_only_payload_rejected_on_any_bytes(payload: bytes) -> None:
    _parses_or_rejects(payload)
