"""Topic layout ``<root>/v1/<site>/<device_id>/<channel>[/<name>]``: building, parsing, refusing."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devices.errors import PayloadRejected, RejectReason
from devices.topics import (
    AGENT_DEVICE_ID,
    Channel,
    DeviceTopic,
    agent_status_topic,
    channel_subscription,
    command_result_topic,
    device_topic,
    event_subscription,
    parse_device_topic,
)

BUILD_CASES = [
    pytest.param(
        ("jiangning", "vs121-hall", Channel.STATUS, None), {}, "sc/v1/jiangning/vs121-hall/status", id="status"
    ),
    pytest.param(
        ("jiangning", "vs121-hall", Channel.STATE, "occupancy"),
        {},
        "sc/v1/jiangning/vs121-hall/state/occupancy",
        id="state",
    ),
    pytest.param(
        ("jiangning", "vs121-hall", Channel.EVENT, "occupancy"),
        {},
        "sc/v1/jiangning/vs121-hall/event/occupancy",
        id="event",
    ),
    pytest.param(("s1", "door_3", Channel.CMD, "open"), {}, "sc/v1/s1/door_3/cmd/open", id="command"),
    pytest.param(("s1", "door_3", Channel.CMD, "open/result"), {}, "sc/v1/s1/door_3/cmd/open/result", id="result"),
    pytest.param(("s1", "d1", Channel.STATUS, None), {"root": "bldg"}, "bldg/v1/s1/d1/status", id="other-root"),
    pytest.param(
        ("s1", "d1", Channel.EVENT, "occupancy"),
        {"root": "test-7f3a/sc"},
        "test-7f3a/sc/v1/s1/d1/event/occupancy",
        id="two-level-root",
    ),
    pytest.param(("0", "9", Channel.STATUS, None), {}, "sc/v1/0/9/status", id="one-char-ids"),
    pytest.param(("s", "d" * 63, Channel.STATUS, None), {}, f"sc/v1/s/{'d' * 63}/status", id="63-char-id"),
]


@pytest.mark.parametrize(("args", "kwargs", "expected"), BUILD_CASES)
def test_device_topic_builds_the_documented_layout(
    args: tuple[str, str, Channel, str | None], kwargs: dict[str, Any], expected: str
) -> None:
    assert device_topic(*args, **kwargs) == expected


@pytest.mark.parametrize(("args", "kwargs", "expected"), BUILD_CASES)
def test_parse_device_topic_inverts_device_topic(
    args: tuple[str, str, Channel, str | None], kwargs: dict[str, Any], expected: str
) -> None:
    site_id, device_id, channel, name = args
    root = kwargs.get("root", "sc")
    assert parse_device_topic(expected, root=root) == DeviceTopic(root, site_id, device_id, channel, name)


BAD_ARGUMENTS = [
    pytest.param(("Jiangning", "d1", Channel.STATUS, None), id="uppercase-site"),
    pytest.param(("s1", "VS121", Channel.STATUS, None), id="uppercase-device"),
    pytest.param(("s1", "+", Channel.STATUS, None), id="plus-wildcard"),
    pytest.param(("s1", "#", Channel.STATUS, None), id="hash-wildcard"),
    pytest.param(("s1", "a/b", Channel.STATUS, None), id="slash-in-id"),
    pytest.param(("s1", "", Channel.STATUS, None), id="empty-id"),
    pytest.param(("s1", "-d", Channel.STATUS, None), id="leading-dash"),
    pytest.param(("s1", "d" * 64, Channel.STATUS, None), id="64-char-id"),
    pytest.param(("s1", "$sys", Channel.STATUS, None), id="dollar"),
    pytest.param(("s1", "_queue", Channel.STATUS, None), id="underscore-id-not-the-agent"),
    pytest.param(("s1", "d1", Channel.STATUS, "x"), id="status-with-name"),
    pytest.param(("s1", "d1", Channel.EVENT, None), id="event-without-name"),
    pytest.param(("s1", "d1", Channel.STATE, "a/b"), id="state-two-levels"),
    pytest.param(("s1", "d1", Channel.CMD, "open/done"), id="command-bad-suffix"),
    pytest.param(("s1", "d1", Channel.EVENT, "Occupancy"), id="uppercase-name"),
    pytest.param(("s1", "d1", "telemetry", "x"), id="unknown-channel"),
]


@pytest.mark.parametrize("args", BAD_ARGUMENTS)
def test_device_topic_refuses_unusable_ids_and_names(args: tuple[str, str, Channel, str | None]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the message is free text; the type is the contract
        device_topic(*args)


@pytest.mark.parametrize("root", ["", "SC", "sc/", "/sc", "s+c", "sc/#"])
def test_device_topic_refuses_unusable_roots(root: str) -> None:
    with pytest.raises(ValueError, match="topic root"):
        device_topic("s1", "d1", Channel.STATUS, root=root)


BAD_TOPICS = [
    pytest.param("", id="empty"),
    pytest.param("sc/v2/s1/d1/status", id="other-version"),
    pytest.param("bldg/v1/s1/d1/status", id="other-root"),
    pytest.param("sc/v1/s1/d1", id="no-channel"),
    pytest.param("sc/v1/s1", id="no-device"),
    pytest.param("sc/v1/s1/d1/telemetry", id="unknown-channel"),
    pytest.param("sc/v1/s1/d1/status/extra", id="status-with-name"),
    pytest.param("sc/v1/s1/d1/event", id="event-without-name"),
    pytest.param("sc/v1/s1/d1/event/a/b", id="event-two-levels"),
    pytest.param("sc/v1/s1/d1/cmd/open/ack", id="command-bad-suffix"),
    pytest.param("sc/v1/s1/d1/event/", id="trailing-slash"),
    pytest.param("sc/v1/s1//status", id="empty-device"),
    pytest.param("sc/v1/S1/d1/status", id="uppercase-site"),
    pytest.param("sc/v1/s1/+/status", id="wildcard-device"),
    pytest.param("sc/v1/s1/_other/status", id="underscore-device-not-agent"),
    pytest.param("$SYS/broker/uptime", id="broker-internal"),
    pytest.param("sc/v1/s1/d1/state/occupancy\x00", id="nul"),
]


@pytest.mark.parametrize("topic", BAD_TOPICS)
def test_parse_device_topic_rejects_topics_outside_the_layout(topic: str) -> None:
    with pytest.raises(PayloadRejected) as caught:
        parse_device_topic(topic)
    assert caught.value.reason is RejectReason.BAD_TOPIC
    assert str(caught.value).startswith("bad_topic: ")


def test_agent_status_topic_uses_the_reserved_id_and_parses_back() -> None:
    topic = agent_status_topic("jiangning")
    assert topic == "sc/v1/jiangning/_agent/status"
    parsed = parse_device_topic(topic)
    assert parsed.is_agent
    assert parsed.channel is Channel.STATUS
    assert agent_status_topic("s1", root="test/sc") == "test/sc/v1/s1/_agent/status"


def test_command_result_topic_is_marked_as_a_result() -> None:
    topic = command_result_topic("s1", "door-1", "open")
    assert topic == "sc/v1/s1/door-1/cmd/open/result"
    assert parse_device_topic(topic).is_command_result
    assert not parse_device_topic("sc/v1/s1/door-1/cmd/open").is_command_result
    # An action that happens to be called "result" is a command, not a result.
    assert not parse_device_topic("sc/v1/s1/door-1/cmd/result").is_command_result


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        pytest.param({}, "sc/v1/+/+/event/#", id="all-sites"),
        pytest.param({"site_id": "jiangning"}, "sc/v1/jiangning/+/event/#", id="one-site"),
        pytest.param({"root": "test/sc"}, "test/sc/v1/+/+/event/#", id="other-root"),
    ],
)
def test_event_subscription_covers_every_device_event(kwargs: dict[str, Any], expected: str) -> None:
    assert event_subscription(**kwargs) == expected


def test_channel_subscription_for_status_has_no_name_level() -> None:
    assert channel_subscription(Channel.STATUS) == "sc/v1/+/+/status"
    assert channel_subscription(Channel.CMD, site_id="s1", device_id="door-1") == "sc/v1/s1/door-1/cmd/#"
    with pytest.raises(ValueError, match="site id"):
        event_subscription(site_id="#")


_ids = st.from_regex(r"[a-z0-9][a-z0-9_-]{0,62}", fullmatch=True)


@given(site_id=_ids, device_id=_ids, channel=st.sampled_from(Channel), name=_ids)
def test_any_valid_topic_round_trips(site_id: str, device_id: str, channel: Channel, name: str) -> None:
    topic_name = None if channel is Channel.STATUS else name
    topic = device_topic(site_id, device_id, channel, topic_name)
    assert parse_device_topic(topic) == DeviceTopic("sc", site_id, device_id, channel, topic_name)


@given(st.text(max_size=120))
def test_parse_device_topic_raises_only_bad_topic_on_any_text(topic: str) -> None:
    reason: RejectReason | None = None
    try:
        parsed = parse_device_topic(topic)
    except PayloadRejected as exc:
        reason = exc.reason
    else:
        if not parsed.is_agent:
            assert device_topic(parsed.site_id, parsed.device_id, parsed.channel, parsed.name) == topic
    assert reason in (None, RejectReason.BAD_TOPIC)


def test_the_agent_publishes_its_queue_events_under_its_own_id() -> None:
    topic = device_topic("complex", AGENT_DEVICE_ID, Channel.EVENT, "queue")
    assert topic == "sc/v1/complex/_agent/event/queue"
    assert parse_device_topic(topic).is_agent
