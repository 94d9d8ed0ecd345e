"""The server's word to an edge agent that envelopes are written: only then may the agent's outbox forget them.

    topic:   <root>/v1/<site>/_agent/cmd/confirm          QoS 1, never retained
    payload: {"confirmed": {"vs121-hall": [[0, 41], [43, 43]], "door-1": [[7, 7]]}}

Each device's confirmed sequence numbers as inclusive ``[first, last]`` ranges; the encoder sorts and merges them,
so a batch of consecutive readings costs a few bytes however long it is. A confirmation is sent after the server's
COMMIT and covers stored readings, duplicates of stored ones and rejects (the reject row is their durable record:
sending them again would only be rejected again). A lost confirmation costs one re-send, which the server stores
once, so the topic needs no stronger guarantee than QoS 1.

:func:`decode_confirmation` takes untrusted bytes and raises nothing but :class:`PayloadRejected`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import NoReturn

from devices.envelope import MAX_SEQ, load_json_object
from devices.errors import PayloadRejected, RejectReason, preview
from devices.topics import TOPIC_ROOT, agent_command_topic, is_sender_id

CONFIRM_ACTION = "confirm"
# A server batch is at most a few thousand envelopes; even one range per envelope stays far below this.
MAX_CONFIRMATION_BYTES = 256 * 1024

SeqRange = tuple[int, int]  # inclusive: (first, last), first <= last


def confirmation_topic(site_id: str, *, root: str = TOPIC_ROOT) -> str:
    """Where the server confirms writes to the edge agent of ``site_id``."""
    return agent_command_topic(site_id, CONFIRM_ACTION, root=root)


def seq_ranges(seqs: Iterable[int]) -> list[SeqRange]:
    """Sorted, merged inclusive ranges covering exactly ``seqs`` (repeats allowed): [3, 1, 2, 7] → [(1, 3), (7, 7)]."""
    ranges: list[SeqRange] = []
    for seq in sorted(set(seqs)):
        if ranges and ranges[-1][1] == seq - 1:
            ranges[-1] = (ranges[-1][0], seq)
        else:
            ranges.append((seq, seq))
    return ranges


def encode_confirmation(seqs_by_device: Mapping[str, Iterable[int]]) -> bytes:
    """Compact JSON confirming every ``(device_id, seq)`` given; ValueError for an id or seq that cannot be sent."""
    confirmed: dict[str, list[list[int]]] = {}
    for device_id, seqs in seqs_by_device.items():
        if not isinstance(device_id, str) or not is_sender_id(device_id):
            raise ValueError(f"device id {device_id!r} must match [a-z0-9][a-z0-9_-]{{0,62}}")
        values = list(seqs)
        for seq in values:
            if type(seq) is not int or not 0 <= seq <= MAX_SEQ:
                raise ValueError(f"{device_id}: seq {seq!r} must be an integer in 0..2**63-1")
        if values:
            confirmed[device_id] = [[first, last] for first, last in seq_ranges(values)]
    if not confirmed:
        raise ValueError("a confirmation must confirm at least one sequence number")
    return json.dumps({"confirmed": confirmed}, separators=(",", ":")).encode("ascii")


def decode_confirmation(payload: bytes) -> dict[str, list[SeqRange]]:
    """Each device's confirmed ranges; PayloadRejected (NOT_JSON, TOO_LARGE, SCHEMA naming the place) if unusable."""
    document = load_json_object(payload, max_bytes=MAX_CONFIRMATION_BYTES, reject_duplicate_keys=True)
    extra = [key for key in document if key != "confirmed"]
    if extra:
        _reject(preview(extra[0]), "Extra inputs are not permitted")
    confirmed = document.get("confirmed")
    if not isinstance(confirmed, dict) or not confirmed:
        _reject("confirmed", f"{preview(confirmed)} must be a non-empty object of device ids")
    result: dict[str, list[SeqRange]] = {}
    for device_id, ranges in confirmed.items():
        if not is_sender_id(device_id):
            _reject("confirmed", f"device id {preview(device_id)} must match [a-z0-9][a-z0-9_-]{{0,62}}")
        if not isinstance(ranges, list) or not ranges:
            _reject(f"confirmed.{device_id}", f"{preview(ranges)} must be a non-empty array of [first, last]")
        result[device_id] = [_seq_range(f"confirmed.{device_id}.{index}", item) for index, item in enumerate(ranges)]
    return result


def _seq_range(where: str, item: object) -> SeqRange:
    if not isinstance(item, list) or len(item) != 2:
        _reject(where, f"{preview(item)} must be [first, last]")
    first, last = item
    for value in (first, last):
        if type(value) is not int or not 0 <= value <= MAX_SEQ:  # bool is an int subclass and is not a seq
            _reject(where, f"{preview(value)} must be an integer in 0..2**63-1")
    if first > last:
        _reject(where, f"first {first} is after last {last}")
    return first, last


def _reject(where: str, why: str) -> NoReturn:
    raise PayloadRejected(RejectReason.SCHEMA, f"{where}: {why}")
