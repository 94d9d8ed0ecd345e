"""A Ditel LED display on Modbus TCP (devices.catalogue.LED_BOARD): the ``display`` command, and health.

``display {text}`` writes the text, space padded to the board's 20 characters, to holding registers 0-9 with one
FC16 request (the board refuses FC06). ``lines`` are for the MQTT multi-line boards; this one shows one line, so
they are left out and the answer says so. The board sends no telemetry: its polls only feed its health, and
show whether it still shows what we last wrote. A board that lost its text (power cycle: it comes back blank)
gets the last text again at the next good poll, the Modbus counterpart of a retained MQTT display state.
"""

from __future__ import annotations

import logging

from devices.catalogue import LED_BOARD
from devices.commands import Command, DisplayArgs
from devices.registers import RegisterMap
from devices.site import Device
from edge.command_handler import HANDLER_TIMEOUT_S, CommandOutcome
from edge.modbus_poller import PointSnapshot
from edge.modbus_reader import PollError, RegisterClient, write_points
from edge.modbus_runtime import ModbusRuntime

log = logging.getLogger(__name__)

TEXT_CHARACTERS = 20  # registers 0-9, two ASCII characters each (Ditel DN109/NB manual, ch. 24)


class LedBoardAdapter:
    """One LED board; a :class:`edge.command_handler.CommandHandler` for ``display``."""

    register_map: RegisterMap = LED_BOARD
    must_change: tuple[str, ...] = ()

    def __init__(
        self,
        device: Device,
        *,
        client: RegisterClient,
        runtime: ModbusRuntime,
        write_timeout_s: float = HANDLER_TIMEOUT_S / 2,
    ) -> None:
        self.device_id = device.id
        self.unit = 1 if device.unit is None else device.unit
        self._client = client
        self._runtime = runtime
        self._write_timeout_s = write_timeout_s
        self._shown: str | None = None  # the text last written successfully; loop thread only
        self._restoring = False

    @property
    def actions(self) -> frozenset[str]:
        return frozenset({"display"})

    def execute(self, command: Command) -> CommandOutcome:
        """Called on a command worker thread: the write runs on the Modbus loop, behind its polls."""
        args = command.typed_args()
        if not isinstance(args, DisplayArgs):
            return CommandOutcome("rejected", f"{self.device_id} takes no {command.action!r}")
        try:
            self._runtime.run(self._show(args.text), self._write_timeout_s)
        except (PollError, TimeoutError) as exc:
            return CommandOutcome("failed", f"text not shown on board {self.device_id}: {exc}")
        detail = "lines left out: this board shows one line of 20 characters" if args.lines else ""
        return CommandOutcome("done", detail, {"text": args.text})

    async def _show(self, text: str) -> None:
        await write_points(self._client, self.register_map, {"text": text.ljust(TEXT_CHARACTERS)}, self.unit)
        self._shown = text

    def on_snapshot(self, snapshot: PointSnapshot) -> None:
        """Write the last text again if the board no longer shows it (it restarted blank)."""
        shown = self._shown
        if snapshot.quality != "good" or shown is None or self._restoring:
            return
        if snapshot.values.get("text") == shown.rstrip():  # the codec strips the padding on reading
            return
        log.warning(
            "%s: shows %r instead of %r (restarted?): writing it again",
            self.device_id,
            snapshot.values.get("text"),
            shown,
        )
        self._restoring = True
        self._runtime.spawn(self._restore(shown), name=f"restore-{self.device_id}")

    async def _restore(self, text: str) -> None:
        try:
            if self._shown == text:  # no display command replaced it meanwhile
                await self._show(text)
        except PollError as exc:
            log.warning("%s: could not write the text again: %s", self.device_id, exc)
        finally:
            self._restoring = False
