"""The demo's site copy: the same belt with every Modbus device on loopback, ports kept across runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from devices.site import SiteFileError, load_belt
from server.demo.services import DEVICE_PORTS, free_port
from server.demo.site_copy import write_simulated_site_file


def test_copy_is_the_shipped_belt_with_modbus_devices_on_free_loopback_ports(tmp_path: Path) -> None:
    shipped = load_belt()
    copy = write_simulated_site_file(None, tmp_path / "site.yaml")
    assert copy.model_dump(exclude={"sites"}) == shipped.model_dump(exclude={"sites"})
    modbus_ports = []
    for original, moved in zip(shipped.sites, copy.sites, strict=True):
        assert moved.spaces == original.spaces
        assert moved.windows == original.windows
        for before, after in zip(original.devices, moved.devices, strict=True):
            if before.transport == "modbus":
                assert (after.host, after.unit) == ("127.0.0.1", 1)
                assert after.port != before.port
                modbus_ports.append(after.port)
                assert after.model_copy(update={"host": before.host, "port": before.port}) == before
            else:
                assert after == before
    assert len(modbus_ports) == len(set(modbus_ports)) >= 5


def test_a_second_run_keeps_the_ports_of_the_first(tmp_path: Path) -> None:
    first = write_simulated_site_file(None, tmp_path / "site.yaml")
    second = write_simulated_site_file(None, tmp_path / "site.yaml")
    assert second == first


def test_a_bad_source_file_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    source = tmp_path / "bad.yaml"
    source.write_text("schema: smartcomplex.site/v1\nname: x\n", encoding="utf-8")
    with pytest.raises(SiteFileError):
        write_simulated_site_file(source, tmp_path / "site.yaml")
    assert not (tmp_path / "site.yaml").exists()


def test_device_ports_lie_below_the_ephemeral_range_so_outgoing_connections_never_take_them(tmp_path: Path) -> None:
    copy = write_simulated_site_file(None, tmp_path / "site.yaml")
    ephemeral_start = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    ports = [d.port for s in copy.sites for d in s.devices if d.transport == "modbus"]
    assert ports
    assert all(port is not None and 15000 <= port < ephemeral_start for port in ports)


def test_service_ports_lie_below_the_ephemeral_range_apart_from_device_ports_and_are_never_given_twice() -> None:
    ephemeral_start = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    ports = [free_port() for _ in range(50)]
    assert len(set(ports)) == len(ports)
    assert all(DEVICE_PORTS[1] <= port < max(ephemeral_start, DEVICE_PORTS[1] + 100) for port in ports)
