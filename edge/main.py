"""Run one site's edge agent until told to stop."""

from __future__ import annotations

import logging
import threading

from devices.broker import parse_broker_url
from devices.clock_anchor import SimulatedClock
from devices.site import Belt
from edge.agent import EdgeAgent
from edge.outbox import open_site_outbox
from edge.settings import EdgeSettings
from edge.uplink import UplinkTiming

log = logging.getLogger(__name__)


def run_edge(settings: EdgeSettings, belt: Belt, *, stop: threading.Event) -> int:
    try:
        site = belt.site(settings.site_id)
    except KeyError as exc:
        log.error("%s", exc)
        return 2
    outbox = open_site_outbox(
        settings.state_dir, site.id, topic_root=settings.topic_root, max_rows=settings.outbox_max_rows
    )
    agent = EdgeAgent(
        site=site,
        tz=belt.tz,
        state_dir=settings.state_dir,
        site_broker=parse_broker_url(settings.site_broker_url),
        central_broker=parse_broker_url(settings.central_broker_url),
        outbox=outbox,
        queue_clock=None if settings.clock_file is None else SimulatedClock(settings.clock_file).now,
        timing=UplinkTiming(
            window=settings.uplink_window,
            confirm_timeout_s=settings.confirm_timeout_s,
            max_confirm_timeout_s=settings.max_confirm_timeout_s,
        ),
        outbox_report_interval_s=settings.outbox_report_interval_s,
    )
    agent.start()
    try:
        stop.wait()
    finally:
        agent.stop()
        backlog = agent.outbox_stats()
        outbox.close()
        log.info(
            "edge agent for %s stopped: %d accepted, rejected %s, %d envelope(s) left unconfirmed in the outbox",
            site.id,
            agent.accepted,
            dict(agent.rejected),
            backlog.depth,
        )
    return 0
