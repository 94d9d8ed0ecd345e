"""Per-device sequence numbers on disk: the same payload keeps its number, across restarts too."""

from __future__ import annotations

from pathlib import Path

from edge.sequence import DIGESTS_KEPT_PER_DEVICE, SequenceStore


def test_numbers_count_up_per_device_from_zero(tmp_path: Path) -> None:
    store = SequenceStore(tmp_path / "seq.sqlite3")
    assert [store.seq_for("a", b"1"), store.seq_for("a", b"2"), store.seq_for("b", b"1")] == [0, 1, 0]
    store.close()


def test_a_redelivered_payload_gets_its_old_number(tmp_path: Path) -> None:
    store = SequenceStore(tmp_path / "seq.sqlite3")
    first = store.seq_for("a", b"report")
    store.seq_for("a", b"another")
    assert store.seq_for("a", b"report") == first
    store.close()


def test_numbers_survive_a_restart(tmp_path: Path) -> None:
    store = SequenceStore(tmp_path / "seq.sqlite3")
    before = [store.seq_for("a", bytes([n])) for n in range(3)]
    store.close()
    reopened = SequenceStore(tmp_path / "seq.sqlite3")
    assert reopened.seq_for("a", b"new") == before[-1] + 1
    assert reopened.seq_for("a", bytes([1])) == before[1]
    reopened.close()


def test_only_recent_payloads_are_remembered(tmp_path: Path) -> None:
    store = SequenceStore(tmp_path / "seq.sqlite3")
    oldest = store.seq_for("a", b"oldest")
    for n in range(DIGESTS_KEPT_PER_DEVICE):
        store.seq_for("a", n.to_bytes(4, "big"))
    assert store.seq_for("a", b"oldest") != oldest  # forgotten: a new number, not a stale match
    store.close()
