"""The one command line: every subcommand explains itself, and a bad site file stops it before anything starts."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from server.cli import build_parser, main

SUBCOMMANDS = [
    ["demo"],
    ["server"],
    ["edge"],
    ["simulate"],
    ["simulate", "sensors"],
    ["simulate", "device"],
    ["db"],
    ["db", "migrate"],
    ["site"],
    ["site", "check"],
    ["score", "releases"],
    ["score", "waits"],
]


@pytest.mark.parametrize("words", SUBCOMMANDS, ids=lambda words: " ".join(words))
def test_every_subcommand_has_help(words: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([*words, "--help"])
    assert exited.value.code == 0
    assert f"usage: smartcomplex {' '.join(words)}" in capsys.readouterr().out


def test_site_check_summarises_the_shipped_belt(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["site", "check"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("complex: ")
    assert "enterprise-center" in out


BAD_SITE = """\
schema: smartcomplex.site/v1
name: A belt
timezone: Asia/Shanghai
sites:
  - id: complex
    name: Complex
    address: somewhere
    floors: [{id: 1f, name: First, level: 1}]
    spaces:
      - {id: hall, name: Hall, floor: 1f, kind: activity-room, capacity: -3, bookable: true,
         hours: {mon: "09:00-17:00"}}
"""


@pytest.mark.parametrize(
    "words",
    [
        ["demo", "--data-dir", "{tmp}/demo-data"],
        ["server"],
        ["edge", "--site", "complex"],
        ["simulate", "sensors"],
        ["site", "check"],
    ],
    ids=["demo", "server", "edge", "simulate", "site-check"],
)
def test_a_bad_site_file_stops_the_program_before_it_starts_anything(words: list[str], tmp_path: Path) -> None:
    site_file = tmp_path / "belt.yaml"
    site_file.write_text(BAD_SITE)
    argv = [word.replace("{tmp}", str(tmp_path)) for word in words]
    result = subprocess.run(
        [sys.executable, "-m", "server.cli", *argv, "--site-file", str(site_file)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0] == (
        f"smartcomplex: bad site file: {site_file}:10: sites[complex].spaces[hall].capacity: "
        "Input should be greater than or equal to 1"
    )
    assert not (tmp_path / "demo-data").exists()
    assert result.stdout == ""


def test_the_parser_knows_the_compose_and_readme_commands() -> None:
    parser = build_parser()
    assert parser.parse_args(["server", "--host", "0.0.0.0", "--migrate"]).migrate is True
    assert parser.parse_args(["demo"]).api_port == 8000


def test_missing_settings_are_named_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("SC_EDGE_SITE_ID", raising=False)
    assert main(["edge"]) == 2
    assert capsys.readouterr().err == "smartcomplex: bad settings: site_id: Field required\n"


def test_an_unreachable_database_is_reported_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "migrate", "--database-url", "host=127.0.0.1 port=1 connect_timeout=1"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("smartcomplex: database: ")
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    ("words", "message"),
    [
        (["mqtt-ticket-dispenser"], "smartcomplex: mqtt-ticket-dispenser needs --device"),
        (["mqtt-ticket-dispenser", "--device", "no-such-device"], "smartcomplex: no device 'no-such-device'"),
        (
            ["mqtt-display-board", "--device", "complex-ticket-dispenser"],
            "smartcomplex: device complex-ticket-dispenser is a mqtt-ticket-dispenser, not a mqtt-display-board",
        ),
    ],
    ids=["no-device", "unknown-device", "wrong-model"],
)
def test_an_mqtt_device_simulator_needs_a_matching_device_of_the_site_file(
    words: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["simulate", "device", *words]) == 2
    assert capsys.readouterr().err.startswith(message)


def test_an_mqtt_device_simulator_says_where_it_publishes_and_stops_on_sigint() -> None:
    with subprocess.Popen(
        [
            sys.executable,
            "-m",
            "server.cli",
            "simulate",
            "device",
            "mqtt-window-terminal",
            "--device",
            "enterprise-legal-window-terminal",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as process:
        try:
            assert process.stdout is not None
            first = process.stdout.readline()
            assert first.startswith("mqtt-window-terminal WT0303 publishing on queue/terminal/WT0303")
        finally:
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=20) == 0
