"""The report's tables as files: one CSV each, and one Excel workbook (openpyxl) with a sheet each, in the order
given (the summary first).

CSV files are UTF-8 with a byte-order mark (``utf-8-sig``): Excel on a Chinese Windows opens a UTF-8 CSV without
one as GBK and garbles every Chinese name; with it, Excel, pandas and Python's csv module all read it right. Local
dates and times are written as they are (naive, the site's time zone, said in the summary); Excel has no time
zones.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd  # type: ignore[import-untyped]

CSV_ENCODING = "utf-8-sig"
WORKBOOK_NAME = "report.xlsx"
# Excel's limits on a sheet's name: 31 characters, none of []:*?/\ (openpyxl would silently change it).
_SHEET_NAME = re.compile(r"[^\[\]:*?/\\]{1,31}")
_MAX_COLUMN_WIDTH = 60


@dataclass(frozen=True, slots=True)
class ReportTable:
    """One table of the report: ``name`` is both its CSV file's stem and its sheet's name."""

    name: str
    frame: pd.DataFrame

    def __post_init__(self) -> None:
        if _SHEET_NAME.fullmatch(self.name) is None:
            raise ValueError(f"{self.name!r} cannot name an Excel sheet")


def write_csv(table: ReportTable, directory: Path) -> Path:
    path = directory / f"{table.name}.csv"
    table.frame.to_csv(path, index=False, encoding=CSV_ENCODING)
    return path


def _column_width(frame: pd.DataFrame, column: str) -> int:
    # Enough for the header and the first rows' text, in characters (Excel's unit is near enough one).
    longest = max([len(str(column)), *(len(str(value)) for value in frame[column].head(200))])
    return min(longest + 2, _MAX_COLUMN_WIDTH)


def write_workbook(tables: Sequence[ReportTable], path: Path) -> Path:
    """Every table as a sheet of one workbook: header row frozen, columns wide enough to read."""
    with pd.ExcelWriter(
        path, engine="openpyxl", date_format="YYYY-MM-DD", datetime_format="YYYY-MM-DD HH:MM:SS"
    ) as writer:
        for table in tables:
            table.frame.to_excel(writer, sheet_name=table.name, index=False)
            sheet = writer.sheets[table.name]
            sheet.freeze_panes = "A2"
            for number, column in enumerate(table.frame.columns, start=1):
                letter = sheet.cell(row=1, column=number).column_letter
                sheet.column_dimensions[letter].width = _column_width(table.frame, column)
    return path


def write_tables(tables: Sequence[ReportTable], directory: Path) -> list[Path]:
    """The CSV files, then the workbook, in ``directory`` (made when missing); the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = [write_csv(table, directory) for table in tables]
    written.append(write_workbook(tables, directory / WORKBOOK_NAME))
    return written
