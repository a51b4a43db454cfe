"""The console side of the emulator's kernel driver (`_driver`): output, signals, protocol.

Like the driver, it uses only the standard library: when the driver runs by file path, it
loads this file by path too, so the child process never imports the package.
"""

from __future__ import annotations

import codecs
import contextlib
import io
import json
import math
import os
import select
import signal
import threading
import time
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

__all__ = ["CONSOLE_FILE", "Channel", "ConsoleBinary", "ConsoleStream", "Interrupts", "Output"]

#: This file, whose frames tracebacks of user code leave out.
CONSOLE_FILE = __file__


# Small enough that a JSON-escaped chunk stays far below the parent's line limit.
_OUTPUT_CHUNK = 8192
_READ_SIZE = 65536
# How long Python-level writes may wait to be sent together; far below any flush window.
_BATCH_DELAY = 0.02


class Interrupts:
    """Turns SIGINT into KeyboardInterrupt, but only while user code runs.

    While the driver itself works (idle, or writing a protocol line on behalf of user
    code) an interrupt must not tear a half-written message, so it is deferred until the
    critical section ends (``with interrupts:``) or dropped when no run is active.
    """

    def __init__(self) -> None:
        self._main_thread = threading.get_ident()
        self._armed = False
        self._pending = False
        self._depth = 0

    def install(self) -> None:
        """(Re)install the SIGINT handler; user code may have replaced it."""
        signal.signal(signal.SIGINT, self._handle)

    def arm(self) -> None:
        """Start turning SIGINT into KeyboardInterrupt (a run starts)."""
        self._pending = False
        self._armed = True

    def disarm(self) -> None:
        """Stop turning SIGINT into KeyboardInterrupt (the run ended)."""
        self._armed = False
        self._pending = False

    def _handle(self, signum: int, frame: types.FrameType | None) -> None:
        if not self._armed:
            return
        if self._depth:
            self._pending = True
            return
        raise KeyboardInterrupt

    def __enter__(self) -> None:
        # Signal handlers only ever run on the main thread, so only it needs protection.
        if threading.get_ident() == self._main_thread:
            self._depth += 1

    def __exit__(self, *exc_info: object) -> None:
        if threading.get_ident() != self._main_thread:
            return
        self._depth -= 1
        if self._depth == 0 and self._pending and self._armed:
            self._pending = False
            raise KeyboardInterrupt


class Channel:
    """Writes protocol messages (JSON lines) to the parent, from any thread."""

    def __init__(self, fd: int, interrupts: Interrupts) -> None:
        self._fd = fd
        self._interrupts = interrupts
        self._lock = threading.RLock()

    def send(self, message: dict[str, Any]) -> None:
        """Write one message; exit the process if the parent has gone away."""
        # json.dumps escapes non-ASCII, so lone surrogates in user strings cannot fail here.
        data = (json.dumps(message) + "\n").encode("ascii")
        with self._interrupts, self._lock:
            view = memoryview(data)
            while view:
                try:
                    written = os.write(self._fd, view)
                except BrokenPipeError:
                    os._exit(0)
                view = view[written:]


