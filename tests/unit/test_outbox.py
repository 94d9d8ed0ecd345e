"""The durable outbox: numbers per device on disk, rows kept until confirmed, a bound that spares critical items."""

from __future__ import annotations

import logging
import math
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from devices.envelope import decode_envelope
from devices.topics import Channel, device_topic
from edge.outbox import DIGESTS_KEPT_PER_DEVICE, Outbox, OutboxError, open_site_outbox
from edge.sink import EnvelopeSink, Outgoing

T0 = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)
SITE = "complex"


def reading(device_id: str = "vs121-a", people: int = 1, *, critical: bool = False) -> Outgoing:
    return Outgoing(
        device_id=device_id,
        channel=Channel.EVENT,
        name="access" if critical else "occupancy",
        schema="access.v1" if critical else "occupancy.v1",
        observed_at=T0 + timedelta(seconds=people),
        data={"people": people},
        critical=critical,
    )


def open_outbox(tmp_path: Path, **kwargs: object) -> Outbox:
    return Outbox(tmp_path / "outbox.sqlite3", site_id=SITE, topic_root="sc", **kwargs)  # type: ignore[arg-type]


def waiting(outbox: Outbox) -> list[tuple[str, int]]:
    return [(row.device_id, row.seq) for row in outbox.pending(after_id=0, limit=1000)]


def test_the_outbox_is_an_envelope_sink(tmp_path: Path) -> None:
    outbox: EnvelopeSink = open_outbox(tmp_path)
    assert outbox.submit(reading()) == 0


def test_numbers_count_up_per_device_from_zero_and_survive_a_reopen(tmp_path: Path) -> None:
    outbox = open_outbox(tmp_path)
    assert [outbox.submit(reading("a")), outbox.submit(reading("a")), outbox.submit(reading("b"))] == [0, 1, 0]
    outbox.close()
    reopened = open_outbox(tmp_path)
    assert reopened.submit(reading("a")) == 2
    assert waiting(reopened) == [("a", 0), ("a", 1), ("b", 0), ("a", 2)]
    reopened.close()


def test_a_row_holds_the_encoded_envelope_and_its_topic(tmp_path: Path) -> None:
    outbox = open_outbox(tmp_path)
    outbox.submit(reading("a", people=4))
    (row,) = outbox.pending(after_id=0, limit=10)
    envelope = decode_envelope(row.payload, now=T0 + timedelta(hours=1))
    assert (envelope.device_id, envelope.seq, envelope.ts, envelope.data) == (
        "a",
        0,
        T0 + timedelta(seconds=4),
        {"people": 4},
    )
    assert row.topic == device_topic(SITE, "a", Channel.EVENT, "occupancy", root="sc")
    assert row.critical is False


def test_pending_reads_in_submit_order_from_a_cursor(tmp_path: Path) -> None:
    outbox = open_outbox(tmp_path)
    for device_id in ["a", "b", "a", "c", "b"]:
        outbox.submit(reading(device_id))
    first = outbox.pending(after_id=0, limit=2)
    rest = outbox.pending(after_id=first[-1].id, limit=10)
    assert [(r.device_id, r.seq) for r in first + rest] == [("a", 0), ("b", 0), ("a", 1), ("c", 0), ("b", 1)]
    assert outbox.last_id == rest[-1].id


def test_a_confirmation_deletes_exactly_the_confirmed_rows(tmp_path: Path) -> None:
    outbox = open_outbox(tmp_path)
    for device_id in ["a", "a", "a", "a", "b", "b"]:
        outbox.submit(reading(device_id))
    deleted = outbox.delete_confirmed({"a": [(0, 1), (3, 3)], "b": [(1, 5)], "nobody": [(0, 9)]})
    assert deleted == 4
    assert waiting(outbox) == [("a", 2), ("b", 0)]
    assert outbox.stats().depth == 2
    assert outbox.delete_confirmed({"a": [(0, 1)]}) == 0  # confirmed twice: nothing left to delete


