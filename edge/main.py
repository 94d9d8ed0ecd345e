"""Run one site's edge agent until told to stop."""

from __future__ import annotations

import logging
import threading

from devices.broker import parse_broker_url
from devices.site import Belt
from edge.agent import EdgeAgent
from edge.sequence import SequenceStore
from edge.settings import EdgeSettings

log = logging.getLogger(__name__)


def run_edge(settings: EdgeSettings, belt: Belt, *, stop: threading.Event) -> int:
    try:
        site = belt.site(settings.site_id)
    except KeyError as exc:
        log.error("%s", exc)
        return 2
    sequences = SequenceStore(settings.state_dir / f"{site.id}-sequences.sqlite3")
    agent = EdgeAgent(
        site=site,
        site_broker=parse_broker_url(settings.site_broker_url),
        central_broker=parse_broker_url(settings.central_broker_url),
        sequences=sequences,
        topic_root=settings.topic_root,
    )
    agent.start()
    try:
        stop.wait()
    finally:
        agent.stop()
        sequences.close()
        log.info("edge agent for %s stopped: %d forwarded, rejected %s", site.id, agent.forwarded, dict(agent.rejected))
    return 0
