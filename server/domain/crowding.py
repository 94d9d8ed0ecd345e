"""How crowded a site's waiting areas are, for the hall's board: the latest count against the legal capacity.

A waiting area is ``near`` full from 80 % of its capacity and ``full`` from 100 %; ``unknown`` when its count is
stale or missing (server/domain/occupancy.py: a silent sensor is never read as room to spare). An episode of
crowding starts when an area reaches ``near`` or ``full`` from ``ok``; :class:`CrowdingEpisodes` says so once, so
that it is logged once, not at every refresh of the board.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

CrowdingLevel = Literal["ok", "near", "full", "unknown"]
NEAR_FULL_RATIO = 0.8  # of capacity: the board warns from here
WAITING_AREA_KIND = "waiting-area"


@dataclass(frozen=True, slots=True)
class CrowdingShown:
    space_id: str
    space_name: str
    people: int | None  # the latest count (shown as "last known" when stale), None: never counted
    capacity: int
    level: CrowdingLevel
    text: str


def crowding_level(people: int | None, capacity: int, *, fresh: bool) -> CrowdingLevel:
    """``unknown`` unless the count is fresh; otherwise by the share of ``capacity`` (people allowed at once)."""
    if not fresh or people is None or capacity <= 0:
        return "unknown"
    if people >= capacity:
        return "full"
    if people >= NEAR_FULL_RATIO * capacity:
        return "near"
    return "ok"


def crowding_shown(space_id: str, space_name: str, people: int | None, capacity: int, *, fresh: bool) -> CrowdingShown:
    level = crowding_level(people, capacity, fresh=fresh)
    texts = {
        "ok": f"{people} of {capacity} seats taken",
        "near": f"Nearly full: {people} of {capacity}",
        "full": f"Full: {people} of {capacity}; please wait outside or come back later",
        "unknown": "Crowding unknown (no recent count)",
    }
    return CrowdingShown(space_id, space_name, people, capacity, level, texts[level])


class CrowdingEpisodes:
    """Remembers each area's last known level; :meth:`started` returns the areas whose crowding episode begins.

    ``unknown`` neither starts nor ends an episode: a sensor that goes quiet for a while must not log a new one
    when it comes back.
    """

    def __init__(self) -> None:
        self._levels: dict[tuple[str, str], CrowdingLevel] = {}

    def started(self, site_id: str, areas: Sequence[CrowdingShown]) -> list[CrowdingShown]:
        begun: list[CrowdingShown] = []
        for area in areas:
            if area.level == "unknown":
                continue
            key = (site_id, area.space_id)
            before = self._levels.get(key, "ok")
            self._levels[key] = area.level
            if before == "ok" and area.level in ("near", "full"):
                begun.append(area)
        return begun
