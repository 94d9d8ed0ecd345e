"""Checks across fields of a Site and across the sites of a Belt: unique ids, references that resolve.

Each failure is a pydantic error of type ``site_check`` whose ctx carries ``path``: where, below the model
being validated, the offending value sits (e.g. ``("windows", 2, "space")``). The site-file reader appends it to
the error's loc to point at the exact line; see ``devices.site_file``.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from typing import TYPE_CHECKING

from pydantic_core import PydanticCustomError

if TYPE_CHECKING:
    from devices.site_model import Belt, Device, Site

__all__ = ["check_belt", "check_site", "error_at"]

_MAX_LISTED = 12  # ids listed in a "no such id" message before it is cut short


def error_at(problem: str, *path: str | int) -> PydanticCustomError:
    """A validation error about the value at ``path`` below the model being validated."""
    return PydanticCustomError("site_check", "{problem}", {"problem": problem, "path": path})


def check_site(site: Site) -> None:
    """Raise the first broken reference or repeated id within one site."""
    _require_unique("floor id", [f.id for f in site.floors], "floors", field="id")
    _require_unique("floor level", [f.level for f in site.floors], "floors", field="level")
    _require_unique("space id", [s.id for s in site.spaces], "spaces", field="id")
    _require_unique("service id", [s.id for s in site.services], "services", field="id")
    _require_unique("ticket prefix", [s.prefix for s in site.services], "services", field="prefix")
    _require_unique("window id", [w.id for w in site.windows], "windows", field="id")

    floor_ids = [f.id for f in site.floors]
    space_ids = [s.id for s in site.spaces]
    service_ids = [s.id for s in site.services]
    for index, space in enumerate(site.spaces):
        _require_known("floor", space.floor, floor_ids, "spaces", index, "floor")
    for index, window in enumerate(site.windows):
        _require_known("space", window.space, space_ids, "windows", index, "space")
        for position, service_id in enumerate(window.services):
            _require_known("service", service_id, service_ids, "windows", index, "services", position)
        _require_unique("service", window.services, "windows", index, "services", field=None)
        space_hours = site.space(window.space).hours
        if window.hours is not None and not space_hours.covers(window.hours):
            raise error_at(
                f"window hours ({window.hours}) fall outside the hours of space {window.space!r} ({space_hours})",
                "windows",
                index,
                "hours",
            )
    handled = {service_id for window in site.windows for service_id in window.services}
    for index, service in enumerate(site.services):
        if service.id not in handled:
            raise error_at(
                f"no window handles service {service.id!r}; list it under a window's services",
                "services",
                index,
                "id",
            )
    window_ids = [w.id for w in site.windows]
    for index, device in enumerate(site.devices):
        _require_known("space", device.space, space_ids, "devices", index, "space")
        for position, service_id in enumerate(device.services or ()):
            _require_known("service", service_id, service_ids, "devices", index, "services", position)
        if device.services is not None:
            _require_unique("service", device.services, "devices", index, "services", field=None)
        if device.window is not None:
            _require_known("window", device.window, window_ids, "devices", index, "window")
            window_space = site.window(device.window).space
            if device.space != window_space:
                raise error_at(
                    f"the terminal of window {device.window!r} must be in the window's space {window_space!r}",
                    "devices",
                    index,
                    "space",
                )


def check_belt(belt: Belt) -> None:
    """Raise the first id, topic, serial number or Modbus address used twice across the belt."""
    _require_unique("site id", [s.id for s in belt.sites], "sites", field="id")
    first_user: dict[tuple[str, Hashable], tuple[str, str]] = {}  # claim -> (site id, device id)
    for site_index, site in enumerate(belt.sites):
        for device_index, device in enumerate(site.devices):
            for field, what, key in _claims(device):
                if (what, key) in first_user:
                    site_id, device_id = first_user[what, key]
                    user = f"in site {site_id!r}" if field == "id" else f"by device {device_id!r} of site {site_id!r}"
                    raise error_at(
                        f"{what} {_shown(key)} is already used {user}",
                        "sites",
                        site_index,
                        "devices",
                        device_index,
                        field,
                    )
                first_user[what, key] = (site.id, device.id)


def _claims(device: Device) -> list[tuple[str, str, Hashable]]:
    """(field, what, key) of everything a device must not share with another device of the belt."""
    claims: list[tuple[str, str, Hashable]] = [("id", "device id", device.id)]
    if device.vendor_topic is not None:
        claims.append(("vendor_topic", "vendor_topic", device.vendor_topic))
    if device.serial is not None:  # the vendor's serial identifies the hardware; unique within a model
        claims.append(("serial", "serial", (device.model, device.serial)))
    if device.host is not None:
        claims.append(("host", "Modbus address", (device.host, device.port, device.unit)))
    return claims


def _require_unique(what: str, keys: Iterable[Hashable], *items_path: str | int, field: str | None) -> None:
    """``field`` names the key of each record that repeats; None when the items are the values themselves."""
    first_seen: set[Hashable] = set()
    for index, key in enumerate(keys):
        if key in first_seen:
            where = (*items_path, index) if field is None else (*items_path, index, field)
            raise error_at(f"duplicate {what} {key!r}", *where)
        first_seen.add(key)


def _require_known(what: str, wanted: str, known: Sequence[str], *path: str | int) -> None:
    if wanted in known:
        return
    listed = ", ".join(known[:_MAX_LISTED]) + (", ..." if len(known) > _MAX_LISTED else "")
    raise error_at(f"no {what} {wanted!r} in this site (known: {listed or 'none'})", *path)


def _shown(key: Hashable) -> str:
    if isinstance(key, tuple) and len(key) == 2:
        return f"{key[1]!r} of model {key[0]}"
    if isinstance(key, tuple) and len(key) == 3:
        return f"{key[0]}:{key[1]} unit {key[2]}"
    return repr(key)
