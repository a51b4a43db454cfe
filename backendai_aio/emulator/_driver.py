"""The child side of the emulator's Python kernel.

The parent (:mod:`backendai_aio.emulator._kernel`) runs this file as the main program of
one child process per compute session (by file path through :func:`runpy.run_path`; ``python
-m backendai_aio.emulator._driver`` works too), then talks to it with JSON lines: commands
arrive on the child's original stdin, events leave on its original stdout.

At startup both protocol descriptors are moved to private, close-on-exec descriptors, and
descriptors 0/1/2 are replaced by ``/dev/null`` and two pipes read by this process. That
way, whatever user code (or a program it starts with ``os.system``) does to descriptors
0/1/2 shows up as console output and can never corrupt the protocol.

Parent to child::

    {"t": "exec", "rid": 1, "code": "..."}          run code in the persistent namespace
    {"t": "input", "seq": 1, "data": "..."}          answer a pending input() call
    {"t": "complete", "id": 1, "text": "pri"}        ask for completions

Child to parent::

    {"t": "ready", "pid": 123}                       the driver is ready for commands
    {"t": "out", "k": "stdout", "d": "..."}          console output (stdout or stderr)
    {"t": "started", "rid": 1}                       the run started (SIGINT now works)
    {"t": "input", "rid": 1, "seq": 1, "password": false}   the run waits for a line
    {"t": "done", "rid": 1, "exit": 0}               the run ended with this exit code
    {"t": "completions", "id": 1, "items": [...]}    answer to "complete"

Closing the child's stdin ends the child. Only the standard library is used here, so the
module also works when started by file path.
"""

from __future__ import annotations

import builtins
import codecs
import contextlib
import getpass
import io
import json
import linecache
import math
import os
import queue
import rlcompleter
import select
import signal
import sys
import threading
import time
import traceback
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

__all__ = ["main"]

# Small enough that a JSON-escaped chunk stays far below the parent's line limit.
_OUTPUT_CHUNK = 8192
_READ_SIZE = 65536
# How long Python-level writes may wait to be sent together; far below any flush window.
_BATCH_DELAY = 0.02
_MAX_COMPLETIONS = 500
_THIS_FILE = __file__


class _Interrupts:
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


class _Channel:
    """Writes protocol messages (JSON lines) to the parent, from any thread."""

    def __init__(self, fd: int, interrupts: _Interrupts) -> None:
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


class _Output:
    """Serialises console output: Python-level writes and bytes written to fds 1 and 2.

    Python-level writes are batched for a moment (``print`` in a loop would otherwise cost
    a protocol message per call). Before one is accepted, bytes already waiting in the fd
    pipes are forwarded first, so the output of a finished ``os.system(...)`` call keeps
    its place relative to the ``print`` calls around it.
    """

    def __init__(self, channel: _Channel, interrupts: _Interrupts, sources: dict[int, str]):
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


class _ConsoleBinary(io.RawIOBase):
    """``sys.stdout.buffer`` of the console: bytes are decoded as UTF-8 and forwarded."""

    def __init__(self, output: _Output, kind: str) -> None:
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


class _ConsoleStream(io.TextIOBase):
    """``sys.stdout`` / ``sys.stderr`` of the child: every write goes to the parent."""

    encoding = "utf-8"
    errors = "strict"

    def __init__(self, output: _Output, kind: str, fd: int) -> None:
        super().__init__()
        self._output = output
        self._kind = kind
        self._fd = fd
        self.buffer = _ConsoleBinary(output, kind)

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


