"""``smartcomplex report`` on the command line: its help, and one line with exit status 2 for what cannot be
reported, 1 for a database it cannot reach (the system test runs it on a Friday's database)."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.cli import main

# Nothing listens on port 1 of the loopback: the connection is refused at once.
UNREACHABLE = "host=127.0.0.1 port=1 user=postgres dbname=smartcomplex connect_timeout=2"


def test_report_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["report", "--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: smartcomplex report")
    for option in ("--site", "--from", "--to", "--out", "--database-url"):
        assert option in out


@pytest.mark.parametrize(
    ("arguments", "line"),
    [
        (
            ["--from", "2026-11-31", "--to", "2026-12-01"],
            "smartcomplex: --from '2026-11-31' is not a day of the calendar",
        ),
        (["--from", "2026-11-01", "--to", "30/11/2026"], "smartcomplex: --to '30/11/2026' is not a date (YYYY-MM-DD)"),
        (["--from", "2026-12-01", "--to", "2026-11-01"], "smartcomplex: --from 2026-12-01 is after --to 2026-11-01"),
    ],
)
def test_a_bad_period_ends_with_one_line_and_status_2_before_the_database(
    arguments: list[str], line: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["report", "--site", "complex", *arguments, "--database-url", UNREACHABLE, "--out", str(tmp_path)])
    assert code == 2
    assert capsys.readouterr().err.strip() == line
    assert not any(tmp_path.iterdir())


def test_an_unreachable_database_ends_with_status_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_dir = tmp_path / "report"
    arguments = ["--site", "all", "--from", "2026-11-01", "--to", "2026-11-30", "--database-url", UNREACHABLE]
    code = main(["report", *arguments, "--out", str(out_dir)])
    assert code == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("smartcomplex: database: cannot connect:")
    assert "\n" not in err
    assert not out_dir.exists()
