"""The door badge counters kept across agent restarts, in a small JSON file of the agent's state directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.modbus_door import CardCounterFile


def test_a_saved_counter_is_there_for_the_next_agent_run(tmp_path: Path) -> None:
    path = tmp_path / "state" / "door-counters.json"
    first = CardCounterFile(path)
    assert first.load("door") is None
    first.save("door", 41)
    first.save("door-2", 65535)
    again = CardCounterFile(path)
    assert (again.load("door"), again.load("door-2")) == (41, 65535)


@pytest.mark.parametrize("content", ["not json", "[1, 2]", '{"door": -1, "door-2": 70000, "door-3": true}'])
def test_an_unreadable_file_or_impossible_values_start_from_the_next_poll(tmp_path: Path, content: str) -> None:
    path = tmp_path / "door-counters.json"
    path.write_text(content, encoding="utf-8")
    store = CardCounterFile(path)
    assert [store.load(door) for door in ("door", "door-2", "door-3")] == [None, None, None]
    store.save("door", 5)
    assert CardCounterFile(path).load("door") == 5
