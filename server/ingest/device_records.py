"""What a batch holds besides occupancy readings and rejects: events, command answers, device statuses, the
site queues' events and the edge outboxes' samples.

The ingest collects them while classifying and writes them in the batch's one transaction, after the readings:
an event is stored (idempotently, like a reading), a command result also records the answer on its command, a
status updates the device's health (with a history row when its state changed), a site agent's queue event
updates the centre's copy of that site's queue (server/db/queue_writes.py; displays are woken on COMMIT), and an
outbox sample is stored once per site and ts (server/db/edge_outbox.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import psycopg

from server.db.commands import AnswerOutcome, CommandAnswer, record_answer
from server.db.device_health import StatusChange, StatusUpdate, record_statuses
from server.db.edge_outbox import EdgeOutboxSample, insert_outbox_samples
from server.db.events import StoredEvent, insert_events
from server.db.queue_writes import QueueEventRecord, QueueEventsWritten, write_queue_events
from server.ingest.events import AnsweredCommand

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DeviceRecordsWritten:
    events_inserted: int  # device events and queue events
    events_duplicated: int
    answers: list[tuple[CommandAnswer, AnswerOutcome]]
    changes: list[StatusChange]
    statuses: int
    queue: QueueEventsWritten
    outbox_samples_inserted: int  # new rows; a replayed or retained copy adds none


@dataclass(slots=True)
class DeviceRecords:
    events: list[StoredEvent] = field(default_factory=list)
    answers: list[CommandAnswer] = field(default_factory=list)
    statuses: list[StatusUpdate] = field(default_factory=list)
    queue_events: list[QueueEventRecord] = field(default_factory=list)
    outbox_samples: list[EdgeOutboxSample] = field(default_factory=list)

    def add(
        self, outcome: StoredEvent | AnsweredCommand | StatusUpdate | QueueEventRecord | EdgeOutboxSample
    ) -> StoredEvent | QueueEventRecord | None:
        """Keep one outcome; returns it when it is an edge envelope (for the agent's confirmation)."""
        if isinstance(outcome, StatusUpdate):
            self.statuses.append(outcome)  # a retained status, not an envelope of the agent's outbox
            return None
        if isinstance(outcome, EdgeOutboxSample):
            self.outbox_samples.append(outcome)  # sent around the outbox: nothing to confirm
            return None
        if isinstance(outcome, QueueEventRecord):
            self.queue_events.append(outcome)
            return outcome
        if isinstance(outcome, AnsweredCommand):
            self.answers.append(outcome.answer)
            outcome = outcome.event
        self.events.append(outcome)
        return outcome

    def write(self, connection: psycopg.Connection) -> DeviceRecordsWritten:
        """Write everything inside the caller's transaction, in arrival order per kind."""
        inserted = insert_events(connection, events=self.events) if self.events else 0
        # Answers after their events: an answer must be stored as an event even when its command is unknown.
        answers = [(answer, record_answer(connection, answer=answer)) for answer in self.answers]
        changes = record_statuses(connection, updates=self.statuses) if self.statuses else []
        queue = write_queue_events(connection, events=self.queue_events)
        samples = insert_outbox_samples(connection, samples=self.outbox_samples) if self.outbox_samples else 0
        # Queue events count as events in the ingest's figures (new rows, and replays stored once).
        return DeviceRecordsWritten(
            events_inserted=inserted + queue.inserted,
            events_duplicated=len(self.events) - inserted + queue.duplicated,
            answers=answers,
            changes=changes,
            statuses=len(self.statuses),
            queue=queue,
            outbox_samples_inserted=samples,
        )


def log_written(written: DeviceRecordsWritten) -> None:
    """After COMMIT: say what needs a person's eye (answers to no command we know) and every change of health."""
    for answer, outcome in written.answers:
        if outcome is AnswerOutcome.UNKNOWN_COMMAND:
            log.warning(
                "%s/%s answered command %s, which the server never issued (stored as an event only)",
                answer.site_id,
                answer.device_id,
                answer.command_id,
            )
        elif outcome is AnswerOutcome.OTHER_TARGET:
            log.warning(
                "%s/%s answered command %s (%s), which went to another device or action (stored as an event only)",
                answer.site_id,
                answer.device_id,
                answer.command_id,
                answer.action,
            )
        elif outcome is AnswerOutcome.RECORDED:
            log.info("command %s to %s: %s %s", answer.command_id, answer.device_id, answer.status, answer.detail)
    for change in written.changes:
        log.info(
            "device %s/%s: %s -> %s since %s",
            change.site_id,
            change.device_id,
            change.previous_state or "(first report)",
            change.state,
            change.changed_at.isoformat(),
        )
