"""load_belt reads files from disk or the package; every failure to read one is a SiteFileError."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pydantic
import pytest
import yaml

from devices.site import SHIPPED_SITE_FILE, SiteFileError, load_belt, parse_belt


def shipped_text() -> str:
    return resources.files("devices.sites").joinpath(SHIPPED_SITE_FILE).read_text(encoding="utf-8")


def test_shipped_file_is_package_data_read_without_a_path() -> None:
    assert load_belt() == parse_belt(shipped_text(), source=SHIPPED_SITE_FILE)


def test_a_file_on_disk_loads_the_same_belt(tmp_path: Path) -> None:
    path = tmp_path / "belt.yaml"
    path.write_text(shipped_text(), encoding="utf-8")
    assert load_belt(path) == load_belt()


def test_a_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "belt.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + shipped_text().encode())
    assert load_belt(path) == load_belt()


def test_errors_name_the_file_as_given(tmp_path: Path) -> None:
    path = tmp_path / "belt.yaml"
    path.write_text(shipped_text().replace("capacity: 6\n", "capacity: -6\n"), encoding="utf-8")
    with pytest.raises(SiteFileError) as caught:
        load_belt(path)
    assert caught.value.source == str(path)
    assert str(caught.value).startswith(f"{path}:")
    assert caught.value.location == "sites[enterprise-center].spaces[consulting-room].capacity"


def test_missing_file_is_a_site_file_error(tmp_path: Path) -> None:
    path = tmp_path / "missing.yaml"
    with pytest.raises(SiteFileError) as caught:
        load_belt(path)
    assert str(caught.value) == f"{path}: (file): cannot read the file: No such file or directory"
    assert caught.value.line is None
    assert isinstance(caught.value.__cause__, FileNotFoundError)


def test_a_directory_is_a_site_file_error(tmp_path: Path) -> None:
    with pytest.raises(SiteFileError) as caught:
        load_belt(tmp_path)
    assert str(caught.value) == f"{tmp_path}: (file): cannot read the file: Is a directory"


def test_text_that_is_not_utf8_is_refused_at_its_line(tmp_path: Path) -> None:
    path = tmp_path / "gbk.yaml"
    path.write_bytes("schema: smartcomplex.site/v1\nname: 江宁路\n".encode("gbk"))
    with pytest.raises(SiteFileError) as caught:
        load_belt(path)
    assert str(caught.value) == f"{path}:2: (file): not UTF-8 text (byte 35: invalid start byte)"


def test_the_error_message_is_always_one_line() -> None:
    with pytest.raises(SiteFileError) as caught:
        parse_belt("a: [1,\n\n", source="site.yaml")
    assert "\n" not in str(caught.value)
    assert caught.value.line is not None


def test_a_dumped_belt_reads_back_equal() -> None:
    belt = load_belt()
    dumped = belt.model_dump(mode="json", by_alias=True, exclude_none=True)
    assert dumped["schema"] == "smartcomplex.site/v1"
    assert parse_belt(yaml.safe_dump(dumped, sort_keys=False), source="dumped.yaml") == belt


def test_the_model_is_frozen() -> None:
    space = load_belt().site("complex").space("council-hall")
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        space.capacity = 500  # type: ignore[misc]
