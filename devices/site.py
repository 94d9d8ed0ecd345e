"""The site model of a service belt, read from its YAML site file: the import point for everything else.

``load_belt()`` reads the file shipped in ``devices/sites/``; ``parse_belt(text, source=...)`` reads any text.
Both raise ``SiteFileError`` (one line: ``<file>:<line>: <location>: <problem>``) for a bad file.
"""

from devices.site_file import SHIPPED_SITE_FILE, SiteFileError, load_belt, parse_belt
from devices.site_hours import DAY_NAMES, HoursNotationError, OpeningHours, TimeInterval
from devices.site_model import (
    OCCUPANCY_MODELS,
    SCHEMA_V1,
    TRANSPORT_OF_MODEL,
    Belt,
    Device,
    DeviceModel,
    Floor,
    Service,
    ServiceWindow,
    Site,
    SiteLookupError,
    Space,
    SpaceKind,
    Transport,
)

__all__ = [
    "DAY_NAMES",
    "OCCUPANCY_MODELS",
    "SCHEMA_V1",
    "SHIPPED_SITE_FILE",
    "TRANSPORT_OF_MODEL",
    "Belt",
    "Device",
    "DeviceModel",
    "Floor",
    "HoursNotationError",
    "OpeningHours",
    "Service",
    "ServiceWindow",
    "Site",
    "SiteFileError",
    "SiteLookupError",
    "Space",
    "SpaceKind",
    "TimeInterval",
    "Transport",
    "load_belt",
    "parse_belt",
]
