"""Milesight VS121-P "Region People Counting" reports, as the sensor publishes them over MQTT (or HTTP POST).

Followed: Milesight, "VS121-P Communication Protocol" (milesight.com/products/docs/en/vs121-p/…/
vs121-p-communication-protocol.html). A report looks like

    {"event": "Region People Counting", "report_type": "interval",
     "device_info": {"device": "Workplace Sensor", "device_sn": "369362028335",
                     "device_mac": "00:16:28:FA:8E:68", "ip_address": "192.168.0.99"},
     "time_info": {"timezone": "UTC+8:00", "dst_status": false,
                   "start_time": "2022/12/20 18:15:52", "end_time": "2022/12/20 19:15:52"},
     "current_total": 10, "max_counted": 12, "total_mapped_regions": 2,
     "regions_name": ["Region1", "Region2"], "numbering_regions": [1, 2],
     "current_counted": [5, 5], "occupancy": [1, 0]}

Lenient where the document itself is inconsistent or vague: key case (its own ``Max_counted``), numbers sent as
strings (``"3"``), timezone spellings (``UTC+8:00``, ``UTC+08:00``, ``UTC+8``, ``UTC-3:30``), ``dst_status`` as a
boolean, 0/1 or a string, absent optional parts (``max_counted``, region arrays when no region is drawn, ``snapshot``,
which is HTTP only, and ``report_type``, which the document's trigger example leaves out), unknown extra keys.
Strict where meaning would be lost: no time or timezone, counts negative, fractional or not numbers, region arrays of
different lengths or disagreeing with ``total_mapped_regions``, repeated region names, NaN or Infinity.

Interpretations (the document does not say):
- ``timezone`` uses the ISO sign (``UTC+8:00`` is China), not the inverted POSIX TZ one.
- ``timezone`` is the standard offset; ``dst_status`` true means the local times are one hour further ahead.
- A region's ``occupancy`` flag and its count are OR-ed: the document's own example sends ``[5, 5]`` people with
  ``occupancy [1, 0]``, and a room with people in it must never be released as empty.
- Reports in the "Occupancy Status" mode carry per-region flags but no ``current_counted``; they are refused, since
  a region reading needs a count.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, NoReturn

from devices.envelope import load_json_object
from devices.errors import PayloadRejected, RejectReason, preview
from devices.readings import MAX_COUNT, OccupancyReading, RegionCount

VS121_MODEL = "milesight-vs121"
VS121_EVENT = "Region People Counting"
REPORT_TYPES = ("interval", "trigger")
# Above our envelope's 64 KiB: an HTTP-style report may carry a base64 JPEG ``snapshot`` we ignore.
VS121_MAX_PAYLOAD_BYTES = 256 * 1024
DST_SHIFT = timedelta(hours=1)
MAX_UTC_OFFSET = timedelta(hours=14)  # UTC-12:00 .. UTC+14:00 are the offsets in use

_TIMEZONE = re.compile(r"(?:UTC|GMT)?([+-])(\d{1,2})(?::?(\d{2}))?", re.IGNORECASE)
_LOCAL_TIME = re.compile(r"(\d{4})[/-](\d{1,2})[/-](\d{1,2})[ T](\d{1,2}):(\d{2}):(\d{2})")
_WHOLE_NUMBER = re.compile(r"[0-9]{1,10}")
_TRUE_WORDS = {"1", "true", "on", "yes"}
_FALSE_WORDS = {"0", "false", "off", "no"}
_REGION_ARRAYS = ("regions_name", "numbering_regions", "current_counted", "occupancy")


@dataclass(frozen=True, slots=True)
class Vs121Report:
    """One parsed report. ``observed_at`` is ``time_info.end_time`` in UTC; ``utc_offset`` includes DST."""

    device_sn: str
    report_type: str
    observed_at: datetime
    utc_offset: timedelta
    current_total: int
    max_counted: int | None
    regions: tuple[RegionCount, ...]


def parse_vs121_report(payload: bytes) -> Vs121Report:
    """Parse untrusted bytes; PayloadRejected (TOO_LARGE, NOT_JSON, NON_FINITE, SCHEMA naming the field) if unusable."""
    document = _fold_keys(load_json_object(payload, max_bytes=VS121_MAX_PAYLOAD_BYTES, reject_duplicate_keys=False))
    event = document.get("event")
    if not isinstance(event, str) or " ".join(event.split()).casefold() != VS121_EVENT.casefold():
        _reject("event", f"{preview(event)} is not {VS121_EVENT!r}")
    device_info = _section(document, "device_info")
    time_info = _section(document, "time_info")
    utc_offset = _utc_offset(time_info)
    return Vs121Report(
        device_sn=_serial_number(device_info.get("device_sn")),
        report_type=_report_type(document.get("report_type")),
        observed_at=_local_time("time_info.end_time", time_info.get("end_time"), utc_offset),
        utc_offset=utc_offset,
        current_total=_count("current_total", _required(document, "current_total")),
        max_counted=None if document.get("max_counted") is None else _count("max_counted", document["max_counted"]),
        regions=_regions(document),
    )


def vs121_to_reading(report: Vs121Report) -> tuple[datetime, OccupancyReading]:
    """The normalised reading and when it was observed (UTC)."""
    reading = OccupancyReading(
        people=report.current_total,
        occupied=report.current_total > 0 or any(region.occupied for region in report.regions),
        regions=report.regions,
        trigger="interval" if report.report_type == "interval" else "change",
    )
    return report.observed_at, reading


def encode_vs121_report(
    *,
    device_sn: str,
    observed_at: datetime,
    utc_offset: timedelta,
    report_type: str,
    region_names: Sequence[str],
    region_counts: Sequence[int],
    max_counted: int | None = None,
    device_name: str = "VS121",
    device_mac: str = "24:E1:24:00:00:01",
    ip_address: str = "192.168.1.100",
    current_total: int | None = None,
    period_start: datetime | None = None,
    dst_active: bool = False,
) -> bytes:
    """A report as the sensor publishes it (what our simulator sends); ValueError for values it could not send.

    Times go out in local time to the second, as the device writes them. ``current_total`` defaults to the sum of
    the region counts; ``period_start`` (the interval's start) to ``observed_at``. With ``dst_active`` the
    ``timezone`` field carries the standard offset, ``utc_offset`` minus an hour.
    """
    if report_type not in REPORT_TYPES:
        raise ValueError(f"report_type {report_type!r} must be one of {REPORT_TYPES}")
    if not device_sn or device_sn != device_sn.strip():
        raise ValueError(f"device_sn {device_sn!r} must be non-empty without surrounding blanks")
    if len(region_names) != len(region_counts):
        raise ValueError(f"{len(region_names)} region names but {len(region_counts)} counts")
    if len(set(region_names)) != len(region_names) or not all(
        isinstance(name, str) and name and name == name.strip() for name in region_names
    ):  # the parser strips blanks around names, so a name with them would not come back the same
        raise ValueError(f"region names must be unique, non-empty, without surrounding blanks: {list(region_names)!r}")
    counts = [_checked_count("region count", count) for count in region_counts]
    total = _checked_count("current_total", sum(counts) if current_total is None else current_total)
    standard_offset = utc_offset - DST_SHIFT if dst_active else utc_offset
    for offset in (utc_offset, standard_offset):
        if offset % timedelta(minutes=1) or abs(offset) > MAX_UTC_OFFSET:
            raise ValueError(f"UTC offset {offset} must be whole minutes within ±14 h")
    local_zone = timezone(utc_offset)
    report: dict[str, Any] = {
        "event": VS121_EVENT,
        "report_type": report_type,
        "device_info": {
            "device": device_name,
            "device_sn": device_sn,
            "device_mac": device_mac,
            "ip_address": ip_address,
        },
        "time_info": {
            "timezone": _timezone_text(standard_offset),
            "dst_status": dst_active,
            "start_time": _local_text(period_start or observed_at, local_zone),
            "end_time": _local_text(observed_at, local_zone),
        },
        "current_total": total,
    }
    if max_counted is not None:
        report["max_counted"] = _checked_count("max_counted", max_counted)
    report["total_mapped_regions"] = len(counts)
    if counts:  # "Do not send this information if no region is specified"
        report["regions_name"] = list(region_names)
        report["numbering_regions"] = list(range(1, len(counts) + 1))
        report["current_counted"] = counts
        report["occupancy"] = [1 if count > 0 else 0 for count in counts]
    return json.dumps(report, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _reject(path: str, why: str) -> NoReturn:
    raise PayloadRejected(RejectReason.SCHEMA, f"{path}: {why}")


def _fold_keys(section: dict[str, Any], path: str = "") -> dict[str, Any]:
    """Lower-case the keys (``Max_counted`` is ``max_counted``); two spellings with different values are refused."""
    folded: dict[str, Any] = {}
    for key, value in section.items():
        name = key.strip().casefold()
        if name in folded and folded[name] != value:
            _reject(f"{path}{name}", "given twice (differently spelled keys) with different values")
        folded[name] = value
    return folded


def _section(document: dict[str, Any], name: str) -> dict[str, Any]:
    section = _required(document, name)
    if not isinstance(section, dict):
        _reject(name, f"{preview(section)} is not an object")
    return _fold_keys(section, f"{name}.")


def _required(section: dict[str, Any], name: str, path: str = "") -> Any:
    value = section.get(name)
    if value is None:
        _reject(f"{path}{name}", "missing")
    return value


def _count(path: str, value: object) -> int:
    """A people count: a non-negative whole number, also when sent as ``"3"`` or ``3.0``."""
    if isinstance(value, bool):
        _reject(path, f"{value} is not a count")
    if isinstance(value, str) and _WHOLE_NUMBER.fullmatch(value.strip()):
        value = int(value.strip())
    elif isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int):
        _reject(path, f"{preview(value)} is not a whole number")
    if not 0 <= value <= MAX_COUNT:
        _reject(path, f"{value} is outside 0..{MAX_COUNT}")
    return value


def _flag(path: str, value: object) -> bool:
    """An on/off value: a JSON boolean, 0/1, or a word such as ``"true"``, ``"1"``, ``"off"``."""
    text = str(value).strip().casefold() if isinstance(value, str | int) else None
    if isinstance(value, bool) or text in _TRUE_WORDS | _FALSE_WORDS:
        return value if isinstance(value, bool) else text in _TRUE_WORDS
    _reject(path, f"{preview(value)} is not 0/1 or true/false")


def _serial_number(value: object) -> str:
    if value is None:
        _reject("device_info.device_sn", "missing")
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        _reject("device_info.device_sn", f"{preview(value)} is not a serial number")
    return value.strip()


def _report_type(value: object) -> str:
    if value is None:  # the document's trigger-report example has no report_type; its interval examples do
        return "trigger"
    if isinstance(value, str) and value.strip().casefold() in REPORT_TYPES:
        return value.strip().casefold()
    _reject("report_type", f"{preview(value)} is not one of {', '.join(REPORT_TYPES)}")


def _utc_offset(time_info: dict[str, Any]) -> timedelta:
    text = _required(time_info, "timezone", "time_info.")
    compact = "".join(text.split()) if isinstance(text, str) else ""
    if compact.casefold() in {"utc", "gmt", "z"}:
        offset = timedelta(0)
    elif match := _TIMEZONE.fullmatch(compact):
        sign, hours, minutes = match.groups()
        offset = timedelta(hours=int(hours), minutes=int(minutes or 0)) * (-1 if sign == "-" else 1)
        if int(minutes or 0) >= 60 or abs(offset) > MAX_UTC_OFFSET:
            _reject("time_info.timezone", f"{preview(text)} is not an offset within ±14 h")
    else:
        _reject("time_info.timezone", f"{preview(text)} is not like 'UTC+8:00'")
    if time_info.get("dst_status") is not None and _flag("time_info.dst_status", time_info["dst_status"]):
        offset += DST_SHIFT
    return offset


def _local_time(path: str, value: object, utc_offset: timedelta) -> datetime:
    """``YYYY/MM/DD hh:mm:ss`` in the sensor's local time, as an aware UTC datetime."""
    if value is None:
        _reject(path, "missing")
    match = _LOCAL_TIME.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        _reject(path, f"{preview(value)} is not 'YYYY/MM/DD hh:mm:ss'")
    try:
        year, month, day, hour, minute, second = map(int, match.groups())
        local = datetime(year, month, day, hour, minute, second, tzinfo=timezone(utc_offset))
        return local.astimezone(UTC)
    except (ValueError, OverflowError) as exc:  # 2022/02/30, 25:00:00, or out of datetime's range in UTC
        _reject(path, f"{preview(value)}: {exc}")


def _regions(document: dict[str, Any]) -> tuple[RegionCount, ...]:
    arrays: dict[str, list[Any]] = {}
    for name in _REGION_ARRAYS:
        value = document.get(name)
        if value is not None and not isinstance(value, list):
            _reject(name, f"{preview(value)} is not an array")
        if value is not None:
            arrays[name] = value
    lengths = {name: len(values) for name, values in arrays.items()}
    if len(set(lengths.values())) > 1:
        _reject("regions", "arrays of different lengths: " + ", ".join(f"{k} {v}" for k, v in lengths.items()))
    size = next(iter(lengths.values()), 0)
    declared = document.get("total_mapped_regions")
    if declared is not None and _count("total_mapped_regions", declared) != size:
        _reject("total_mapped_regions", f"says {declared} but the region arrays have {size} entries")
    if size == 0:
        return ()
    if "current_counted" not in arrays:
        _reject("current_counted", "missing: an occupancy-only report carries no region counts")
    counts = [_count(f"current_counted.{i}", value) for i, value in enumerate(arrays["current_counted"])]
    flags = [_flag(f"occupancy.{i}", value) for i, value in enumerate(arrays.get("occupancy", []))]
    if "regions_name" in arrays:
        names = [_region_name(i, value) for i, value in enumerate(arrays["regions_name"])]
    else:  # no names sent: the device's default names, Region1, Region2, ...
        numbers = arrays.get("numbering_regions", range(1, size + 1))
        names = [f"Region{_count(f'numbering_regions.{i}', value)}" for i, value in enumerate(numbers)]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        _reject("regions_name", f"{preview(duplicates[0])} names more than one region")
    return tuple(
        RegionCount(name=name, count=count, occupied=count > 0 or (bool(flags) and flags[i]))
        for i, (name, count) in enumerate(zip(names, counts, strict=True))
    )


def _region_name(index: int, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        _reject(f"regions_name.{index}", f"{preview(value)} is not a region name")
    return value.strip()


def _checked_count(what: str, value: int) -> int:
    if type(value) is not int or not 0 <= value <= MAX_COUNT:
        raise ValueError(f"{what} {value!r} must be an integer in 0..{MAX_COUNT}")
    return value


def _timezone_text(offset: timedelta) -> str:
    """The device's spelling: ``UTC+8:00``, ``UTC-3:30``, ``UTC+0:00``."""
    minutes = int(offset / timedelta(minutes=1))
    sign = "-" if minutes < 0 else "+"
    return f"UTC{sign}{abs(minutes) // 60}:{abs(minutes) % 60:02d}"


def _local_text(moment: datetime, zone: timezone) -> str:
    if moment.utcoffset() is None:
        raise ValueError(f"{moment!r} must be timezone-aware")
    local = moment.astimezone(zone)  # formatted by hand: strftime("%Y") drops leading zeros of years < 1000
    return f"{local.year:04d}/{local.month:02d}/{local.day:02d} {local.hour:02d}:{local.minute:02d}:{local.second:02d}"
