"""Demand tables of "a day at the Complex": arrivals by hour per space kind, bookings per bookable kind, tickets
and service times per service.

ILLUSTRATIVE, NOT MEASURED: shaped after the reports in shared/seed (a morning peak at the service windows,
Party-branch activities and classes booked in the Sharing Space and the Party school, elderly people staying the
day at the day-care centre, couriers and sanitation workers at the Love Relay Station before and after office
hours, a weekly lawyers' session on Friday afternoons). Replace with counts from the sites when there are some.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from simulators.occupancy_profile import DROP_IN, SERVICE_WINDOWS

# Visitors come alone or in small groups (families, two colleagues): (people, weight).
GROUP_SIZES: tuple[tuple[int, float], ...] = ((1, 0.70), (2, 0.22), (3, 0.08))
MEAN_GROUP = sum(size * weight for size, weight in GROUP_SIZES)


@dataclass(frozen=True, slots=True)
class DropInProfile:
    """Walk-in visitors of one space kind: ``arrivals`` is groups per hour per place of capacity, by local hour
    0..23; each group stays a uniform ``dwell_min`` (minutes), cut at closing time."""

    arrivals: tuple[float, ...]
    dwell_min: tuple[int, int]


def _from_occupancy(shares: tuple[float, ...], scale: float, dwell_min: tuple[int, int]) -> DropInProfile:
    """Arrival rates that hold about ``share * scale`` of capacity at each hour (Little's law: L = lambda * W)."""
    mean_dwell_h = (dwell_min[0] + dwell_min[1]) / 2 / 60
    return DropInProfile(tuple(share * scale / mean_dwell_h / MEAN_GROUP for share in shares), dwell_min)


# Outdoor workers drop in early, at lunch and after work (share of capacity by local hour).
REST_STATION = (0, 0, 0, 0, 0, 0, 0, 0.3, 0.35, 0.2, 0.15, 0.35, 0.5, 0.35, 0.15, 0.15, 0.2, 0.35, 0.3, 0.2, 0, 0, 0, 0)
# Day-care: most elderly people arrive 08:00-10:00 and stay until the afternoon (groups per hour per place).
DAY_CARE_ARRIVALS = (0, 0, 0, 0, 0, 0, 0, 0, 0.25, 0.2, 0.06, 0.02, 0, 0.04, 0.02, 0, 0, 0, 0, 0, 0, 0, 0, 0)

DROP_IN_PROFILES: Mapping[str, DropInProfile] = {
    "entrance": _from_occupancy(DROP_IN, 0.12, (1, 6)),  # passing through, asking the way
    "service-hall": _from_occupancy(SERVICE_WINDOWS, 0.15, (3, 12)),  # information desk, forms; tickets come apart
    "reading-room": _from_occupancy(DROP_IN, 1.0, (20, 120)),
    "exhibition-hall": _from_occupancy(DROP_IN, 0.8, (15, 60)),
    "rest-station": _from_occupancy(REST_STATION, 1.0, (10, 30)),
    "day-care": DropInProfile(DAY_CARE_ARRIVALS, (240, 480)),
}
DEFAULT_DROP_IN = _from_occupancy(DROP_IN, 0.5, (15, 60))  # a space kind added later: a moderate drop-in room
# Waiting areas hold residents with a ticket only (see queue_plan); bookable spaces hold their bookings only.
NO_DROP_IN_KINDS = frozenset({"waiting-area"})


@dataclass(frozen=True, slots=True)
class BookingProfile:
    """Bookings of one bookable space kind: lengths (minutes) to choose from, attendance as a share of capacity,
    who organises them, and the chance that a free half-hour slot starts a booking."""

    durations_min: tuple[int, ...]
    attendance: tuple[float, float]
    organisers: tuple[str, ...]
    busy: float


BOOKING_PROFILES: Mapping[str, BookingProfile] = {
    "activity-room": BookingProfile(
        (60, 90, 120), (0.3, 0.8), ("party-branch", "resident-group", "volunteer-team"), 0.5
    ),
    "classroom": BookingProfile((90, 120), (0.4, 0.95), ("party-school", "community-school"), 0.45),
    "council-hall": BookingProfile(
        (60, 120, 180), (0.25, 0.8), ("council", "sub-district", "legislative-contact"), 0.4
    ),
    "meeting-room": BookingProfile((30, 60, 90, 120), (0.25, 0.9), ("enterprise", "party-branch", "trade-union"), 0.5),
    "consulting-room": BookingProfile((30, 45, 60), (0.34, 1.0), ("enterprise", "expert-advice"), 0.5),
}
DEFAULT_BOOKING = BOOKING_PROFILES["activity-room"]

# Shares of booking outcomes (the rest attend on time): about 15 % no-shows, 15 % late by 5-20 minutes.
NO_SHOW_SHARE = 0.15
LATE_SHARE = 0.15
ENDED_EARLY_SHARE = 0.12
LATE_MIN = (5, 20)


@dataclass(frozen=True, slots=True)
class ServiceDemand:
    """Tickets for one service: ``peak_per_hour`` at the busiest hour (following SERVICE_WINDOWS unless ``flat``),
    a log-normal service time of mean ``service_min`` minutes, and an exponential patience of mean
    ``patience_min`` minutes after which a resident who was not called leaves."""

    peak_per_hour: float
    service_min: float
    patience_min: float = 45.0
    flat: bool = False


# Sized so the windows of each site run at about 70-90 % of their capacity at the peak hour: queues form, and a
# few impatient residents leave, without the day collapsing.
SERVICE_DEMAND: Mapping[str, ServiceDemand] = {
    "party-building": ServiceDemand(4, 10),
    "party-mass": ServiceDemand(6, 8),
    "culture": ServiceDemand(5, 6),
    "civilization": ServiceDemand(3, 8),
    "volunteer": ServiceDemand(4, 5),
    "social-security": ServiceDemand(9, 9),
    "medical-insurance": ServiceDemand(8, 7),
    "civil-affairs": ServiceDemand(5, 10),
    "elderly-disability": ServiceDemand(3, 12, patience_min=60),
    "housing-certificates": ServiceDemand(4, 10),
    "enterprise-affairs": ServiceDemand(4, 12),
    "policy-guidance": ServiceDemand(2, 15),
    "worker-services": ServiceDemand(3, 8),
    # The Friday afternoon session of professional lawyers: residents come all afternoon and wait long for it.
    "legal-service": ServiceDemand(2.5, 20, patience_min=90, flat=True),
}
DEFAULT_DEMAND = ServiceDemand(4, 8)
SERVICE_TIME_SIGMA = 0.5  # log-normal shape: most services near the mean, a few taking two or three times as long
PEAK_SHARE = max(SERVICE_WINDOWS)


def ticket_rate(demand: ServiceDemand, local_hour: int) -> float:
    """Tickets per hour for the service at a local hour (while a window serves it)."""
    if demand.flat:
        return demand.peak_per_hour
    return demand.peak_per_hour * SERVICE_WINDOWS[local_hour] / PEAK_SHARE
