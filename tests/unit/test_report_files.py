"""The report's files: CSV in UTF-8 with a byte-order mark, one workbook whose sheets hold the same tables, and the
charts as PNG images, also for days with nothing to show."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pandas as pd
import pytest

from dashboards.reports import charts
from dashboards.reports.workbook import ReportTable, write_tables

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def sample_tables() -> list[ReportTable]:
    summary = pd.DataFrame(
        [("complex", "江宁路街道党群服务中心", date(2026, 11, 1), 12.5, 3, float("nan"))],
        columns=["site", "name", "from", "booked_hours", "no_shows_released", "used_percent"],
    )
    no_shows = pd.DataFrame(
        [
            ("complex", "Hall", datetime(2026, 11, 2, 9, 0), True),
            ("complex", "Hall", datetime(2026, 11, 3, 14, 30), False),
        ],
        columns=["site", "room", "booked_from", "undone"],
    )
    return [ReportTable("summary", summary), ReportTable("no_shows", no_shows)]


def test_csv_files_start_with_a_bom_and_keep_chinese_names(tmp_path: Path) -> None:
    written = write_tables(sample_tables(), tmp_path)
    assert [path.name for path in written] == ["summary.csv", "no_shows.csv", "report.xlsx"]
    raw = (tmp_path / "summary.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    text = raw.decode("utf-8-sig")
    assert "江宁路街道党群服务中心" in text
    assert "2026-11-01" in text
    assert "2026-11-02 09:00:00" in (tmp_path / "no_shows.csv").read_text(encoding="utf-8-sig")


def test_the_workbook_has_a_sheet_per_table_in_order_with_the_same_content(tmp_path: Path) -> None:
    tables = sample_tables()
    write_tables(tables, tmp_path)
    sheets = pd.read_excel(tmp_path / "report.xlsx", sheet_name=None)
    assert list(sheets) == ["summary", "no_shows"]
    assert sheets["summary"].loc[0, "name"] == "江宁路街道党群服务中心"
    assert sheets["summary"].loc[0, "from"] == pd.Timestamp(2026, 11, 1)
    assert pd.isna(sheets["summary"].loc[0, "used_percent"])
    pd.testing.assert_frame_equal(sheets["no_shows"], tables[1].frame, check_dtype=False)


@pytest.mark.parametrize("name", ["", "x" * 32, "a/b", "rooms[1]"])
def test_a_name_excel_cannot_take_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match="cannot name an Excel sheet"):
        ReportTable(name, pd.DataFrame())


def _is_png(path: Path) -> bool:
    data = path.read_bytes()
    return data.startswith(PNG_SIGNATURE) and len(data) > 1000


def test_charts_are_png_images(tmp_path: Path) -> None:
    rooms = pd.DataFrame(
        [("complex", "Hall", 6.0, 3.0, 0.5)],
        columns=["site", "room", "booked_hours", "used_of_booked_hours", "unbooked_use_hours"],
    )
    services = pd.DataFrame(
        [("complex", "Culture", 4.0, 12.5), ("complex", "Volunteer", float("nan"), float("nan"))],
        columns=["site", "service", "median_wait_min", "p90_wait_min"],
    )
    per_day = pd.DataFrame({"complex": [3, 0], "affairs-center": [1, 2]}, index=[date(2026, 11, 2), date(2026, 11, 3)])
    by_hour = pd.DataFrame([("complex", 9, 3), ("complex", 11, 1)], columns=["site", "hour", "served"])
    paths = [
        charts.utilisation_chart(rooms, tmp_path / "utilisation.png", caption="complex, 2026-11"),
        charts.waits_chart(services, tmp_path / "waits.png", caption="complex, 2026-11"),
        charts.served_per_day_chart(per_day, tmp_path / "served_per_day.png", caption="complex, 2026-11"),
        charts.served_by_hour_chart(by_hour, tmp_path / "served_by_hour.png", caption="complex, 2026-11"),
    ]
    assert all(_is_png(path) for path in paths)


def test_charts_of_days_with_nothing_are_still_images(tmp_path: Path) -> None:
    empty_rooms = pd.DataFrame(columns=["site", "room", "booked_hours", "used_of_booked_hours", "unbooked_use_hours"])
    empty_services = pd.DataFrame(columns=["site", "service", "median_wait_min", "p90_wait_min"])
    paths = [
        charts.utilisation_chart(empty_rooms, tmp_path / "u.png", caption="-"),
        charts.waits_chart(empty_services, tmp_path / "w.png", caption="-"),
        charts.served_per_day_chart(pd.DataFrame(), tmp_path / "d.png", caption="-"),
        charts.served_by_hour_chart(pd.DataFrame(columns=["site", "hour", "served"]), tmp_path / "h.png", caption="-"),
    ]
    assert all(_is_png(path) for path in paths)