class _ConsoleInput(io.TextIOBase):
    """``sys.stdin`` of the child: each line read is requested from the client."""

    encoding = "utf-8"
    errors = "strict"

    def __init__(self, driver: _Driver) -> None:
        super().__init__()
        self._driver = driver

    def readable(self) -> bool:
        """Return True: this stream only reads."""
        return True

    # typeshed types IOBase.readline as returning bytes; TextIOBase ignores that too.
    def readline(self, size: int | None = -1, /) -> str:  # type: ignore[override]
        """Ask the client for one line (with its trailing newline)."""
        return self._driver.request_input(password=False)

    def read(self, size: int | None = -1, /) -> str:
        """Ask the client for one line; a run cannot read its input up to EOF."""
        return self.readline()

    def fileno(self) -> int:
        """Return 0 (``/dev/null``): child programs get no interactive input."""
        return 0

    def isatty(self) -> bool:
        """Return False: there is no terminal."""
        return False

    def close(self) -> None:
        """Do nothing: the console outlives user code that closes it."""


class _Driver:
    """Runs user code in one persistent ``__main__`` namespace, one command at a time."""

    def __init__(self, *, control_fd: int, events_fd: int, out_fd: int, err_fd: int) -> None:
        self._control_fd = control_fd
        self._interrupts = _Interrupts()
        self._channel = _Channel(events_fd, self._interrupts)
        self._output = _Output(
            self._channel, self._interrupts, {out_fd: "stdout", err_fd: "stderr"}
        )
        self._stdout = _ConsoleStream(self._output, "stdout", 1)
        self._stderr = _ConsoleStream(self._output, "stderr", 2)
        self._stdin = _ConsoleInput(self)
        self._commands: queue.Queue[dict[str, Any]] = queue.Queue()
        self._inputs: queue.Queue[dict[str, Any]] = queue.Queue()
        self._rid: int | None = None
        self._input_seq = 0
        self._counter = 0
        module = types.ModuleType("__main__")
        module.__dict__["__builtins__"] = builtins
        # Replacing sys.modules["__main__"] lets pickle and friends find user-defined names.
        sys.modules["__main__"] = module
        self._namespace: dict[str, Any] = module.__dict__

    def serve(self) -> None:
        """Start the helper threads, announce readiness and run commands forever."""
        self._install_console()
        self._interrupts.install()
        getpass.getpass = self._getpass
        threading.Thread(target=self._output.pump_forever, name="output", daemon=True).start()
        threading.Thread(target=self._read_control, name="control", daemon=True).start()
        self._channel.send({"t": "ready", "pid": os.getpid()})
        while True:
            try:
                command = self._commands.get()
            except KeyboardInterrupt:
                # User code may have installed a handler that raises while we are idle.
                continue
            self._run(int(command["rid"]), str(command["code"]))

    def request_input(self, *, password: bool) -> str:
        """Block until the client answers with a line; return it with a newline."""
        rid = self._rid
        if rid is None:
            # No run is active (e.g. a background thread): behave like an exhausted stdin.
            return ""
        self._input_seq += 1
        seq = self._input_seq
        # The prompt is still batched; it must reach the parent before the request.
        self._output.drain()
        self._channel.send({"t": "input", "rid": rid, "seq": seq, "password": password})
        while True:
            answer = self._inputs.get()
            # Answers to an earlier, interrupted request must not leak into this one.
            if answer.get("seq") == seq:
                return str(answer.get("data", "")) + "\n"

    def _getpass(self, prompt: str = "Password: ", stream: Any = None) -> str:
        self._stdout.write(prompt)
        return self.request_input(password=True).removesuffix("\n")

    def _install_console(self) -> None:
        sys.stdin = self._stdin
        sys.stdout = self._stdout
        sys.stderr = self._stderr

    def _run(self, rid: int, code: str) -> None:
        self._counter += 1
        filename = f"<input-{self._counter}>"
        # Registering the source lets tracebacks show the offending lines.
        linecache.cache[filename] = (len(code), None, code.splitlines(keepends=True), filename)
        self._install_console()
        self._rid = rid
        exit_code = 0
        try:
            try:
                self._interrupts.arm()
                # Tells the parent that SIGINT now interrupts this run.
                self._channel.send({"t": "started", "rid": rid})
                compiled = compile(code, filename, "exec", dont_inherit=True)
                exec(compiled, self._namespace)
            finally:
                self._interrupts.disarm()
                self._interrupts.install()
        except SystemExit as exc:
            exit_code = self._exit_code_of(exc)
        except BaseException as exc:
            sys.last_type, sys.last_value, sys.last_traceback = type(exc), exc, exc.__traceback__
            self._print_exception(exc)
            exit_code = 1
        self._flush_user_streams()
        self._rid = None
        self._output.drain()
        self._channel.send({"t": "done", "rid": rid, "exit": exit_code})

    def _exit_code_of(self, exc: SystemExit) -> int:
        code = exc.code
        if code is None:
            return 0
        if isinstance(code, int):
            return code
        self._stderr.write(f"{code}\n")
        return 1

    def _print_exception(self, exc: BaseException) -> None:
        report = traceback.TracebackException(type(exc), exc, exc.__traceback__, compact=True)
        _strip_driver_frames(report)
        for chunk in report.format():
            self._stderr.write(chunk)

    def _flush_user_streams(self) -> None:
        # User code may have swapped in its own (buffered) streams; flush what they hold.
        for stream in (sys.stdout, sys.stderr):
            if stream is not self._stdout and stream is not self._stderr:
                # A broken user stream must not stop the driver.
                with contextlib.suppress(Exception):
                    stream.flush()

    def _read_control(self) -> None:
        with os.fdopen(self._control_fd, "rb") as control:
            for line in control:
                message = json.loads(line)
                kind = message.get("t")
                if kind == "exec":
                    self._commands.put(message)
                elif kind == "input":
                    self._inputs.put(message)
                elif kind == "complete":
                    # Completion may evaluate user objects, which might block: keep it off
                    # the control thread so input answers always get through.
                    threading.Thread(
                        target=self._complete, args=(message,), name="complete", daemon=True
                    ).start()
        # The parent closed our stdin (or died): nothing more can be asked of us.
        os._exit(0)

    def _complete(self, message: dict[str, Any]) -> None:
        text = str(message.get("text", ""))
        items: list[str] = []
        if text.strip():
            completer = rlcompleter.Completer(self._namespace)
            # User objects may fail to answer (or the namespace may change under our
            # feet while the main thread runs): partial results are fine then.
            with contextlib.suppress(Exception):
                for state in range(_MAX_COMPLETIONS):
                    item = completer.complete(text, state)
                    if item is None:
                        break
                    items.append(item)
        self._channel.send(
            {"t": "completions", "id": message.get("id"), "items": list(dict.fromkeys(items))}
        )