def test_a_full_outbox_drops_the_oldest_telemetry_first_and_counts_it(tmp_path: Path) -> None:
    outbox = open_outbox(tmp_path, max_rows=3)
    outbox.submit(reading("door", critical=True))
    outbox.submit(reading("a"))
    outbox.submit(reading("a"))
    outbox.submit(reading("a"))  # full: a/0 goes
    outbox.submit(reading("door", critical=True))  # full: a/1 goes
    assert waiting(outbox) == [("door", 0), ("a", 2), ("door", 1)]
    assert outbox.stats().dropped_telemetry == 2
    outbox.close()
    assert open_outbox(tmp_path, max_rows=3).stats().dropped_telemetry == 2  # the count is on disk


def test_critical_items_are_never_dropped_the_outbox_grows_and_says_so_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    outbox = open_outbox(tmp_path, max_rows=2)
    with caplog.at_level(logging.ERROR, logger="edge.outbox"):
        for _ in range(5):
            outbox.submit(reading("door", critical=True))
    assert waiting(outbox) == [("door", seq) for seq in range(5)]
    assert outbox.stats().depth == 5
    assert outbox.stats().dropped_telemetry == 0
    assert len([r for r in caplog.records if "growing past its bound" in r.getMessage()]) == 1
    outbox.submit(reading("a"))  # telemetry still fits: there is nothing older to drop but itself
    assert outbox.stats().depth == 6


def test_a_redelivered_vendor_message_gets_its_old_number_and_no_second_row(tmp_path: Path) -> None:
    outbox = open_outbox(tmp_path)
    first = outbox.submit(reading("a"), vendor_payload=b"report-1")
    outbox.submit(reading("a"), vendor_payload=b"report-2")
    assert outbox.submit(reading("a"), vendor_payload=b"report-1", redelivered=True) == first
    assert waiting(outbox) == [("a", 0), ("a", 1)]
    outbox.delete_confirmed({"a": [(0, 1)]})
    # Still recognised after the server confirmed it: the redelivery can come after the flush.
    assert outbox.submit(reading("a"), vendor_payload=b"report-2", redelivered=True) == 1
    assert waiting(outbox) == []


def test_identical_first_deliveries_are_two_readings(tmp_path: Path) -> None:
    outbox = open_outbox(tmp_path)
    # One second of clock resolution: a sensor can send byte-identical reports; only a DUP redelivery is the same.
    assert [outbox.submit(reading("a"), vendor_payload=b"same") for _ in range(2)] == [0, 1]
    assert outbox.submit(reading("b"), vendor_payload=b"same", redelivered=True) == 0  # another device's payload
    assert waiting(outbox) == [("a", 0), ("a", 1), ("b", 0)]


def test_a_redelivery_never_seen_before_is_numbered_as_new(tmp_path: Path) -> None:
    outbox = open_outbox(tmp_path)
    outbox.submit(reading("a"), vendor_payload=b"seen")
    assert outbox.submit(reading("a"), vendor_payload=b"arrived-but-never-taken", redelivered=True) == 1


def test_only_recent_vendor_payloads_are_remembered(tmp_path: Path) -> None:
    outbox = open_outbox(tmp_path)
    oldest = outbox.submit(reading("a"), vendor_payload=b"oldest")
    for n in range(DIGESTS_KEPT_PER_DEVICE + 64):
        outbox.submit(reading("a"), vendor_payload=n.to_bytes(4, "big"))
    assert outbox.submit(reading("a"), vendor_payload=b"oldest", redelivered=True) != oldest  # forgotten


def test_an_item_that_cannot_be_encoded_is_refused_without_using_a_number(tmp_path: Path) -> None:
    outbox = open_outbox(tmp_path)
    bad = Outgoing("a", Channel.EVENT, "occupancy", "occupancy.v1", T0, {"people": math.nan})
    with pytest.raises(ValueError, match="not a finite number"):
        outbox.submit(bad)
    with pytest.raises(ValueError, match="device id"):
        outbox.submit(reading("Not An Id"))
    assert outbox.submit(reading("a")) == 0
    assert outbox.stats().depth == 1


