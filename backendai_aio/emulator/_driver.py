"""The child side of the emulator's Python kernel.

The parent ([`_kernel`][backendai_aio.emulator._kernel]) runs this file as the main program of
one child process per compute session (by file path through `runpy.run_path`; ``python
-m backendai_aio.emulator._driver`` works too), then talks to it with JSON lines: commands
arrive on the child's original stdin, events leave on its original stdout.

At startup both protocol descriptors are moved to private, close-on-exec descriptors, and
descriptors 0/1/2 are replaced by ``/dev/null`` and two pipes read by this process. That
way, whatever user code (or a program it starts with ``os.system``) does to descriptors
0/1/2 shows up as console output and can never corrupt the protocol.

The JSON-lines protocol is described in docs/emulator.md. Only the standard library is
used here, so the module also works when started by file path.
"""

from __future__ import annotations

import builtins
import contextlib
import getpass
import io
import json
import linecache
import os
import queue
import rlcompleter
import sys
import threading
import traceback
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    pass

if TYPE_CHECKING or __package__:
    from ._driver_console import (
        CONSOLE_FILE,
        Channel,
        ConsoleBinary,
        ConsoleStream,
        Interrupts,
        Output,
    )
else:
    # Run by file path (as the kernel starts it), the driver is no module of the package: its
    # sibling is loaded from its file too, under a name no module of user code takes.
    import importlib.util

    _spec = importlib.util.spec_from_file_location(
        "_backendai_driver_console",
        os.path.join(os.path.dirname(os.path.abspath(__file__)), "_driver_console.py"),
    )
    assert _spec is not None and _spec.loader is not None
    _console = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(_console)
    CONSOLE_FILE = _console.CONSOLE_FILE
    Channel = _console.Channel
    ConsoleBinary = _console.ConsoleBinary
    ConsoleStream = _console.ConsoleStream
    Interrupts = _console.Interrupts
    Output = _console.Output
    del _spec, _console

__all__ = ["main"]


_MAX_COMPLETIONS = 500
# The driver's own files, whose frames tracebacks of user code leave out.
_DRIVER_FILES = frozenset({__file__, CONSOLE_FILE})


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
        self._interrupts = Interrupts()
        self._channel = Channel(events_fd, self._interrupts)
        self._output = Output(self._channel, self._interrupts, {out_fd: "stdout", err_fd: "stderr"})
        self._stdout = ConsoleStream(self._output, "stdout", 1)
        self._stderr = ConsoleStream(self._output, "stderr", 2)
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
            [frame for frame in current.stack if frame.filename not in _DRIVER_FILES]
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
