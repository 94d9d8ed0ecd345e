"""The site file shipped in the package loads and describes the Changping Road service belt."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from devices.site import Belt, Site, SiteLookupError, load_belt


@pytest.fixture(scope="module")
def belt() -> Belt:
    return load_belt()


@pytest.fixture(scope="module")
def complex_site(belt: Belt) -> Site:
    return belt.site("complex")


def shanghai_to_utc(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=ZoneInfo("Asia/Shanghai")).astimezone(UTC)


def test_belt_is_named_and_runs_on_shanghai_time(belt: Belt) -> None:
    assert belt.name == "10-minute Party-mass service belt on Changping Road"
    assert belt.timezone == "Asia/Shanghai"
    assert belt.tz.key == "Asia/Shanghai"


def test_belt_has_the_three_centres_and_at_least_two_stations(belt: Belt) -> None:
    ids = [site.id for site in belt.sites]
    assert ids[:3] == ["complex", "affairs-center", "enterprise-center"]
    assert len([i for i in ids if i.startswith("station-")]) >= 2
    assert "No. 710 Changping Road" in belt.site("complex").address
    assert "No. 414 Changping Road" in belt.site("enterprise-center").address


def test_council_hall_is_bookable_on_the_third_floor(complex_site: Site) -> None:
    hall = complex_site.space("council-hall")
    assert hall.name == "Happy Jiangning council hall"
    assert complex_site.floor(hall.floor).level == 3
    assert hall.bookable


@pytest.mark.parametrize(
    ("space_id", "name", "bookable"),
    [
        ("sharing-space", "Sharing Space", True),
        ("party-school", "Community Party school classroom", True),
        ("bookstore", "Happy Jiangning Bookstore", False),
        ("experience-hall", "Beautiful Jiangning Experience Hall", False),
        ("day-care", "Community Elderly Day-care Center", False),
        ("windows-hall", "Comprehensive service windows hall", False),
        ("windows-waiting", "Waiting area of the comprehensive service windows", False),
    ],
)
def test_complex_has_its_spaces(complex_site: Site, space_id: str, name: str, bookable: bool) -> None:
    space = complex_site.space(space_id)
    assert (space.name, space.bookable) == (name, bookable)


def test_complex_windows_offer_the_five_services_with_ticket_prefixes(complex_site: Site) -> None:
    prefixes = {service.name: service.prefix for service in complex_site.services}
    assert prefixes == {
        "Party-building affairs": "A",
        "Party-mass services": "B",
        "Culture services": "C",
        "Spiritual civilization and New Era Civilization Practice": "D",
        "Volunteer registration": "E",
    }
    handled = {service for window in complex_site.windows for service in window.services}
    assert handled == {service.id for service in complex_site.services}
    assert all(window.space == "windows-hall" for window in complex_site.windows)


def test_affairs_center_has_windows_and_a_waiting_area(belt: Belt) -> None:
    affairs = belt.site("affairs-center")
    assert len(affairs.windows) >= 2
    assert affairs.space("affairs-waiting").kind == "waiting-area"


def test_enterprise_center_has_its_rooms(belt: Belt) -> None:
    enterprise = belt.site("enterprise-center")
    assert enterprise.space("shared-meeting-room").bookable
    assert enterprise.space("consulting-room").bookable
    assert enterprise.space("worker-bookhouse").name == "Worker Bookhouse"
    assert enterprise.space("love-relay-station").name == "Love Relay Station for outdoor workers"


def test_legal_window_is_open_on_friday_afternoon_only(belt: Belt) -> None:
    enterprise = belt.site("enterprise-center")
    hours = enterprise.window_hours("legal-window")
    friday, thursday = shanghai_to_utc(2024, 3, 8, 14), shanghai_to_utc(2024, 3, 7, 14)
    assert hours.is_open(friday, belt.tz)
    assert not hours.is_open(thursday, belt.tz)
    assert not hours.is_open(shanghai_to_utc(2024, 3, 8, 10), belt.tz)
    assert str(hours) == "Fri 13:00-17:00"


def test_window_without_hours_is_staffed_when_its_space_is_open(complex_site: Site) -> None:
    assert complex_site.window("window-1").hours is None
    assert complex_site.window_hours("window-1") == complex_site.space("windows-hall").hours


def test_every_bookable_space_and_big_hall_has_an_occupancy_sensor(belt: Belt) -> None:
    watched = {"experience-hall", "day-care", "windows-waiting", "affairs-waiting", "enterprise-waiting"}
    for site in belt.sites:
        for space in site.spaces:
            if space.bookable or space.id in watched:
                models = {device.model for device in site.devices_in(space.id)}
                assert "milesight-vs121" in models, f"{site.id}/{space.id} has no occupancy sensor"


def test_occupancy_sensors_publish_on_their_own_vendor_topic(belt: Belt) -> None:
    by_topic = belt.devices_by_vendor_topic()
    sensors = [(s, d) for s in belt.sites for d in s.devices if d.model == "milesight-vs121"]
    assert len(sensors) >= 10
    for site, device in sensors:
        assert device.transport == "mqtt"
        assert device.vendor_topic == f"milesight/vs121/{device.serial}"
        assert by_topic[device.vendor_topic] == (site, device)


def test_complex_entrance_has_a_modbus_people_counter(complex_site: Site) -> None:
    (counter,) = [d for d in complex_site.devices if d.model == "modbus-people-counter"]
    assert complex_site.space(counter.space).kind == "entrance"
    assert (counter.transport, counter.port, counter.unit) == ("modbus", 502, 1)
    assert counter.vendor_topic is None


def test_every_window_has_a_call_terminal_and_every_service_a_dispenser_button(belt: Belt) -> None:
    for site in belt.sites:
        terminals = {d.window: d for d in site.devices if d.model == "mqtt-window-terminal"}
        assert set(terminals) == {w.id for w in site.windows}, site.id
        buttons = [s for d in site.devices if d.model == "mqtt-ticket-dispenser" for s in d.services or ()]
        assert sorted(buttons) == sorted(s.id for s in site.services), site.id


def test_queue_devices_take_commands_beside_their_vendor_topic(belt: Belt) -> None:
    queue_models = {"mqtt-ticket-dispenser", "mqtt-window-terminal", "mqtt-display-board"}
    devices = [d for s in belt.sites for d in s.devices if d.model in queue_models]
    assert len(devices) >= 15
    for device in devices:
        assert device.vendor_topic is not None
        assert device.vendor_topic.startswith("queue/")
        assert device.vendor_topic.endswith(device.serial or "?")


def test_device_lookup_returns_its_site(belt: Belt) -> None:
    site, device = belt.device("enterprise-meeting-room-occupancy")
    assert site.id == "enterprise-center"
    assert device.space == "shared-meeting-room"


def test_unknown_ids_raise_key_errors_that_name_them(belt: Belt, complex_site: Site) -> None:
    with pytest.raises(KeyError) as unknown_site:
        belt.site("library")
    assert str(unknown_site.value).startswith(
        "no site in belt '10-minute Party-mass service belt on Changping Road' with id 'library' (known: complex, "
    )
    with pytest.raises(SiteLookupError, match="no device 'sensor-9' in any site of belt"):
        belt.device("sensor-9")
    with pytest.raises(SiteLookupError, match="no space in site 'complex' with id 'gym'"):
        complex_site.space("gym")