def test_stats_give_depth_and_the_age_of_the_oldest_row(tmp_path: Path) -> None:
    now = [T0]
    outbox = open_outbox(tmp_path, clock=lambda: now[0])
    assert outbox.stats().oldest_age_s is None
    outbox.submit(reading("a"))
    now[0] = T0 + timedelta(seconds=90)
    outbox.submit(reading("a"))
    stats = outbox.stats()
    assert (stats.depth, stats.oldest_age_s, stats.max_rows) == (2, 90.0, 200_000)


def test_the_sequence_file_of_earlier_versions_is_adopted_and_its_numbers_go_on(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    legacy = tmp_path / "legacy.sqlite3"
    # The former SequenceStore's file as an agent killed mid-run leaves it: its last commit only in the WAL.
    db = sqlite3.connect(legacy, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA wal_autocheckpoint=0")
    db.execute("CREATE TABLE device_seq (device_id TEXT PRIMARY KEY, last_seq INTEGER NOT NULL)")
    db.execute(
        "CREATE TABLE payload_seq (device_id TEXT NOT NULL, digest BLOB NOT NULL, seq INTEGER NOT NULL,"
        " PRIMARY KEY (device_id, digest))"
    )
    db.execute("INSERT INTO device_seq VALUES ('a', 41)")
    for suffix in ("", "-wal"):
        (state_dir / f"{SITE}-sequences.sqlite3{suffix}").write_bytes(Path(f"{legacy}{suffix}").read_bytes())
    db.close()
    assert (state_dir / f"{SITE}-sequences.sqlite3-wal").stat().st_size > 0

    outbox = open_site_outbox(state_dir, SITE, topic_root="sc", max_rows=10)
    assert outbox.submit(reading("a")) == 42
    assert outbox.path == state_dir / f"{SITE}-outbox.sqlite3"
    assert not (state_dir / f"{SITE}-sequences.sqlite3").exists()
    outbox.close()


def _note(db: sqlite3.Connection, text: str) -> None:
    db.execute("CREATE TABLE IF NOT EXISTS note (text TEXT NOT NULL)")
    db.execute("INSERT INTO note (text) VALUES (?)", (text,))


def test_items_and_the_callers_own_rows_are_stored_in_one_transaction(tmp_path: Path) -> None:
    outbox = open_outbox(tmp_path)
    seqs = outbox.submit_all([reading("a"), reading("_agent", critical=True)], also=lambda db: _note(db, "A001"))
    assert seqs == [0, 0]
    assert waiting(outbox) == [("a", 0), ("_agent", 0)]
    assert outbox.read(lambda db: db.execute("SELECT text FROM note").fetchall()) == [("A001",)]
    (_first, agent_row) = outbox.pending(after_id=0, limit=10)
    assert agent_row.topic == "sc/v1/complex/_agent/event/access"


def test_nothing_is_stored_when_the_callers_part_fails(tmp_path: Path) -> None:
    outbox = open_outbox(tmp_path)

    def fails(db: sqlite3.Connection) -> None:
        _note(db, "A001")
        raise sqlite3.OperationalError("disk I/O error")

    with pytest.raises(OutboxError):
        outbox.submit_all([reading("a")], also=fails)
    assert waiting(outbox) == []
    assert outbox.read(lambda db: db.execute("SELECT name FROM sqlite_master WHERE name = 'note'").fetchall()) == []
    assert outbox.submit(reading("a")) == 0  # the number was not used up


def test_a_redelivered_payload_is_known_once_taken_with_its_items(tmp_path: Path) -> None:
    outbox = open_outbox(tmp_path)
    payload = b'{"type":"button","button":1}'
    assert not outbox.is_known_redelivery("dispenser", payload)
    outbox.submit_all([reading("dispenser", critical=True)], also=lambda db: None, vendor_payload=payload)
    assert outbox.is_known_redelivery("dispenser", payload)
    assert not outbox.is_known_redelivery("dispenser", b'{"type":"button","button":2}')
