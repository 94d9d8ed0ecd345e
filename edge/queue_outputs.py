"""What the site queue shows and prints: tickets on the dispensers, calls on the hall's display boards.

Runs on two worker threads of its own (one for the dispensers, one for the boards), so that the MQTT thread that
took a button or a key never waits for a printer or a board, and a printer never delays a call on the boards (a
dispenser answers within 2 s, a Modbus board within its poll timeout). Boards are coalesced: only the newest picture
of the hall is written, however many calls came while the last write was under way, since an older picture is of no
use to anyone. A print is never coalesced: each ticket is printed once.

The boards of the queue are the display boards (``mqtt-display-board``, ``ditel-led-board``) in a service hall or
waiting area of the site; boards at the doors of bookable rooms are the room panels of the release rules. An MQTT
board's picture is published RETAINED by its adapter (a board that reconnects shows the current call at once); a
Ditel LED board's text is written to its registers through the agent's Modbus loop.
"""

from __future__ import annotations

import functools
import itertools
import logging
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from devices.commands import new_command
from devices.queue_contract import QueueEventData, TicketView, minutes_text, wait_range
from devices.site import Site
from devices.timestamps import utc_now
from edge.command_handler import CommandHandler

log = logging.getLogger(__name__)

QUEUE_BOARD_MODELS = frozenset({"mqtt-display-board", "ditel-led-board"})
QUEUE_BOARD_SPACES = frozenset({"service-hall", "waiting-area"})
HEADLINE_CHARS = 20  # devices.commands.DisplayArgs.text
LINE_CHARS = 40
LAST_CALLS_SHOWN = 8


@dataclass(frozen=True, slots=True)
class BoardPicture:
    text: str
    lines: tuple[str, ...]


def queue_boards(site: Site) -> tuple[str, ...]:
    """The ids of the site's boards that show the queue."""
    return tuple(
        device.id
        for device in site.devices
        if device.model in QUEUE_BOARD_MODELS and site.space(device.space).kind in QUEUE_BOARD_SPACES
    )


def call_headline(number: str, window_name: str) -> str:
    """``B017 -> Window 2``, cut to what a 20-character LED board holds."""
    return _ascii(f"{number} -> {window_name}")[:HEADLINE_CHARS]


def _ascii(text: str) -> str:
    return "".join(char if " " <= char <= "~" else "?" for char in text)


class QueueOutputs:
    """Prints tickets and updates the queue's boards, on a worker thread; see the module doc."""

    def __init__(
        self,
        site: Site,
        handlers: Mapping[str, CommandHandler],
        *,
        wall_clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.site = site
        self._handlers = handlers
        self._wall_clock = wall_clock
        self._boards = tuple(board for board in queue_boards(site) if board in handlers)
        self._calls: deque[str] = deque(maxlen=LAST_CALLS_SHOWN)  # newest first
        self._prints: deque[tuple[str, TicketView, str]] = deque()
        self._picture: BoardPicture | None = None
        self._shown: dict[str, BoardPicture] = {}
        self._wake = threading.Condition()
        self._stopping = False
        self._sequence = itertools.count(1)  # command ids of both workers: next() on a count is atomic in CPython
        self.failures = 0
        # Two workers: a printer waiting for its answer never holds up the hall's boards, nor a board a ticket.
        self._threads = (
            threading.Thread(target=self._print_forever, name=f"queue-prints-{site.id}", daemon=True),
            threading.Thread(target=self._show_forever, name=f"queue-boards-{site.id}", daemon=True),
        )

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        with self._wake:
            self._stopping = True
            self._wake.notify_all()
        for thread in self._threads:
            if thread.is_alive():
                thread.join(timeout_s)

    def after(self, events: Sequence[QueueEventData]) -> None:
        """Take the events of one committed queue change: print what was issued at a dispenser, show the calls."""
        with self._wake:
            for event in events:
                ticket = event.ticket
                dispenser = None if ticket is None else ticket.device
                if event.kind == "issued" and ticket is not None and dispenser in self._handlers and dispenser:
                    self._prints.append((dispenser, ticket, self._estimate_text(event, ticket)))
                if event.kind in ("called", "recalled") and ticket is not None and ticket.window is not None:
                    line = f"{ticket.number}  {self._window_name(ticket.window)}"
                    if line in self._calls:
                        self._calls.remove(line)
                    self._calls.appendleft(_ascii(line)[:LINE_CHARS])
                    headline = call_headline(ticket.number, self._window_name(ticket.window))
                    self._picture = BoardPicture(headline, tuple(self._calls))
            self._wake.notify_all()

    def _window_name(self, window_id: str) -> str:
        try:
            name = self.site.window(window_id).name
        except KeyError:
            return window_id
        return name if len(name) <= 12 else window_id  # "Window 4 (one-counter ...)" does not fit a board row

    @staticmethod
    def _estimate_text(event: QueueEventData, ticket: TicketView) -> str:
        service = next((view for view in event.services if view.id == ticket.service), None)
        if ticket.shown_wait_lo_s is not None and ticket.shown_wait_hi_s is not None:
            return minutes_text((ticket.shown_wait_lo_s, ticket.shown_wait_hi_s))
        return minutes_text(None if service is None else wait_range(ticket.waiting_ahead, service))

    # --- the worker ------------------------------------------------------------------------------------------

    def _print_forever(self) -> None:
        while True:
            with self._wake:
                while not self._stopping and not self._prints:
                    self._wake.wait()
                if self._stopping:
                    return
                job = self._prints.popleft()
            self._guarded(functools.partial(self._print, *job))

    def _show_forever(self) -> None:
        while True:
            with self._wake:
                while not self._stopping and self._picture_pending() is None:
                    self._wake.wait()
                if self._stopping:
                    return
                picture = self._picture
            if picture is not None:
                self._guarded(functools.partial(self._show, picture))

    def _guarded(self, output: Callable[[], None]) -> None:
        try:
            output()
        except Exception:  # an output must never stop the queue
            self.failures += 1
            log.exception("queue output failed")

    def _picture_pending(self) -> BoardPicture | None:
        picture = self._picture
        if picture is None or all(self._shown.get(board) == picture for board in self._boards):
            return None
        return picture

    def _next_id(self, what: str) -> str:
        return f"q-{what}-{self.site.id}-{self._wall_clock().strftime('%H%M%S%f')}-{next(self._sequence)}"[:64]

    def _print(self, device_id: str, ticket: TicketView, estimate: str) -> None:
        args = {
            "ticket": ticket.number,
            "service": ticket.service,
            "issued_at": ticket.issued_at,
            "waiting_ahead": ticket.waiting_ahead,
            "estimate": estimate,
        }
        command = new_command(self._next_id("print"), "print", args, now=self._wall_clock())
        outcome = self._handlers[device_id].execute(command)
        if outcome.status != "done":
            self.failures += 1
            log.warning("%s: ticket %s not printed: %s", device_id, ticket.number, outcome.detail)

    def _show(self, picture: BoardPicture) -> None:
        for board in self._boards:
            if self._shown.get(board) == picture:
                continue
            args: dict[str, object] = {"text": picture.text}
            if self.site.device(board).model == "mqtt-display-board":
                args["lines"] = list(picture.lines)
            command = new_command(self._next_id("show"), "display", args, now=self._wall_clock())
            outcome = self._handlers[board].execute(command)
            # Remembered even when the board did not answer: its retained state shows it when it comes back.
            self._shown[board] = picture
            if outcome.status != "done":
                log.info("%s: %s (%s)", board, outcome.detail, picture.text)
