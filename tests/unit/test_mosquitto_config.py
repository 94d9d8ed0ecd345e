"""The production broker configuration (deploy/mosquitto/mosquitto.conf) keeps messages instead of dropping them.

Mosquitto's defaults queue 1000 messages per client, keep 20 in flight and save their state every 30 minutes;
ARCHITECTURE.md asks for limits sized for minutes of traffic and persistence with a short autosave interval.
The file is read line by line as Mosquitto reads it: `option value...`, `#` comments, blank lines.
"""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
MOSQUITTO_CONF = ROOT / "deploy" / "mosquitto" / "mosquitto.conf"
CONFIG_IN_CONTAINER = "/mosquitto/config/mosquitto.conf"
# Our envelopes are at most 64 KiB; payloads up to 2 MiB must reach the ingest, which rejects and counts them.
ENVELOPE_MAX_BYTES = 64 * 1024
OVERSIZE_ALLOWANCE_BYTES = 2 * 1024 * 1024
# Mosquitto's own defaults, which the configuration has to raise.
DEFAULT_MAX_INFLIGHT = 20
# The longest a crash may leave acknowledged messages unsaved, in seconds.
AUTOSAVE_MAX_S = 10


def mosquitto_options(text: str) -> dict[str, list[str]]:
    """{option: [value of each line that sets it]}; an option may repeat (listener, log_type)."""
    options: dict[str, list[str]] = {}
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        option, _, value = stripped.partition(" ")
        options.setdefault(option, []).append(value.strip())
    return options


def option(name: str) -> str:
    values = mosquitto_options(MOSQUITTO_CONF.read_text(encoding="utf-8")).get(name)
    assert values, f"{MOSQUITTO_CONF.name} does not set {name}"
    assert len(values) == 1, f"{name} is set {len(values)} times"
    return values[0]


def test_the_broker_listens_on_the_mqtt_port() -> None:
    listeners = mosquitto_options(MOSQUITTO_CONF.read_text(encoding="utf-8"))["listener"]
    assert [value.split()[0] for value in listeners] == ["1883"]


def test_state_is_persisted_every_few_seconds() -> None:
    assert option("persistence") == "true"
    assert 0 < int(option("autosave_interval")) <= AUTOSAVE_MAX_S
    # With autosave_on_changes true the interval would count changes, not seconds.
    options = mosquitto_options(MOSQUITTO_CONF.read_text(encoding="utf-8"))
    assert options.get("autosave_on_changes", ["false"]) == ["false"]


def test_queues_hold_minutes_of_traffic_with_a_byte_bound() -> None:
    queued_messages = int(option("max_queued_messages"))
    queued_bytes = int(option("max_queued_bytes"))
    if queued_messages == 0:  # no count limit: the bound in bytes is what protects the broker's memory
        assert queued_bytes > 0
    else:
        assert queued_messages >= 100_000
    # Minutes of a 2,000 messages/s flood of ~300-byte envelopes, at least.
    assert queued_bytes == 0 or queued_bytes >= 2_000 * 300 * 60 * 5


def test_the_in_flight_window_is_raised() -> None:
    inflight = int(option("max_inflight_messages"))
    assert inflight == 0 or inflight > DEFAULT_MAX_INFLIGHT


def test_oversize_payloads_up_to_2_mib_reach_the_ingest() -> None:
    message_limit = int(option("message_size_limit"))
    packet_limit = int(option("max_packet_size"))
    assert ENVELOPE_MAX_BYTES < message_limit == OVERSIZE_ALLOWANCE_BYTES
    # The packet also carries the topic and properties: it must not cut a payload the message limit allows.
    assert packet_limit > message_limit


def test_compose_mounts_this_file_and_a_volume_for_the_persistence() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    service = compose["services"]["mosquitto"]
    mounts = {target: (source, mode) for source, target, *mode in (entry.split(":") for entry in service["volumes"])}
    source, mode = mounts[CONFIG_IN_CONTAINER]
    assert (ROOT / source).resolve() == MOSQUITTO_CONF
    assert mode == ["ro"]
    data_source, _ = mounts[option("persistence_location").rstrip("/")]
    assert data_source in compose["volumes"], "the persistence file must live on a named volume"
