"""The ``occupancy.v1`` body: readings survive the wire unchanged, and malformed bodies are refused by field."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devices.envelope import Envelope, decode_envelope, encode_envelope
from devices.errors import PayloadRejected, RejectReason
from devices.readings import (
    MAX_COUNT,
    OCCUPANCY_SCHEMA,
    OccupancyReading,
    RegionCount,
    occupancy_envelope,
    occupancy_from_envelope,
)

TS = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
READING = OccupancyReading(
    people=4,
    occupied=True,
    regions=(RegionCount("Hall A", 3, True), RegionCount("阅览室", 0, False)),
    trigger="interval",
)


def test_occupancy_envelope_carries_the_reading_in_the_documented_shape() -> None:
    envelope = occupancy_envelope("vs121-hall", 7, TS, READING)
    assert envelope.schema_name == OCCUPANCY_SCHEMA
    assert envelope.data == {
        "people": 4,
        "occupied": True,
        "regions": [
            {"name": "Hall A", "count": 3, "occupied": True},
            {"name": "阅览室", "count": 0, "occupied": False},
        ],
        "trigger": "interval",
    }
    assert occupancy_from_envelope(decode_envelope(encode_envelope(envelope), now=TS)) == READING


def _body(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "people": 1,
        "occupied": True,
        "regions": [{"name": "Desk 1", "count": 1, "occupied": True}],
        "trigger": "change",
    }
    body.update(fields)
    return {key: value for key, value in body.items() if value is not ...}


def _region(**fields: Any) -> dict[str, Any]:
    region: dict[str, Any] = {"name": "Desk 1", "count": 1, "occupied": True}
    region.update(fields)
    return {key: value for key, value in region.items() if value is not ...}


MALFORMED_BODIES = [
    pytest.param(_body(people=-1), "data.people: Input should be greater than or equal to 0", id="negative-people"),
    pytest.param(_body(people=True), "data.people: Input should be a valid integer", id="bool-as-int"),
    pytest.param(_body(people="3"), "data.people: Input should be a valid integer", id="string-count"),
    pytest.param(_body(people=3.0), "data.people: Input should be a valid integer", id="float-count"),
    pytest.param(_body(people=MAX_COUNT + 1), "data.people: Input should be less than or equal to", id="too-big"),
    pytest.param(_body(occupied=1), "data.occupied: Input should be a valid boolean", id="int-as-bool"),
    pytest.param(_body(trigger="periodic"), "data.trigger: Input should be 'interval' or 'change'", id="trigger"),
    pytest.param(_body(people=...), "data.people: Field required", id="missing-people"),
    pytest.param(_body(extra=1), "data.extra: Extra inputs are not permitted", id="extra-field"),
    pytest.param(_body(regions={}), "data.regions: Input should be a valid list", id="regions-object"),
    pytest.param(_body(regions=[_region(count=-2)]), "data.regions.0.count: Input should be greater", id="region-neg"),
    pytest.param(_body(regions=[_region(count=False)]), "data.regions.0.count: Input should be a valid int", id="rb"),
    pytest.param(_body(regions=[_region(name="")]), "data.regions.0.name: String should have at least 1", id="rn"),
    pytest.param(_body(regions=[_region(occupied=...)]), "data.regions.0.occupied: Field required", id="ro"),
    pytest.param(_body(regions=[_region(), _region()]), "data.regions: region name 'Desk 1' appears", id="dup"),
]


@pytest.mark.parametrize(("body", "detail"), MALFORMED_BODIES)
def test_occupancy_from_envelope_rejects_malformed_bodies_naming_the_field(body: dict[str, Any], detail: str) -> None:
    with pytest.raises(PayloadRejected) as caught:
        occupancy_from_envelope(Envelope(OCCUPANCY_SCHEMA, "d1", TS, 1, body))
    assert caught.value.reason is RejectReason.SCHEMA
    assert caught.value.detail.startswith(detail)


def test_occupancy_from_envelope_rejects_other_schemas() -> None:
    with pytest.raises(PayloadRejected) as caught:
        occupancy_from_envelope(Envelope("occupancy.v2", "d1", TS, 1, _body()))
    assert caught.value.reason is RejectReason.SCHEMA
    assert caught.value.detail.startswith("schema: ")


# Typed Any: these are the wrong types on purpose.
_NOT_A_BOOL: Any = 1
_NOT_A_TRIGGER: Any = "hourly"
_NOT_A_TUPLE: Any = []


@pytest.mark.parametrize(
    ("make", "field"),
    [
        pytest.param(lambda: RegionCount("", 1, True), "name", id="empty-region-name"),
        pytest.param(lambda: RegionCount("a", -1, True), "count", id="negative-region-count"),
        pytest.param(lambda: RegionCount("a", True, True), "count", id="bool-region-count"),
        pytest.param(lambda: RegionCount("a", 1, _NOT_A_BOOL), "occupied", id="int-region-flag"),
        pytest.param(lambda: OccupancyReading(-1, False, (), "interval"), "people", id="negative-people"),
        pytest.param(lambda: OccupancyReading(1, True, (), _NOT_A_TRIGGER), "trigger", id="bad-trigger"),
        pytest.param(lambda: OccupancyReading(1, True, _NOT_A_TUPLE, "interval"), "regions", id="regions-list"),
        pytest.param(
            lambda: OccupancyReading(1, True, (RegionCount("a", 1, True), RegionCount("a", 0, False)), "change"),
            "regions",
            id="duplicate-region-names",
        ),
    ],
)
def test_readings_cannot_be_built_from_impossible_values(make: Any, field: str) -> None:
    with pytest.raises(ValueError, match=f"^{field}: "):
        make()


_counts = st.integers(min_value=0, max_value=MAX_COUNT)
_readings = st.builds(
    OccupancyReading,
    people=_counts,
    occupied=st.booleans(),
    regions=st.lists(
        st.builds(
            RegionCount,
            name=st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), min_size=1, max_size=16),
            count=_counts,
            occupied=st.booleans(),
        ),
        max_size=6,
        unique_by=lambda region: region.name,
    ).map(tuple),
    trigger=st.sampled_from(["interval", "change"]),
)


@settings(deadline=None)
@given(_readings, st.integers(min_value=0, max_value=2**63 - 1))
def test_any_reading_round_trips_through_an_envelope(reading: OccupancyReading, seq: int) -> None:
    payload = encode_envelope(occupancy_envelope("vs121-hall", seq, TS, reading))
    assert occupancy_from_envelope(decode_envelope(payload, now=TS)) == reading
