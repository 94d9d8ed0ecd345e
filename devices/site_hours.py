"""Weekly opening hours of a space or service window, in the site's local time.

Site-file notation: a mapping from days to intervals, e.g.::

    hours:
      mon-fri: "08:30-11:30, 13:00-17:00"
      sat: "09:00-12:00"

A key names days (``mon``..``sun``), day ranges (``mon-fri``) or a comma list of both (``mon,wed-fri``); a day
may be named by one key only. A value lists ``HH:MM-HH:MM`` intervals separated by commas, or ``closed``.
Intervals are half-open, ``[start, end)`` local time: open at 08:30:00, closed again at 17:00:00. ``24:00`` may
end an interval; an interval may not cross midnight (write the two days separately). Days not named are closed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo
from itertools import pairwise
from typing import Any

from pydantic import GetCoreSchemaHandler
from pydantic_core import PydanticCustomError, core_schema

__all__ = ["DAY_NAMES", "HoursNotationError", "OpeningHours", "TimeInterval"]

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # index = datetime.weekday()
_MINUTES_PER_DAY = 24 * 60
_INTERVAL = re.compile(r"^(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})$")


class HoursNotationError(ValueError):
    """An opening-hours key or value does not follow the notation in this module's docstring.

    ``day_key`` names the mapping key the problem belongs to, when it belongs to one.
    """

    def __init__(self, problem: str, *, day_key: str | None = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.day_key = day_key


@dataclass(frozen=True, slots=True, order=True)
class TimeInterval:
    """``[start, end)`` in minutes after local midnight; 0 <= start < end <= 1440."""

    start: int
    end: int

    def __str__(self) -> str:
        return f"{_clock(self.start)}-{_clock(self.end)}"

    def contains(self, other: TimeInterval) -> bool:
        return self.start <= other.start and other.end <= self.end


@dataclass(frozen=True, slots=True)
class OpeningHours:
    """Opening intervals for each weekday; ``week[0]`` is Monday. Intervals are sorted and disjoint."""

    week: tuple[tuple[TimeInterval, ...], ...]

    def __post_init__(self) -> None:
        if len(self.week) != len(DAY_NAMES):
            raise ValueError(f"week has {len(self.week)} days, expected 7")

    @classmethod
    def from_notation(cls, notation: Mapping[str, str]) -> OpeningHours:
        """Parse the site-file notation; raises HoursNotationError."""
        week: list[tuple[TimeInterval, ...] | None] = [None] * len(DAY_NAMES)
        named_by: dict[int, str] = {}
        if not notation:
            raise HoursNotationError("no days given; name at least one day, e.g. mon-fri: 09:00-17:00")
        for key, value in notation.items():
            days = parse_days(key)
            intervals = parse_intervals(value, day_key=key)
            for day in sorted(days):
                if day in named_by:
                    raise HoursNotationError(
                        f"{DAY_NAMES[day]} is already given by {named_by[day]!r}; name each day once",
                        day_key=key,
                    )
                named_by[day] = key
                week[day] = intervals
        return cls(tuple(day or () for day in week))

    def notation(self) -> dict[str, str]:
        """The site-file notation, with runs of equal days joined (``mon-fri``); closed days left out."""
        runs = self._runs()
        if not runs:
            return {"mon-sun": "closed"}  # an empty mapping would read as a forgotten value
        return {days: ", ".join(str(i) for i in intervals) for days, intervals in runs}

    def intervals_on(self, weekday: int) -> tuple[TimeInterval, ...]:
        """Intervals of one weekday (0 = Monday, as ``datetime.weekday()``)."""
        return self.week[weekday]

    def is_open(self, at: datetime, tz: tzinfo) -> bool:
        """Whether the place is open at the aware instant ``at``, read as local time in ``tz``."""
        if at.tzinfo is None or at.utcoffset() is None:
            raise ValueError("is_open needs an aware datetime (UTC inside the system)")
        local = at.astimezone(tz)
        # Interval bounds are whole minutes, so truncating to the minute decides [start, end) exactly.
        minute = local.hour * 60 + local.minute
        return any(i.start <= minute < i.end for i in self.week[local.weekday()])

    def covers(self, other: OpeningHours) -> bool:
        """Whether every open minute of ``other`` is an open minute here."""
        return all(
            any(mine.contains(theirs) for mine in self.week[day])
            for day in range(len(DAY_NAMES))
            for theirs in other.week[day]
        )

    def __str__(self) -> str:
        runs = self._runs()
        if not runs:
            return "closed"
        return "; ".join(f"{days.title()} {', '.join(str(i) for i in intervals)}" for days, intervals in runs)

    def _runs(self) -> list[tuple[str, tuple[TimeInterval, ...]]]:
        runs: list[tuple[str, tuple[TimeInterval, ...]]] = []
        first = 0
        for day in range(1, len(DAY_NAMES) + 1):
            if day < len(DAY_NAMES) and self.week[day] == self.week[first]:
                continue
            if self.week[first]:
                last = day - 1
                days = DAY_NAMES[first] if first == last else f"{DAY_NAMES[first]}-{DAY_NAMES[last]}"
                runs.append((days, self.week[first]))
            first = day
        return runs

    @classmethod
    def __get_pydantic_core_schema__(cls, source: type[Any], handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        # Keys and values are checked one by one so a validation error points at the offending day key.
        notation_schema = core_schema.dict_schema(
            keys_schema=core_schema.no_info_after_validator_function(_check_days, core_schema.str_schema()),
            values_schema=core_schema.str_schema(),
        )
        return core_schema.no_info_wrap_validator_function(
            _validate_hours,
            notation_schema,
            serialization=core_schema.plain_serializer_function_ser_schema(lambda hours: hours.notation()),
        )


def parse_days(key: str) -> frozenset[int]:
    """Weekday numbers (0 = Monday) named by a key such as ``mon-fri`` or ``sat,sun``."""
    days: set[int] = set()
    for part in key.lower().split(","):
        first, _, last = (p.strip() for p in part.partition("-"))
        start, end = _day_number(first, key), _day_number(last or first, key)
        if end < start:
            raise HoursNotationError(f"day range {part.strip()!r} runs backwards; write e.g. 'mon-fri'")
        days.update(range(start, end + 1))
    return frozenset(days)


def parse_intervals(value: str, *, day_key: str | None = None) -> tuple[TimeInterval, ...]:
    """Sorted, disjoint intervals from ``"08:30-11:30, 13:00-17:00"`` or ``"closed"``."""
    if value.strip().lower() == "closed":
        return ()
    intervals = sorted(_interval(part.strip(), day_key) for part in value.split(","))
    for earlier, later in pairwise(intervals):
        if later.start <= earlier.end:
            raise HoursNotationError(
                f"intervals {earlier} and {later} overlap or touch; join them into one", day_key=day_key
            )
    return tuple(intervals)


def _interval(text: str, day_key: str | None) -> TimeInterval:
    match = _INTERVAL.match(text)
    if match is None:
        raise HoursNotationError(f"{text!r} is not an interval like '08:30-17:00'", day_key=day_key)
    start_h, start_m, end_h, end_m = (int(g) for g in match.groups())
    start, end = start_h * 60 + start_m, end_h * 60 + end_m
    if start_m > 59 or end_m > 59 or start >= _MINUTES_PER_DAY or end > _MINUTES_PER_DAY:
        raise HoursNotationError(f"{text!r} is not a time of day (00:00 to 24:00)", day_key=day_key)
    if end <= start:
        raise HoursNotationError(f"{text!r} ends before it starts; intervals may not cross midnight", day_key=day_key)
    return TimeInterval(start, end)


def _day_number(name: str, key: str) -> int:
    try:
        return DAY_NAMES.index(name)
    except ValueError:
        where = "" if name == key.strip().lower() else f" in {key!r}"
        raise HoursNotationError(
            f"{name!r}{where} is not a day; use {', '.join(DAY_NAMES)} or a range like mon-fri"
        ) from None


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _check_days(key: str) -> str:
    try:
        parse_days(key)
    except HoursNotationError as exc:
        raise PydanticCustomError("opening_hours", "{problem}", {"problem": exc.problem}) from exc
    return key


def _validate_hours(value: Any, handler: core_schema.ValidatorFunctionWrapHandler) -> OpeningHours:
    if isinstance(value, OpeningHours):
        return value
    if not isinstance(value, Mapping):
        problem = 'hours are a mapping of days to intervals, e.g. {mon-fri: "08:30-17:00", sat: "09:00-12:00"}'
        raise PydanticCustomError("opening_hours", "{problem}", {"problem": problem})
    notation: dict[str, str] = handler(value)
    try:
        return OpeningHours.from_notation(notation)
    except HoursNotationError as exc:
        # "path" lets the site-file reader point at the day key's line; see devices.site_file.
        path = (exc.day_key,) if exc.day_key is not None else ()
        raise PydanticCustomError("opening_hours", "{problem}", {"problem": exc.problem, "path": path}) from exc
