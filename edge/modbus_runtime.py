"""The agent's Modbus event loop, on a thread of its own, and the way other threads (command workers) use it.

Every Modbus connection (:class:`edge.modbus_reader.PymodbusReader`) belongs to one asyncio loop: its lock, its
client and its backoff clock live there. Pollers run on that loop; a command handler, which the command router
calls on a worker thread, hands its write to the same loop with :meth:`ModbusRuntime.run`, so a poll and a write
to one device never overlap on the wire. Timers that must fire whatever the command path is doing (releasing a
door strike) are tasks on this loop too (:meth:`ModbusRuntime.spawn`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

log = logging.getLogger(__name__)

_T = TypeVar("_T")
_START_TIMEOUT_S = 5.0


class RuntimeStopped(RuntimeError):
    """The Modbus loop is not running (not started yet, or stopped)."""


class ModbusRuntime:
    """An asyncio loop on a daemon thread; :meth:`start` before use, :meth:`stop` to cancel what runs on it."""

    def __init__(self, name: str = "modbus") -> None:
        self._name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None or self._loop.is_closed():
            raise RuntimeStopped(f"{self._name} loop is not running")
        return self._loop

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError(f"{self._name} loop is already running")
        self._ready.clear()
        self._thread = threading.Thread(target=self._run, name=f"{self._name}-loop", daemon=True)
        self._thread.start()
        if not self._ready.wait(_START_TIMEOUT_S):
            raise RuntimeStopped(f"{self._name} loop did not start")

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def run(self, coroutine: Coroutine[Any, Any, _T], timeout_s: float) -> _T:
        """Run ``coroutine`` on the loop from another thread and return its result (or raise its exception).

        TimeoutError after ``timeout_s`` seconds, when the coroutine is cancelled. Never call it from the loop
        itself: it would wait for work the waiting blocks.
        """
        loop = self.loop
        if threading.current_thread() is self._thread:
            coroutine.close()
            raise RuntimeError("ModbusRuntime.run called from the Modbus loop itself; await the coroutine instead")
        future = asyncio.run_coroutine_threadsafe(coroutine, loop)
        try:
            return future.result(timeout_s)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TimeoutError(f"no result within {timeout_s} s") from None

    def spawn(self, coroutine: Coroutine[Any, Any, Any], name: str) -> None:
        """Start ``coroutine`` as a task on the loop (from any thread); it is cancelled by :meth:`stop`.

        Its exception, if any, is logged: nothing waits for it.
        """
        loop = self.loop

        def create() -> None:
            task = loop.create_task(coroutine, name=name)
            self._tasks.add(task)
            task.add_done_callback(self._finished)

        if threading.current_thread() is self._thread:
            create()
        else:
            loop.call_soon_threadsafe(create)

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("%s: task %s failed", self._name, task.get_name(), exc_info=task.exception())

    def stop(self, before_stop: Coroutine[Any, Any, None] | None = None, timeout_s: float = _START_TIMEOUT_S) -> None:
        """Run ``before_stop`` (e.g. releasing door strikes) on the loop, cancel every spawned task, end the loop."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None or loop.is_closed():
            if before_stop is not None:
                before_stop.close()
            return

        async def wind_down() -> None:
            if before_stop is not None:
                try:
                    await asyncio.wait_for(before_stop, timeout_s)
                except Exception:  # stopping goes on: the tasks must still be cancelled
                    log.exception("%s: shutdown step failed", self._name)
            tasks = list(self._tasks)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        try:
            asyncio.run_coroutine_threadsafe(wind_down(), loop).result(timeout_s * 2)
        except (concurrent.futures.TimeoutError, RuntimeError):
            log.warning("%s: loop did not wind down within %s s", self._name, timeout_s * 2)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout_s)
        self._thread = None