class Output:
    """Serialises console output: Python-level writes and bytes written to fds 1 and 2.

    Python-level writes are batched for a moment (``print`` in a loop would otherwise cost
    a protocol message per call). Before one is accepted, bytes already waiting in the fd
    pipes are forwarded first, so the output of a finished ``os.system(...)`` call keeps
    its place relative to the ``print`` calls around it.
    """

    def __init__(self, channel: Channel, interrupts: Interrupts, sources: dict[int, str]):
        self._channel = channel
        self._interrupts = interrupts
        self._sources = sources
        self._decoders = {
            fd: codecs.getincrementaldecoder("utf-8")(errors="replace") for fd in sources
        }
        self._lock = threading.RLock()
        self._owner_pid = os.getpid()
        self._pending: list[str] = []
        self._pending_kind = ""
        self._pending_size = 0
        # A poll object is not safe to share between threads: writers use this one (under
        # the lock), the pump thread has its own.
        self._probe = select.poll()
        for fd in sources:
            self._probe.register(fd, select.POLLIN)
        # Wakes the pump thread up when a batch starts, so it can flush it in time.
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_read, False)
        os.set_blocking(self._wake_write, False)

    def write(self, kind: str, text: str) -> None:
        """Forward *text* as console output of *kind* ("stdout" or "stderr")."""
        if not text:
            return
        if os.getpid() != self._owner_pid:
            # A fork()ed child (multiprocessing, os.fork) must not share the protocol fd;
            # its writes go through fd 1/2, which the driver process still reads.
            self._write_fd(1 if kind == "stdout" else 2, text)
            return
        with self._interrupts, self._lock:
            if self._probe.poll(0):
                self._drain_locked()
            if kind != self._pending_kind:
                self._flush_locked()
            if not self._pending:
                with contextlib.suppress(BlockingIOError):
                    os.write(self._wake_write, b"\0")
            self._pending.append(text)
            self._pending_kind = kind
            self._pending_size += len(text)
            if self._pending_size >= _OUTPUT_CHUNK:
                self._flush_locked()

    def drain(self) -> None:
        """Forward everything written so far, batched or waiting in the fd pipes."""
        with self._interrupts, self._lock:
            self._drain_locked()
            self._flush_locked()

    def pump_forever(self) -> None:
        """Forward fd-level output as it comes and flush batches (runs on a daemon thread)."""
        poller = select.poll()
        for fd in (*self._sources, self._wake_read):
            poller.register(fd, select.POLLIN)
        deadline: float | None = None
        while True:
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            events = poller.poll(None if timeout is None else math.ceil(timeout * 1000))
            with contextlib.suppress(BlockingIOError):
                os.read(self._wake_read, 4096)
            with self._lock:
                self._drain_locked()
                for fd, _ in events:
                    if fd != self._wake_read and fd not in self._sources:
                        # At EOF (user code closed fd 1 or 2): it would poll ready forever.
                        poller.unregister(fd)
                now = time.monotonic()
                if not self._pending:
                    deadline = None
                elif deadline is None:
                    deadline = now + _BATCH_DELAY
                elif now >= deadline:
                    self._flush_locked()
                    deadline = None

    def _drain_locked(self) -> None:
        for fd, kind in list(self._sources.items()):
            while True:
                try:
                    data = os.read(fd, _READ_SIZE)
                except BlockingIOError:
                    break
                if not data:
                    # Every writer is gone: stop watching this pipe.
                    del self._sources[fd]
                    self._probe.unregister(fd)
                    break
                text = self._decoders[fd].decode(data)
                if text:
                    # Batched Python-level writes happened before these bytes were read.
                    self._flush_locked()
                    self._send(kind, text)

    def _flush_locked(self) -> None:
        if self._pending:
            text = "".join(self._pending)
            self._pending.clear()
            self._pending_size = 0
            self._send(self._pending_kind, text)

    def _send(self, kind: str, text: str) -> None:
        for start in range(0, len(text), _OUTPUT_CHUNK):
            self._channel.send({"t": "out", "k": kind, "d": text[start : start + _OUTPUT_CHUNK]})

    @staticmethod
    def _write_fd(fd: int, text: str) -> None:
        view = memoryview(text.encode("utf-8", "backslashreplace"))
        while view:
            view = view[os.write(fd, view) :]


class ConsoleBinary(io.RawIOBase):
    """``sys.stdout.buffer`` of the console: bytes are decoded as UTF-8 and forwarded."""

    def __init__(self, output: Output, kind: str) -> None:
        super().__init__()
        self._output = output
        self._kind = kind
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def writable(self) -> bool:
        """Return True: this stream only writes."""
        return True

    def write(self, b: ReadableBuffer, /) -> int:
        """Forward *b* (decoded as UTF-8) and return its length."""
        data = bytes(b)
        self._output.write(self._kind, self._decoder.decode(data))
        return len(data)

    def close(self) -> None:
        """Do nothing: the console outlives user code that closes it."""


class ConsoleStream(io.TextIOBase):
    """``sys.stdout`` / ``sys.stderr`` of the child: every write goes to the parent."""

    encoding = "utf-8"
    errors = "strict"

    def __init__(self, output: Output, kind: str, fd: int) -> None:
        super().__init__()
        self._output = output
        self._kind = kind
        self._fd = fd
        self.buffer = ConsoleBinary(output, kind)

    def writable(self) -> bool:
        """Return True: this stream only writes."""
        return True

    def write(self, s: str, /) -> int:
        """Forward *s* and return its length."""
        if not isinstance(s, str):
            raise TypeError(f"write() argument must be str, not {type(s).__name__}")
        self._output.write(self._kind, s)
        return len(s)

    def fileno(self) -> int:
        """Return 1 or 2, so child programs given this stream write into the console."""
        return self._fd

    def isatty(self) -> bool:
        """Return False: there is no terminal."""
        return False

    def close(self) -> None:
        """Do nothing: the console outlives user code that closes it."""
