"""What the three MQTT queue device models share on the wire: the message header, times, and the field readers.

The protocol itself is documented in :mod:`devices.vendors.queue_devices`. Readers here take untrusted values out
of a parsed JSON object and raise only :class:`PayloadRejected` (SCHEMA, naming the field); writers raise ValueError
for a value the device could not send.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, NoReturn

from devices.envelope import load_json_object
from devices.errors import PayloadRejected, RejectReason, preview

# A queue device is a small embedded board: its messages and ours to it stay well under this (bytes).
MAX_QUEUE_PAYLOAD_BYTES = 4096
SET_SUFFIX = "/set"
MAX_UTC_OFFSET = timedelta(hours=14)  # UTC-12:00 .. UTC+14:00 are the offsets in use
MAX_SEQ = 2**32 - 1  # the message counter is an unsigned 32-bit register in the firmware; it wraps to 0

# RFC 3339 date-time; the space for "T" (its section 5.6 note) and an offset without its colon are accepted.
_TIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):?(\d{2}))?"
)
_WHOLE_NUMBER = re.compile(r"[0-9]{1,10}")
_TOKEN = re.compile(r"[a-z0-9_]{1,40}")
_COMMAND_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_SERIAL = re.compile(r"[A-Za-z0-9_-]{1,64}")
_TICKET = re.compile(r"[A-Z][0-9]{1,4}")
_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
_TRUE_WORDS = {"1", "true", "on", "yes"}
_FALSE_WORDS = {"0", "false", "off", "no"}


def command_topic(vendor_topic: str) -> str:
    """Where a queue device takes commands: its vendor topic plus ``/set`` (the Zigbee2MQTT convention)."""
    return vendor_topic + SET_SUFFIX


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceMessage:
    """The header every device message carries. ``time`` is aware UTC; ``utc_offset`` is the offset the device
    wrote (its local clock), kept so that encoding gives back the same text. ``seq`` is None from firmware that
    does not count its messages."""

    serial: str
    time: datetime
    utc_offset: timedelta = timedelta(hours=8)  # China Standard Time, where the family is installed
    seq: int | None = None


def reject(path: str, why: str) -> NoReturn:
    raise PayloadRejected(RejectReason.SCHEMA, f"{path}: {why}")


def load_message(payload: bytes) -> dict[str, Any]:
    """Size, UTF-8, strict JSON, an object; keys folded to lower case (``"Button"`` is ``"button"``)."""
    document = load_json_object(payload, max_bytes=MAX_QUEUE_PAYLOAD_BYTES, reject_duplicate_keys=True)
    folded: dict[str, Any] = {}
    for key, value in document.items():
        name = key.strip().casefold()
        if name in folded:
            reject(name, "given twice (differently spelled keys)")
        folded[name] = value
    return folded


def word(document: dict[str, Any], name: str, *, required: bool = True) -> str | None:
    """An enumerated word, normalised: ``" Call-Next "`` and ``"CALL_NEXT"`` are ``"call_next"``."""
    value = document.get(name)
    if value is None:
        if required:
            reject(name, "missing")
        return None
    if not isinstance(value, str):
        reject(name, f"{preview(value)} is not a word")
    normal = re.sub(r"[\s-]+", "_", value.strip()).casefold()
    if not _TOKEN.fullmatch(normal):
        reject(name, f"{preview(value)} is not a word of a-z, 0-9 and '_'")
    return normal


def one_of(document: dict[str, Any], name: str, allowed: tuple[str, ...], *, required: bool = True) -> str | None:
    value = word(document, name, required=required)
    if value is not None and value not in allowed:
        reject(name, f"{preview(document[name])} is not one of {', '.join(allowed)}")
    return value


def whole_number(document: dict[str, Any], name: str, low: int, high: int) -> int:
    """A whole number in ``low..high``, also when sent as ``"3"`` or ``3.0``."""
    value = document.get(name)
    if value is None:
        reject(name, "missing")
    if isinstance(value, str) and _WHOLE_NUMBER.fullmatch(value.strip()):
        value = int(value.strip())
    elif isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        reject(name, f"{preview(value)} is not a whole number")
    if not low <= value <= high:
        reject(name, f"{value} is outside {low}..{high}")
    return value


def flag(document: dict[str, Any], name: str) -> bool | None:
    """An on/off value: a JSON boolean, 0/1, or a word such as ``"true"``; None when absent."""
    value = document.get(name)
    if value is None:
        return None
    text = str(value).strip().casefold() if isinstance(value, str | int) else None
    if isinstance(value, bool):
        return value
    if text in _TRUE_WORDS | _FALSE_WORDS:
        return text in _TRUE_WORDS
    reject(name, f"{preview(value)} is not true/false or 1/0")


def text(document: dict[str, Any], name: str, max_chars: int, *, required: bool = True) -> str | None:
    value = document.get(name)
    if value is None:
        if required:
            reject(name, "missing")
        return None
    if not isinstance(value, str):
        reject(name, f"{preview(value)} is not a string")
    if len(value) > max_chars:
        reject(name, f"{len(value)} characters, at most {max_chars}")
    if any(ord(char) < 0x20 or 0xD800 <= ord(char) <= 0xDFFF for char in value):
        reject(name, "contains control characters or unpaired surrogates")
    return value


def command_id(document: dict[str, Any], name: str = "command_id") -> str:
    """An echoed command id: exact, never normalised, or the answer would match no command."""
    value = document.get(name)
    if not isinstance(value, str) or not _COMMAND_ID.fullmatch(value):
        reject(name, f"{preview(value)} is not a command id ([A-Za-z0-9_-], 1-64 characters)")
    return value


def ticket(document: dict[str, Any], name: str = "ticket", *, required: bool = True) -> str | None:
    """A ticket number, prefix letter and digits; ``" a017"`` from a keypad is ``"A017"``."""
    value = document.get(name)
    if value is None:
        if required:
            reject(name, "missing")
        return None
    normal = value.strip().upper() if isinstance(value, str) else None
    if normal is None or not _TICKET.fullmatch(normal):
        reject(name, f"{preview(value)} is not a ticket number like 'A017'")
    return normal


def identifier(document: dict[str, Any], name: str, *, required: bool = True) -> str | None:
    """A site-file id (window, service); surrounding blanks and upper case are forgiven."""
    value = document.get(name)
    if value is None:
        if required:
            reject(name, "missing")
        return None
    normal = value.strip().casefold() if isinstance(value, str) else None
    if normal is None or not _ID.fullmatch(normal):
        reject(name, f"{preview(value)} is not an id like 'window-2'")
    return normal


def header(document: dict[str, Any]) -> dict[str, Any]:
    """The :class:`DeviceMessage` fields as keyword arguments."""
    serial = document.get("serial")
    if isinstance(serial, int) and not isinstance(serial, bool):
        serial = str(serial)  # an all-digit serial sent as a number
    if not isinstance(serial, str) or not _SERIAL.fullmatch(serial.strip()):
        reject("serial", f"{preview(serial)} is not a serial number")
    moment, offset = parse_time("time", document.get("time"))
    seq = None if document.get("seq") is None else whole_number(document, "seq", 0, MAX_SEQ)
    return {"serial": serial.strip(), "time": moment, "utc_offset": offset, "seq": seq}


def parse_time(path: str, value: object) -> tuple[datetime, timedelta]:
    """An RFC 3339 time with its offset, as (aware UTC, the offset written). No offset: refused, since a local
    time alone is ambiguous by up to 26 hours."""
    if value is None:
        reject(path, "missing")
    match = _TIME.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        reject(path, f"{preview(value)} is not an RFC 3339 time like '2026-11-28T10:00:00.000+08:00'")
    year, month, day, hour, minute, second, fraction, zulu, sign, off_hours, off_minutes = match.groups()
    if zulu is None and sign is None:
        reject(path, f"{preview(value)} has no UTC offset")
    offset = timedelta(0)
    if sign is not None:
        offset = timedelta(hours=int(off_hours), minutes=int(off_minutes)) * (-1 if sign == "-" else 1)
        if int(off_minutes) >= 60 or abs(offset) > MAX_UTC_OFFSET:
            reject(path, f"{preview(value)}: offset beyond ±14 h")
    micros = int((fraction or "0")[:6].ljust(6, "0"))  # digits finer than a microsecond are dropped
    try:
        local = datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second), micros, tzinfo=timezone(offset)
        )
        return local.astimezone(UTC), offset
    except (ValueError, OverflowError) as exc:  # 2026-02-30, 24:00:00, or outside years 1..9999 in UTC
        reject(path, f"{preview(value)}: {exc}")


def format_time(moment: datetime, offset: timedelta) -> str:
    """``2026-11-28T10:00:00.123+08:00``: milliseconds, or microseconds when there are any."""
    if moment.utcoffset() is None:
        raise ValueError(f"{moment!r} must be timezone-aware")
    if offset % timedelta(minutes=1) or abs(offset) > MAX_UTC_OFFSET:
        raise ValueError(f"UTC offset {offset} must be whole minutes within ±14 h")
    local = moment.astimezone(timezone(offset))
    timespec = "milliseconds" if local.microsecond % 1000 == 0 else "microseconds"
    return local.isoformat(timespec=timespec)


def header_fields(message: DeviceMessage, kind: str) -> dict[str, Any]:
    """The first keys of an encoded message, in the documented order; ValueError for what could not be sent."""
    if not _SERIAL.fullmatch(message.serial):
        raise ValueError(f"serial {message.serial!r} must be 1-64 of A-Z, a-z, 0-9, '_', '-'")
    fields: dict[str, Any] = {"type": kind, "serial": message.serial}
    if message.seq is not None:
        if type(message.seq) is not int or not 0 <= message.seq <= MAX_SEQ:
            raise ValueError(f"seq {message.seq!r} must be an integer in 0..{MAX_SEQ}")
        fields["seq"] = message.seq
    fields["time"] = format_time(message.time, message.utc_offset)
    return fields


def dump(document: dict[str, Any]) -> bytes:
    payload = json.dumps(document, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")
    if len(payload) > MAX_QUEUE_PAYLOAD_BYTES:
        raise ValueError(f"{len(payload)} bytes, more than the device's {MAX_QUEUE_PAYLOAD_BYTES}")
    return payload


def checked(payload: bytes, parse: Callable[[bytes], object], value: object) -> bytes:
    """``payload`` if it parses back to ``value``; ValueError naming the problem otherwise. Every encoder ends
    here, so what a simulator sends is exactly what the edge reads (the codec stays symmetric by construction)."""
    try:
        parsed = parse(payload)
    except PayloadRejected as exc:
        raise ValueError(f"{type(value).__name__} could not be sent: {exc.detail}") from None
    if parsed != value:
        raise ValueError(f"{value!r} would be read back as {parsed!r}")
    return payload
