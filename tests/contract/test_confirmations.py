"""The server's confirmations to an edge agent: topic, compact ranges, round trip, and every refusal named."""

from __future__ import annotations

import json
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devices.confirmations import (
    MAX_CONFIRMATION_BYTES,
    confirmation_topic,
    decode_confirmation,
    encode_confirmation,
    seq_ranges,
)
from devices.envelope import MAX_SEQ
from devices.errors import PayloadRejected, RejectReason
from devices.topics import parse_device_topic

DEVICE_IDS = st.from_regex(r"[a-z0-9][a-z0-9_-]{0,62}", fullmatch=True)
SEQS = st.integers(min_value=0, max_value=MAX_SEQ)


def test_the_topic_is_a_command_to_the_sites_agent() -> None:
    topic = confirmation_topic("complex", root="test-1a2b/sc")
    assert topic == "test-1a2b/sc/v1/complex/_agent/cmd/confirm"
    parsed = parse_device_topic(topic, root="test-1a2b/sc")
    assert (parsed.site_id, parsed.is_agent, parsed.name) == ("complex", True, "confirm")


def test_the_topic_refuses_an_unusable_site_id() -> None:
    with pytest.raises(ValueError, match="site id"):
        confirmation_topic("Complex/+")


def test_consecutive_numbers_travel_as_ranges() -> None:
    payload = encode_confirmation({"vs121-hall": [5, 3, 4, 9, 3, 10, 0], "door-1": [7]})
    assert json.loads(payload) == {"confirmed": {"vs121-hall": [[0, 0], [3, 5], [9, 10]], "door-1": [[7, 7]]}}
    assert len(encode_confirmation({"d": range(5000)})) < 40


def test_seq_ranges_merge_neighbours_and_repeats() -> None:
    assert seq_ranges([]) == []
    assert seq_ranges([3, 1, 2, 7, 7]) == [(1, 3), (7, 7)]


@given(
    st.dictionaries(
        DEVICE_IDS,
        st.one_of(st.lists(SEQS, min_size=1, max_size=40), st.lists(st.integers(0, 60), min_size=1, max_size=40)),
        min_size=1,
        max_size=5,
    )
)
def test_what_is_encoded_decodes_to_exactly_the_same_numbers(seqs_by_device: dict[str, list[int]]) -> None:
    decoded = decode_confirmation(encode_confirmation(seqs_by_device))
    assert decoded.keys() == seqs_by_device.keys()
    for device_id, ranges in decoded.items():
        wanted = set(seqs_by_device[device_id])
        # Every number is covered, the ranges cover nothing else, and they are sorted, apart and not adjacent.
        assert all(any(first <= seq <= last for first, last in ranges) for seq in wanted)
        assert sum(last - first + 1 for first, last in ranges) == len(wanted)
        assert all(earlier[1] + 1 < later[0] for earlier, later in pairwise(ranges))


@pytest.mark.parametrize(
    ("seqs_by_device", "message"),
    [
        ({}, "at least one"),
        ({"d": []}, "at least one"),
        ({"D1": [1]}, "device id"),
        ({"d": [-1]}, "seq -1"),
        ({"d": [2**63]}, "seq"),
        ({"d": [True]}, "seq True"),
    ],
    ids=["nothing", "empty-device", "bad-device-id", "negative", "too-big", "bool"],
)
def test_encoding_refuses_what_could_not_be_sent(seqs_by_device: dict[str, list[object]], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        encode_confirmation(seqs_by_device)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("payload", "reason", "detail"),
    [
        (b"not json", RejectReason.NOT_JSON, ""),
        (b"[]", RejectReason.NOT_JSON, "not an object"),
        (b'{"confirmed": {"d": [[1, 2]]}, "extra": 1}', RejectReason.SCHEMA, "'extra': Extra inputs"),
        (b'{"confirmed": {"d": [[1, 2]]}, "confirmed": {}}', RejectReason.SCHEMA, "more than once"),
        (b"{}", RejectReason.SCHEMA, "confirmed: None must be"),
        (b'{"confirmed": {}}', RejectReason.SCHEMA, "non-empty object"),
        (b'{"confirmed": []}', RejectReason.SCHEMA, "non-empty object"),
        (b'{"confirmed": {"D!": [[1, 2]]}}', RejectReason.SCHEMA, "device id 'D!'"),
        (b'{"confirmed": {"_queue": [[1, 2]]}}', RejectReason.SCHEMA, "device id '_queue'"),
        (b'{"confirmed": {"d": []}}', RejectReason.SCHEMA, "confirmed.d: [] must be"),
        (b'{"confirmed": {"d": [1, 2]}}', RejectReason.SCHEMA, "confirmed.d.0: 1 must be [first, last]"),
        (b'{"confirmed": {"d": [[1, 2, 3]]}}', RejectReason.SCHEMA, "must be [first, last]"),
        (b'{"confirmed": {"d": [[1]]}}', RejectReason.SCHEMA, "must be [first, last]"),
        (b'{"confirmed": {"d": [[2, 1]]}}', RejectReason.SCHEMA, "confirmed.d.0: first 2 is after last 1"),
        (b'{"confirmed": {"d": [[-1, 1]]}}', RejectReason.SCHEMA, "-1 must be an integer"),
        (b'{"confirmed": {"d": [[1, 9223372036854775808]]}}', RejectReason.SCHEMA, "must be an integer"),
        (b'{"confirmed": {"d": [[true, 1]]}}', RejectReason.SCHEMA, "True must be an integer"),
        (b'{"confirmed": {"d": [[1.0, 2]]}}', RejectReason.SCHEMA, "1.0 must be an integer"),
        (b'{"confirmed": {"d": [["1", 2]]}}', RejectReason.SCHEMA, "'1' must be an integer"),
        (b'{"confirmed": {"d": [[NaN, 2]]}}', RejectReason.NON_FINITE, ""),
        (b'{"pad": "' + b"x" * MAX_CONFIRMATION_BYTES + b'"}', RejectReason.TOO_LARGE, ""),
        (b"\xff\xfe", RejectReason.NOT_JSON, "UTF-8"),
    ],
    ids=[
        "not-json",
        "array",
        "extra-key",
        "repeated-key",
        "missing",
        "no-devices",
        "devices-not-object",
        "bad-device-id",
        "agent-id",
        "no-ranges",
        "range-not-array",
        "range-of-three",
        "range-of-one",
        "backwards",
        "negative",
        "beyond-bigint",
        "bool",
        "float",
        "string",
        "nan",
        "too-large",
        "not-utf8",
    ],
)
def test_bad_confirmations_are_refused_with_their_reason(payload: bytes, reason: RejectReason, detail: str) -> None:
    with pytest.raises(PayloadRejected) as caught:
        decode_confirmation(payload)
    assert caught.value.reason is reason
    assert detail in caught.value.detail


@given(st.binary(max_size=300))
def test_any_bytes_decode_or_are_refused_never_crash(payload: bytes) -> None:
    try:
        decoded = decode_confirmation(payload)
    except PayloadRejected:
        return
    assert all(first <= last for ranges in decoded.values() for first, last in ranges)
