"""The validated model of a service belt: its sites, floors, spaces, services, windows and devices.

Values are frozen pydantic models. Field checks live on the fields; checks across fields and across sites (unique
ids, references that must resolve) live in ``devices.site_references`` and run when a Site or Belt is built.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Mapping
from typing import Annotated, Literal, Protocol, Self, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, model_validator
from pydantic_core import PydanticCustomError

from devices.site_hours import OpeningHours
from devices.site_references import check_belt, check_site, error_at

__all__ = [
    "SCHEMA_V1",
    "TRANSPORT_OF_MODEL",
    "Belt",
    "Device",
    "DeviceModel",
    "Floor",
    "Service",
    "ServiceWindow",
    "Site",
    "SiteLookupError",
    "Space",
    "SpaceKind",
    "Transport",
]

SCHEMA_V1 = "smartcomplex.site/v1"

_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
# MQTT topic names (MQTT 3.1.1 section 4.7): no wildcards in a published topic; '$' topics belong to the broker.
_TOPIC = re.compile(r"[^$+#/\s][^+#\s]*")


def _problem(kind: str, problem: str) -> PydanticCustomError:
    return PydanticCustomError(kind, "{problem}", {"problem": problem})


def _check_id(value: str) -> str:
    if not _ID.fullmatch(value):
        raise _problem(
            "site_id",
            f"{value!r} is not an id: use 1-63 characters of a-z, 0-9, '_' and '-', starting with a letter or digit",
        )
    return value


def _check_prefix(value: str) -> str:
    if not re.fullmatch(r"[A-Z]", value):
        raise _problem("ticket_prefix", f"ticket prefix {value!r} is not one uppercase letter A-Z")
    return value


def _check_topic(value: str) -> str:
    if not _TOPIC.fullmatch(value) or "//" in value or value.endswith("/") or len(value.encode()) > 65_535:
        raise _problem(
            "vendor_topic",
            f"{value!r} is not an MQTT topic to subscribe to exactly: no '+', '#', spaces, empty levels or leading '$'",
        )
    return value


def _check_timezone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise _problem("timezone", f"{value!r} is not an IANA time zone such as 'Asia/Shanghai'") from None
    return value


Identifier = Annotated[str, AfterValidator(_check_id)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]

SpaceKind = Literal[
    "activity-room",
    "classroom",
    "consulting-room",
    "council-hall",
    "day-care",
    "entrance",
    "exhibition-hall",
    "meeting-room",
    "reading-room",
    "rest-station",
    "service-hall",
    "waiting-area",
]
DeviceModel = Literal[
    "milesight-vs121",
    "modbus-people-counter",
    "modbus-door-controller",
    "ditel-led-board",
    "mqtt-ticket-dispenser",
    "mqtt-window-terminal",
    "mqtt-display-board",
]
Transport = Literal["mqtt", "modbus"]

# The one transport each device model speaks. Add a model here together with its adapter in devices/vendors/.
TRANSPORT_OF_MODEL: Mapping[str, Transport] = {
    "milesight-vs121": "mqtt",
    "modbus-people-counter": "modbus",
    "modbus-door-controller": "modbus",
    "ditel-led-board": "modbus",
    "mqtt-ticket-dispenser": "mqtt",
    "mqtt-window-terminal": "mqtt",
    "mqtt-display-board": "mqtt",
}

# Models whose readings count people in their space (the server sums them into the space's live occupancy).
OCCUPANCY_MODELS: frozenset[str] = frozenset({"milesight-vs121", "modbus-people-counter"})


# Fields only some models take: (model -> fields it needs). Every other model must leave them out.
#   word_order: a counter module's 32-bit word order, a setting of the real module ("big": high word first).
#   services:   a ticket dispenser's buttons, in order: button 1 issues tickets for services[0], and so on.
#   window:     the service window a call terminal sits at.
_MODEL_FIELDS: Mapping[str, tuple[str, ...]] = {
    "modbus-people-counter": ("word_order",),
    "mqtt-ticket-dispenser": ("services",),
    "mqtt-window-terminal": ("window",),
}
_OPTIONAL_MODEL_FIELDS: Mapping[str, tuple[str, ...]] = {"modbus-people-counter": ("word_order",)}
_MODEL_SPECIFIC = ("word_order", "services", "window")

# (fields a device of the transport needs, fields it must leave out)
_FIELDS_OF_TRANSPORT: Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "mqtt": (("vendor_topic", "serial"), ("host", "port", "unit")),
    "modbus": (("host", "port", "unit"), ("vendor_topic",)),
}


class SiteLookupError(KeyError):
    """An id asked of a Belt or Site that it does not have. The message names the id and where it was looked."""

    def __str__(self) -> str:
        return str(self.args[0])


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Floor(_Frozen):
    id: Identifier
    name: Name
    level: int = Field(ge=-9, le=200)  # storey as signed in the lift: 1 = ground floor, -1 = first basement


class Space(_Frozen):
    id: Identifier
    name: Name
    floor: Identifier  # a Floor.id of the same site
    kind: SpaceKind
    capacity: int = Field(ge=1, le=10_000)  # people allowed at once (legal maximum)
    bookable: bool
    hours: OpeningHours


class Service(_Frozen):
    """A service residents take a ticket for; ``prefix`` starts its ticket numbers (A001, A002, ...)."""

    id: Identifier
    name: Name
    prefix: Annotated[str, AfterValidator(_check_prefix)]


class ServiceWindow(_Frozen):
    id: Identifier
    name: Name
    space: Identifier  # the Space.id the window stands in
    services: tuple[Identifier, ...] = Field(min_length=1)  # Service.ids it handles
    hours: OpeningHours | None = None  # None: the window is staffed whenever its space is open


class Device(_Frozen):
    """A device and where it sits. MQTT devices publish vendor JSON on ``vendor_topic``; Modbus devices are
    polled at ``host:port``, unit ``unit``. ``report_interval_s`` is seconds between reports (MQTT) or polls
    (Modbus)."""

    id: Identifier
    model: DeviceModel
    space: Identifier  # a Space.id of the same site
    transport: Transport
    report_interval_s: int = Field(ge=1, le=86_400)
    serial: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")] | None = None
    vendor_topic: Annotated[str, AfterValidator(_check_topic)] | None = None
    host: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._:-]{1,253}$")] | None = None
    port: int | None = Field(default=None, ge=1, le=65_535)
    unit: int | None = Field(default=None, ge=0, le=255)  # Modbus TCP unit identifier: one byte
    word_order: Literal["big", "little"] | None = None  # people counters only; None means "big"
    services: tuple[Identifier, ...] | None = Field(default=None, min_length=1, max_length=16)  # dispensers only
    window: Identifier | None = None  # window terminals only: a ServiceWindow.id of the same site

    @model_validator(mode="after")
    def _fits_transport(self) -> Self:
        expected = TRANSPORT_OF_MODEL[self.model]
        if self.transport != expected:
            raise error_at(f"model {self.model} speaks {expected}, not {self.transport}", "transport")
        needed, unwanted = _FIELDS_OF_TRANSPORT[self.transport]
        for key in needed:
            if getattr(self, key) is None:
                raise error_at(f"{self.transport} devices need {key}", key)
        for key in unwanted:
            if getattr(self, key) is not None:
                raise error_at(f"{self.transport} devices take no {key}", key)
        taken = _MODEL_FIELDS.get(self.model, ())
        optional = _OPTIONAL_MODEL_FIELDS.get(self.model, ())
        for key in _MODEL_SPECIFIC:
            value = getattr(self, key)
            if key not in taken and value is not None:
                raise error_at(f"model {self.model} takes no {key}", key)
            if key in taken and key not in optional and value is None:
                raise error_at(f"model {self.model} needs {key}", key)
        return self


class Site(_Frozen):
    id: Identifier
    name: Name
    address: Name
    floors: tuple[Floor, ...] = Field(min_length=1)
    spaces: tuple[Space, ...] = Field(min_length=1)
    services: tuple[Service, ...] = ()
    windows: tuple[ServiceWindow, ...] = ()
    devices: tuple[Device, ...] = ()

    @model_validator(mode="after")
    def _references_resolve(self) -> Self:
        check_site(self)
        return self

    def floor(self, floor_id: str) -> Floor:
        return _find(self.floors, floor_id, f"floor in site {self.id!r}")

    def space(self, space_id: str) -> Space:
        return _find(self.spaces, space_id, f"space in site {self.id!r}")

    def service(self, service_id: str) -> Service:
        return _find(self.services, service_id, f"service in site {self.id!r}")

    def window(self, window_id: str) -> ServiceWindow:
        return _find(self.windows, window_id, f"service window in site {self.id!r}")

    def device(self, device_id: str) -> Device:
        return _find(self.devices, device_id, f"device in site {self.id!r}")

    def window_hours(self, window_id: str) -> OpeningHours:
        """The window's own hours, or its space's when it has none."""
        window = self.window(window_id)
        return window.hours if window.hours is not None else self.space(window.space).hours

    def devices_in(self, space_id: str) -> tuple[Device, ...]:
        self.space(space_id)
        return tuple(d for d in self.devices if d.space == space_id)


class Belt(_Frozen):
    """A service belt: the sites one organisation runs, sharing one time zone."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_by_name=True, validate_by_alias=True)

    schema_version: Literal["smartcomplex.site/v1"] = Field(alias="schema")
    name: Name
    timezone: Annotated[str, AfterValidator(_check_timezone)]  # IANA key; opening hours are in this zone
    sites: tuple[Site, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _ids_unique_across_sites(self) -> Self:
        check_belt(self)
        return self

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)  # ZoneInfo caches instances per key

    def site(self, site_id: str) -> Site:
        return _find(self.sites, site_id, f"site in belt {self.name!r}")

    def device(self, device_id: str) -> tuple[Site, Device]:
        for site in self.sites:
            for device in site.devices:
                if device.id == device_id:
                    return site, device
        raise SiteLookupError(f"no device {device_id!r} in any site of belt {self.name!r}")

    def devices_by_vendor_topic(self) -> dict[str, tuple[Site, Device]]:
        """MQTT devices keyed by the topic they publish vendor JSON on (unique across the belt)."""
        return {
            device.vendor_topic: (site, device)
            for site in self.sites
            for device in site.devices
            if device.vendor_topic is not None
        }


class _Identified(Protocol):
    @property
    def id(self) -> str: ...


_Item = TypeVar("_Item", bound=_Identified)


def _find(items: tuple[_Item, ...], wanted: str, what: str) -> _Item:
    for item in items:
        if item.id == wanted:
            return item
    known = ", ".join(item.id for item in items) or "none"
    raise SiteLookupError(f"no {what} with id {wanted!r} (known: {known})")