def _strip_driver_frames(report: traceback.TracebackException) -> None:
    """Drop the driver's own frames from *report* and the exceptions chained to it."""
    seen: set[int] = set()
    pending = [report]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        current.stack = traceback.StackSummary.from_list(
            [frame for frame in current.stack if frame.filename != _THIS_FILE]
        )
        pending.extend(
            chained
            for chained in (current.__cause__, current.__context__, *(current.exceptions or ()))
            if chained is not None
        )


def main() -> None:
    """Set up the descriptors and serve the parent until it closes our stdin."""
    # os.dup() makes close-on-exec copies: programs started by user code never see them.
    control_fd = os.dup(0)
    events_fd = os.dup(1)
    diagnostics_fd = os.dup(2)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    out_fd, out_write = os.pipe()
    err_fd, err_write = os.pipe()
    os.dup2(out_write, 1)
    os.dup2(err_write, 2)
    os.close(out_write)
    os.close(err_write)
    os.set_blocking(out_fd, False)
    os.set_blocking(err_fd, False)
    sys.argv = [""]
    try:
        driver = _Driver(control_fd=control_fd, events_fd=events_fd, out_fd=out_fd, err_fd=err_fd)
        driver.serve()
    except BaseException:
        # fd 2 is a console pipe now; the parent logs what arrives on its original stderr.
        with os.fdopen(diagnostics_fd, "w") as diagnostics:
            traceback.print_exc(file=diagnostics)
        os._exit(1)


if __name__ == "__main__":
    main()
