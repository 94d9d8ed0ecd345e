"""A TCP relay that can cut the line: listen on one port, relay every connection to a target host:port.

Route a client through it (e.g. an edge agent's central broker URL ``mqtt://127.0.0.1:<relay port>``) and call
:meth:`TcpRelay.cut` to simulate a dead uplink: live connections are aborted (TCP RST both ways, nothing flushed)
and the listener is closed, so new connections are refused until :meth:`TcpRelay.restore` listens again on the
same port. The relay runs an asyncio loop in its own thread, like the Modbus simulators; every method is called
from other threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import Self

log = logging.getLogger(__name__)

_START_TIMEOUT_S = 5.0
_CONNECT_TIMEOUT_S = 5.0
_CHUNK = 64 * 1024
_SETTLE_S = 0.05  # when cutting and stopping: long enough for every ready callback of the loop to run


class RelayError(RuntimeError):
    """The relay could not start, listen again, or was used while not running."""


class TcpRelay:
    def __init__(self, target_host: str, target_port: int, *, listen_host: str = "127.0.0.1", listen_port: int = 0):
        self.target_host = target_host
        self.target_port = target_port
        self.listen_host = listen_host
        self._port = listen_port
        self._cut = False
        self._links: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._start_error: BaseException | None = None
        self.relayed = 0  # connections relayed to the target since start
        self.refused_upstream = 0  # connections closed because the target did not answer

    @property
    def port(self) -> int:
        """The port listened on (the kernel's choice for listen_port 0, known after start)."""
        return self._port

    @property
    def is_cut(self) -> bool:
        return self._cut

    @property
    def live_connections(self) -> int:
        return len(self._links) // 2

    # --- lifecycle -------------------------------------------------------------------------------------------

    def start(self) -> Self:
        if self._thread is not None:
            raise RelayError("relay is already running")
        self._ready.clear()
        self._thread = threading.Thread(target=self._run, name=f"tcp-relay-{self.target_port}", daemon=True)
        self._thread.start()
        if not self._ready.wait(_START_TIMEOUT_S) or self._start_error is not None:
            self.stop()
            raise RelayError(f"relay on {self.listen_host}:{self._port} did not start") from self._start_error
        return self

    def stop(self) -> None:
        loop, stopping, thread = self._loop, self._stopping, self._thread
        if loop is not None and stopping is not None and not loop.is_closed():
            loop.call_soon_threadsafe(stopping.set)
        if thread is not None:
            thread.join(_START_TIMEOUT_S)
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    # --- faults ----------------------------------------------------------------------------------------------

    def cut(self) -> None:
        """Abort every live connection and stop listening; new connections are refused."""
        self._call(self._cut_line)
        log.warning("relay %s:%d -> %s:%d cut", self.listen_host, self._port, self.target_host, self.target_port)

    def restore(self) -> None:
        """Listen again on the same port; RelayError if it was taken meanwhile."""
        self._call(self._restore_line)
        log.warning("relay %s:%d -> %s:%d restored", self.listen_host, self._port, self.target_host, self.target_port)

    # --- in the relay's loop ---------------------------------------------------------------------------------

    def _call(self, step: Callable[[], Coroutine[None, None, None]]) -> None:
        loop = self._loop
        if loop is None or self._thread is None:
            raise RelayError("relay is not running")
        asyncio.run_coroutine_threadsafe(step(), loop).result(_START_TIMEOUT_S)

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported to start(); the thread must not die silently
            self._start_error = exc
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        await self._listen()
        self._ready.set()
        await self._stopping.wait()
        await self._cut_line()
        # A connection accepted just before the listener closed gets its transport and handler over the next few
        # loop passes; cancelled half-way it would leave its socket open. Let those run (they see the cut and
        # abort), cancel what still waits, and let the aborted transports close their sockets.
        await asyncio.sleep(_SETTLE_S)
        handlers = list(self._handlers)
        for handler in handlers:
            handler.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)
        await asyncio.sleep(_SETTLE_S)

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._relay, self.listen_host, self._port, reuse_address=True)
        self._port = int(self._server.sockets[0].getsockname()[1])

    async def _cut_line(self) -> None:
        self._cut = True
        server, self._server = self._server, None
        if server is not None:
            # Stop accepting first and let connections accepted a moment ago get their transports: closing the
            # server between the two steps leaks the accepted socket (CPython 3.11, Server._attach asserts).
            loop = asyncio.get_running_loop()
            for listener in server.sockets:
                loop.remove_reader(listener.fileno())
            await asyncio.sleep(_SETTLE_S)
            server.close()
        for writer in list(self._links):
            writer.transport.abort()
        self._links.clear()

    async def _restore_line(self) -> None:
        if self._server is None:
            try:
                await self._listen()
            except OSError as exc:
                raise RelayError(f"relay cannot listen on {self.listen_host}:{self._port} again: {exc}") from exc
        self._cut = False

    async def _relay(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        handler = asyncio.current_task()
        if handler is not None:
            self._handlers.add(handler)
        upstream_writer: asyncio.StreamWriter | None = None
        try:
            if self._cut:  # accepted just before the cut closed the listener
                return
            try:
                upstream_reader, upstream = await asyncio.wait_for(
                    asyncio.open_connection(self.target_host, self.target_port), _CONNECT_TIMEOUT_S
                )
            except (OSError, TimeoutError) as exc:
                self.refused_upstream += 1
                log.warning("relay target %s:%d unreachable: %s", self.target_host, self.target_port, exc)
                return
            upstream_writer = upstream
            if self._cut:  # cut while the target was being reached
                return
            self.relayed += 1
            self._links.update((client_writer, upstream))
            await asyncio.gather(
                _pipe(client_reader, upstream), _pipe(upstream_reader, client_writer), return_exceptions=True
            )
        finally:
            # Every way out, a cancelled handler at shutdown included, closes both sockets.
            for writer in (client_writer, upstream_writer):
                if writer is None:
                    continue
                self._links.discard(writer)
                if self._cut or upstream_writer is None:
                    writer.transport.abort()
                else:
                    writer.close()
            if handler is not None:
                self._handlers.discard(handler)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy until end of stream, then pass the end on (half-close) so the other side sees it too."""
    try:
        while chunk := await reader.read(_CHUNK):
            writer.write(chunk)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        # One side went away: end the other too, so neither keeps half a conversation.
        writer.transport.abort()
    with contextlib.suppress(Exception):
        await writer.drain()
