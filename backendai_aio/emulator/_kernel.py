"""A persistent Python kernel for one emulated compute session.

:class:`Kernel` owns one child Python process (see :mod:`._driver`) whose ``__main__``
namespace survives between runs, and answers execution requests the way the Backend.AI
manager does: each request collects output for up to a *flush window* and reports a
status (``finished``, ``continued``, ``waiting-input``, ``exec-timeout``, ...), so long
runs are followed with ``continue`` requests.

Batch runs (``mode="batch"``) run shell commands in the work folder directly from this
process; they do not touch the Python child.

POSIX only: the kernel relies on process groups and signals.

Each child process starts a session of its own (so its own process group), and every process
the session starts carries a marker in its environment: destroying the kernel kills the group
and then, where ``/proc`` lists processes, every process still carrying the marker, so that
programs the code daemonised (``fork``, ``setsid``, closed descriptors) end with it.
:class:`KernelLimits` optionally caps what each of these processes may use.
"""

from __future__ import annotations

import asyncio
import codecs
import collections
import contextlib
import json
import logging
import math
import os
import pathlib
import re
import secrets
import shlex
import signal
import sys
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from . import _driver

__all__ = ["FINAL_STATES", "MARKER_VARIABLE", "Kernel", "KernelBusyError", "KernelLimits"]

log = logging.getLogger(__name__)

# The driver runs by file path through runpy, like ``python -c``: sys.path[0] stays the
# work folder (as in a REPL), and the child never imports this package or its dependencies.
_DRIVER_BOOTSTRAP: Final = (
    f"import runpy; runpy.run_path({str(pathlib.Path(_driver.__file__).resolve())!r}, "
    "run_name='__main__')"
)
# The child splits its output into small chunks; this only guards against a runaway line.
_STREAM_LIMIT: Final = 1 << 22
_READY_TIMEOUT: Final = 30.0
_COMPLETE_TIMEOUT: Final = 5.0
_KILL_GRACE: Final = 2.0
_PIPE_DRAIN_TIMEOUT: Final = 1.0
_MAX_STRAY_CHARS: Final = 1 << 20
# Batch commands start through this: a SIGINT that is ignored here (as in a shell's
# background job) would be ignored by the command too, and a shell cannot undo that.
_SHELL_TRAMPOLINE: Final = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "os.execv('/bin/sh', ['/bin/sh', '-c', sys.argv[1]])"
)
#: The statuses that end a run.
FINAL_STATES: Final = frozenset({"finished", "exec-timeout"})
_PHASE_STATES: Final = frozenset({"clean-finished", "build-finished"})
_TOKEN_RE: Final = re.compile(r"[\w.]*\Z")
_INTERRUPTED_EXIT: Final = 128 + signal.SIGINT
_KILLED_EXIT: Final = 128 + signal.SIGKILL
# Where Linux lists processes and their descriptors (absent elsewhere: nothing is found).
_PROC: Final = pathlib.Path("/proc")
#: The environment variable that marks the processes of one kernel (its value is random).
MARKER_VARIABLE: Final = "BACKENDAI_EMULATOR_KERNEL"
# How often the marked processes are looked for again: one may fork while the others die.
_MARKED_KILL_ROUNDS: Final = 5
# Sets one limit no higher than the hard limit already in force (raising it needs privilege).
_SETRLIMIT_HELPER: Final = (
    "import resource as _r\n"
    "def _lim(kind, value):\n"
    "    hard = _r.getrlimit(kind)[1]\n"
    "    value = value if hard == _r.RLIM_INFINITY else min(value, hard)\n"
    "    _r.setrlimit(kind, (value, value))\n"
)


@dataclass(frozen=True)
class KernelLimits:
    """Resource limits of each process a session runs, set with ``resource.setrlimit``.

    Each is None (no limit) or a positive whole number, and applies to every process of the
    session (the Python child and batch commands, and whatever they start) separately:

    - *memory*: bytes of address space (``RLIMIT_AS``); an allocation past it fails
      (``MemoryError`` in Python).
    - *cpu_time*: seconds of CPU time (``RLIMIT_CPU``, soft and hard alike); a process using
      more is killed (the Python child is then restarted and its state lost).
    - *processes*: ``RLIMIT_NPROC``, which the system counts over every process of the OS user
      running the emulator, not of the session alone (and does not enforce for root).
    """

    memory: int | None = None
    cpu_time: int | None = None
    processes: int | None = None

    def __post_init__(self) -> None:
        for name in ("memory", "cpu_time", "processes"):
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value <= 0
            ):
                raise ValueError(f"{name} must be None or a positive integer, not {value!r}")

    def preamble(self) -> str:
        """Python source that sets these limits in the process running it (empty: none)."""
        pairs = [
            ("RLIMIT_AS", self.memory),
            ("RLIMIT_CPU", self.cpu_time),
            ("RLIMIT_NPROC", self.processes),
        ]
        calls = "".join(f"_lim(_r.{kind}, {value})\n" for kind, value in pairs if value is not None)
        return _SETRLIMIT_HELPER + calls + "del _r, _lim\n" if calls else ""


class KernelBusyError(Exception):
    """A new run was asked while another run is still going."""


def _exit_status(returncode: int) -> int:
    """Map a subprocess return code to a shell-style exit status (signal N -> 128 + N)."""
    return returncode if returncode >= 0 else 128 - returncode


def _killpg(pgid: int, sig: signal.Signals) -> None:
    # The group may already be gone (or only hold zombies); that is fine.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _pipes_of(pid: int) -> frozenset[str]:
    """The pipes process *pid* holds open (``pipe:[inode]``), as far as ``/proc`` tells."""
    found: set[str] = set()
    with contextlib.suppress(OSError):
        for entry in (_PROC / str(pid) / "fd").iterdir():
            with contextlib.suppress(OSError):
                link = os.readlink(entry)
                if link.startswith("pipe:"):
                    found.add(link)
    return frozenset(found)


def _kill_pipe_holders(pipes: frozenset[str]) -> None:
    """SIGKILL every other process that holds one of *pipes* (blocking; best effort)."""
    if not pipes:
        return
    me = os.getpid()
    try:
        entries = [entry.name for entry in _PROC.iterdir() if entry.name.isdigit()]
    except OSError:
        return
    for name in entries:
        pid = int(name)
        if pid != me and _pipes_of(pid) & pipes:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)


def _carries_marker(pid: int, entry: bytes) -> bool:
    try:
        environ = (_PROC / str(pid) / "environ").read_bytes()
    except OSError:
        return False
    return entry in environ.split(b"\0")


def _kill_marked(marker: str) -> int:
    """SIGKILL every process whose environment holds *marker* (blocking; best effort).

    Returns how many processes were signalled. A zombie's environment reads empty, so what
    was killed is not found again.
    """
    entry = f"{MARKER_VARIABLE}={marker}".encode()
    me = os.getpid()
    killed = 0
    for _ in range(_MARKED_KILL_ROUNDS):
        try:
            pids = [int(e.name) for e in _PROC.iterdir() if e.name.isdigit()]
        except OSError:
            return killed
        found = [pid for pid in pids if pid != me and _carries_marker(pid, entry)]
        if not found:
            break
        for pid in found:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
                killed += 1
    return killed


@dataclass(eq=False)
class _Run:
    """State of one run (a query or a batch job), from start to its final report."""

    run_id: str
    mode: str
    rid: int
    # Seconds of execution left before exec-timeout; None when there is no limit.
    budget: float | None
    state: str = "running"
    exit_code: int | None = None
    options: dict[str, Any] | None = None
    console: list[list[str]] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    engine_done: asyncio.Event = field(default_factory=asyncio.Event)
    resume: asyncio.Event = field(default_factory=asyncio.Event)
    collecting: bool = False
    timing_out: bool = False
    # A query's SIGINT must wait until the child has really started the run (it ignores
    # SIGINT while idle); a batch job stops at the next command boundary.
    started: bool = False
    interrupt_requested: bool = False
    input_seq: int = 0
    # The input request already reported as "waiting-input" (0: none).
    reported_input_seq: int = 0
    timer: asyncio.TimerHandle | None = None
    armed_at: float = 0.0
    task: asyncio.Task[None] | None = None
    expire_task: asyncio.Task[None] | None = None
    batch_proc: asyncio.subprocess.Process | None = None

    @property
    def final(self) -> bool:
        """Whether the run has ended (its final status may not be reported yet)."""
        return self.state in FINAL_STATES

    def append(self, kind: str, text: str) -> None:
        """Add console output, merging it with the previous chunk of the same kind."""
        if not text:
            return
        if self.console and self.console[-1][0] == kind:
            self.console[-1][1] += text
        else:
            self.console.append([kind, text])

    @property
    def settled(self) -> bool:
        """Whether there is news to report: the run ended, paused or newly waits for input."""
        if self.state == "waiting-input":
            # Reporting the same input request again at once would make polling clients spin.
            return self.input_seq != self.reported_input_seq
        return self.state != "running"

    def take_console(self) -> list[list[str]]:
        """Return the output gathered since the last report and forget it."""
        console, self.console = self.console, []
        return console


class _Child:
    """One driver process: its pipes, its reader tasks and pending completion requests."""

    def __init__(self, proc: asyncio.subprocess.Process, kernel: Kernel) -> None:
        self.proc = proc
        self.expected_exit = False
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._kernel = kernel
        self._completions: dict[int, asyncio.Future[list[str]]] = {}
        self._next_completion = 0
        self._stderr_tail: collections.deque[str] = collections.deque(maxlen=40)
        # The pipes the driver holds; programs the user code starts inherit them.
        self._pipes: frozenset[str] = frozenset()
        self._reader = asyncio.create_task(self._read_events())
        self._stderr_reader = asyncio.create_task(self._read_stderr())

    @property
    def pid(self) -> int:
        """The driver's process id (also the id of its process group)."""
        return self.proc.pid

    @property
    def diagnostics(self) -> str:
        """The last lines the driver wrote to its original stderr."""
        return "".join(self._stderr_tail).strip()

    async def send(self, message: dict[str, Any]) -> None:
        """Send one command; a dead child is reported by the reader, not here."""
        stdin = self.proc.stdin
        if stdin is None or stdin.is_closing():
            return
        try:
            stdin.write((json.dumps(message) + "\n").encode("ascii"))
            await stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            log.debug("kernel process %d is gone; command dropped", self.pid)

    def signal(self, sig: signal.Signals) -> None:
        """Send *sig* to the driver process only (not to programs it started)."""
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, sig)

    async def complete(self, text: str) -> list[str]:
        """Ask the driver for completions of *text*; give up quietly after a while."""
        self._next_completion += 1
        request_id = self._next_completion
        future: asyncio.Future[list[str]] = asyncio.get_running_loop().create_future()
        self._completions[request_id] = future
        try:
            await self.send({"t": "complete", "id": request_id, "text": text})
            async with asyncio.timeout(_COMPLETE_TIMEOUT):
                return await future
        except TimeoutError:
            log.warning("kernel process %d did not answer a completion request", self.pid)
            return []
        finally:
            self._completions.pop(request_id, None)

    def note_pipes(self) -> None:
        """Remember the pipes the (started) driver holds, to find who inherits them later."""
        self._pipes = _pipes_of(self.proc.pid)

    async def terminate(self) -> None:
        """Kill the driver and everything in its process group, then reap it.

        A process the user code moved out of the group (``os.fork()`` then ``os.setsid()``)
        survives the group's kill and keeps the driver's pipes open: after a short wait such
        processes are killed too (where ``/proc`` tells who holds the pipes), and pipes that
        still stay open are left unread, so that terminating never hangs.
        """
        self.expected_exit = True
        _killpg(self.proc.pid, signal.SIGKILL)
        if self.proc.stdin is not None and not self.proc.stdin.is_closing():
            self.proc.stdin.close()
        waiting = [asyncio.ensure_future(self.proc.wait()), self._reader, self._stderr_reader]
        _, pending = await asyncio.wait(waiting, timeout=_PIPE_DRAIN_TIMEOUT)
        if pending:
            await asyncio.to_thread(_kill_pipe_holders, self._pipes)
            _, pending = await asyncio.wait(pending, timeout=_PIPE_DRAIN_TIMEOUT)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        for task in waiting:
            if task.done() and not task.cancelled():
                task.exception()  # retrieved, so that asyncio does not report it as lost
        if self.ready.done() and not self.ready.cancelled():
            # Mark a startup failure as seen; the caller reports it in its own words.
            self.ready.exception()

    async def _read_events(self) -> None:
        stdout = self.proc.stdout
        assert stdout is not None
        try:
            while line := await stdout.readline():
                try:
                    message = json.loads(line)
                except ValueError:
                    log.warning("kernel process %d sent a malformed line: %r", self.pid, line)
                    continue
                if isinstance(message, dict):
                    self._dispatch(message)
        except Exception:
            log.exception("reading events of kernel process %d failed", self.pid)
        finally:
            if not self.ready.done():
                self.ready.set_exception(RuntimeError("the kernel process exited while starting"))
            for future in self._completions.values():
                if not future.done():
                    future.set_result([])
            if not self.expected_exit:
                self._kernel._child_lost(self)

    async def _read_stderr(self) -> None:
        stderr = self.proc.stderr
        assert stderr is not None
        while line := await stderr.readline():
            text = line.decode("utf-8", "replace")
            self._stderr_tail.append(text)
            log.warning("kernel process %d: %s", self.pid, text.rstrip())

    def _dispatch(self, message: dict[str, Any]) -> None:
        kind = message.get("t")
        if kind == "ready":
            if not self.ready.done():
                self.ready.set_result(None)
        elif kind == "completions":
            future = self._completions.get(message.get("id", -1))
            items = message.get("items")
            if future is not None and not future.done():
                future.set_result([str(item) for item in items] if isinstance(items, list) else [])
        else:
            self._kernel._on_event(self, message)


class Kernel:
    """A persistent Python interpreter in a child process, driven like a Backend.AI kernel.

    Variables defined by one query are visible to the next. Each :meth:`execute` call
    returns the manager's result object (``status``, ``runId``, ``exitCode``, ``console``,
    ``options``, ``files``) after at most *flush_window* seconds, earlier when the run
    finishes or waits for input. A run still executing *exec_timeout* seconds after it
    started is interrupted and reported as ``exec-timeout``; time spent waiting for the
    client (for an ``input()`` answer or between batch phases) does not count. An
    *exec_timeout* of zero, a negative number or infinity disables the limit. *limits*
    caps what each of its processes may use.

    Use ``async with Kernel(...)`` or call :meth:`start` and :meth:`close`.
    """

    def __init__(
        self,
        workdir: pathlib.Path,
        *,
        flush_window: float = 0.5,
        exec_timeout: float = 60.0,
        limits: KernelLimits | None = None,
    ) -> None:
        if flush_window < 0:
            raise ValueError("flush_window must not be negative")
        self.workdir = pathlib.Path(workdir)
        self.limits = limits or KernelLimits()
        # Every process of this kernel inherits it; see _kill_marked.
        self._marker = secrets.token_hex(16)
        self.flush_window = flush_window
        self.exec_timeout = exec_timeout
        self._kill_grace = _KILL_GRACE
        self._child: _Child | None = None
        self._run: _Run | None = None
        self._lifecycle = asyncio.Lock()
        self._started = False
        self._closed = False
        self._num_queries = 0
        self._next_rid = 0
        self._stray: list[list[str]] = []
        self._stray_chars = 0
        self._background: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> Kernel:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def num_queries_executed(self) -> int:
        """How many runs (queries and batch jobs) were started since the kernel was made."""
        return self._num_queries

    @property
    def running(self) -> bool:
        """Whether a run is in progress (executing, waiting for input or between phases)."""
        return self._run is not None and not self._run.final

    @property
    def pid(self) -> int | None:
        """The current child process id, or None when no child is alive."""
        return self._child.pid if self._child is not None else None

    async def start(self) -> None:
        """Spawn the child process in the work folder and wait until it is ready."""
        self._check_open()
        async with self._lifecycle:
            self._check_open()
            if self._child is None:
                await self._spawn()
            self._started = True

    async def execute(
        self,
        *,
        mode: str,
        run_id: str,
        code: str,
        options: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Start or follow a run and report its progress, like the manager's execute API.

        *mode* is ``query`` (run *code*), ``batch`` (run the ``clean``/``build``/``exec``
        shell commands of *options*), ``continue`` (collect more output of the active
        run) or ``input`` (answer the pending ``input()`` call with *code*). An empty
        *run_id* on ``continue``/``input`` means the active run.

        Raises KernelBusyError when a run is still going (or another request is already
        collecting it), ValueError for an unknown mode or when there is no run to follow.
        """
        self._check_usable()
        if mode in ("query", "batch"):
            return await self._start_run(mode, run_id, code, dict(options or {}))
        if mode == "continue":
            run = self._active_run(run_id)
            if run.state in _PHASE_STATES:
                self._resume(run)
            return await self._collect(run)
        if mode == "input":
            run = self._active_run(run_id)
            if run.state != "waiting-input":
                raise ValueError(f"run {run.run_id!r} is not waiting for input")
            run.state = "running"
            run.options = None
            self._arm_timer(run)
            if self._child is not None:
                await asyncio.shield(
                    self._child.send({"t": "input", "seq": run.input_seq, "data": code})
                )
            return await self._collect(run)
        raise ValueError(f"unknown execution mode: {mode!r}")

    async def interrupt(self) -> None:
        """Interrupt the active run, if any.

        A query gets SIGINT (KeyboardInterrupt: exit code 1 with a traceback), a batch
        command's process group gets SIGINT, and a batch job paused between phases ends
        with exit code 130. The outcome is reported by the next ``continue``.
        """
        run = self._run
        if run is None or run.final:
            return
        if run.mode == "query":
            self._interrupt_query(run)
        elif run.state in _PHASE_STATES:
            self._finish(run, "finished", _INTERRUPTED_EXIT)
            run.resume.set()
        else:
            run.interrupt_requested = True
            if run.batch_proc is not None:
                _killpg(run.batch_proc.pid, signal.SIGINT)

    async def restart(self) -> None:
        """Kill the child and spawn a fresh one; the namespace and any active run are lost."""
        self._check_open()
        async with self._lifecycle:
            self._check_open()
            await self._abort_run("the kernel was restarted")
            if self._child is not None:
                await self._child.terminate()
                self._child = None
            self._stray.clear()
            self._stray_chars = 0
            await self._spawn()
            self._started = True

    async def complete(self, code: str, options: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Complete the last token of ``options["line"]`` (or of *code*) with rlcompleter.

        Names come from the child's namespace and builtins; attribute completion
        (``obj.att``) evaluates ``obj`` there. Returns ``{"status": "finished",
        "completions": [...]}``, with no completions when the child cannot answer.
        """
        self._check_open()
        line = options.get("line") if options is not None else None
        source = line if isinstance(line, str) and line else code
        match = _TOKEN_RE.search(source)
        token = match.group() if match is not None else ""
        completions: list[str] = []
        child = self._child
        if token.strip(".") and child is not None:
            completions = await child.complete(token)
        return {"status": "finished", "completions": completions}

    async def close(self) -> None:
        """Kill the child and any batch command and reap them; safe to call twice."""
        if self._closed:
            # Wait for a close still in progress, so "closed" really means "reaped".
            async with self._lifecycle:
                return
        self._closed = True
        background = list(self._background)
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        async with self._lifecycle:
            await self._abort_run("the kernel was closed")
            if self._child is not None:
                await self._child.terminate()
                self._child = None
            # Programs that left the process group (daemons) still carry the marker.
            await asyncio.to_thread(_kill_marked, self._marker)

    # -- runs ---------------------------------------------------------------------------

    async def _start_run(
        self, mode: str, run_id: str, code: str, options: dict[str, Any]
    ) -> dict[str, Any]:
        async with self._lifecycle:
            self._check_usable()
            current = self._run
            if current is not None and not current.final:
                raise KernelBusyError(f"run {current.run_id!r} is still in progress")
            if mode == "query" and self._child is None:
                # A previous respawn failed; try again rather than refusing forever.
                await self._spawn()
            self._next_rid += 1
            budget = self.exec_timeout
            run = _Run(
                run_id=run_id,
                mode=mode,
                rid=self._next_rid,
                budget=budget if 0 < budget < math.inf else None,
            )
            # Output printed between runs (background threads, late child programs).
            run.console, self._stray, self._stray_chars = self._stray, [], 0
            self._run = run
            self._num_queries += 1
            self._arm_timer(run)
            if mode == "query":
                assert self._child is not None
                # Shielded: a cancelled request must not leave a run the child never saw.
                await asyncio.shield(self._child.send({"t": "exec", "rid": run.rid, "code": code}))
            else:
                run.task = self._spawn_background(self._batch(run, options))
        return await self._collect(run)

    def _active_run(self, run_id: str) -> _Run:
        run = self._run
        if run is None:
            raise ValueError("there is no active run to continue")
        if run_id and run_id != run.run_id:
            raise ValueError(f"run {run_id!r} is not the active run ({run.run_id!r})")
        if run.collecting:
            raise KernelBusyError(f"another request is already collecting run {run.run_id!r}")
        return run

    async def _collect(self, run: _Run) -> dict[str, Any]:
        """Wait up to the flush window for the run to settle (see _Run.settled); report."""
        run.collecting = True
        try:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + self.flush_window
            while not run.settled:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                run.changed.clear()
                try:
                    async with asyncio.timeout(remaining):
                        await run.changed.wait()
                except TimeoutError:
                    break
            return self._report(run)
        finally:
            run.collecting = False

    def _report(self, run: _Run) -> dict[str, Any]:
        status = "continued" if run.state == "running" else run.state
        options = run.options if run.state == "waiting-input" else None
        if run.state == "waiting-input":
            run.reported_input_seq = run.input_seq
        if run.final and self._run is run:
            # Reported: the run is over for the client too.
            self._run = None
        return {
            "status": status,
            "runId": run.run_id,
            "exitCode": run.exit_code if run.state != "running" else None,
            "console": run.take_console(),
            "options": options,
            "files": [],
        }

    def _finish(self, run: _Run, status: str, exit_code: int | None) -> None:
        if run.final:
            return
        if run.timer is not None:
            run.timer.cancel()
            run.timer = None
        run.state = status
        run.exit_code = exit_code
        run.options = None
        run.changed.set()

    def _interrupt_query(self, run: _Run) -> None:
        if not run.started:
            # Delivered when the child reports the run started (see _on_event).
            run.interrupt_requested = True
        elif self._child is not None:
            self._child.signal(signal.SIGINT)

    def _resume(self, run: _Run) -> None:
        run.state = "running"
        run.exit_code = None
        self._arm_timer(run)
        run.resume.set()

    async def _abort_run(self, reason: str) -> None:
        run = self._run
        if run is None or run.final:
            return
        me = asyncio.current_task()
        tasks = [
            task
            for task in (run.expire_task, run.task)
            if task is not None and task is not me and not task.done()
        ]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        run.append("stderr", f"\n{reason}\n")
        self._finish(run, "finished", _KILLED_EXIT)

    # -- exec timeout -------------------------------------------------------------------

    def _arm_timer(self, run: _Run) -> None:
        if run.budget is None or run.final or run.timer is not None:
            return
        loop = asyncio.get_running_loop()
        run.armed_at = loop.time()
        run.timer = loop.call_later(max(run.budget, 0.0), self._on_timeout, run)

    def _pause_timer(self, run: _Run) -> None:
        if run.timer is None or run.budget is None:
            return
        run.timer.cancel()
        run.timer = None
        run.budget -= asyncio.get_running_loop().time() - run.armed_at

    def _on_timeout(self, run: _Run) -> None:
        run.timer = None
        if run.final or run.timing_out or self._closed:
            return
        run.timing_out = True
        run.expire_task = self._spawn_background(self._expire(run))

    async def _expire(self, run: _Run) -> None:
        """Interrupt a run that ran out of time; kill it if it does not stop soon."""
        if run.mode == "query":
            child = self._child
            self._interrupt_query(run)
            if not await self._wait(run.engine_done, self._kill_grace):
                async with self._lifecycle:
                    if child is not None and self._child is child:
                        await child.terminate()
                        self._child = None
                        self._finish(run, "exec-timeout", None)
                        try:
                            await self._spawn()
                        except Exception:
                            log.exception("respawning the kernel after a timeout failed")
        else:
            run.interrupt_requested = True
            proc = run.batch_proc
            if proc is not None:
                _killpg(proc.pid, signal.SIGINT)
            if not await self._wait(run.engine_done, self._kill_grace):
                proc = run.batch_proc
                if proc is not None:
                    _killpg(proc.pid, signal.SIGKILL)
                await run.engine_done.wait()
        self._finish(run, "exec-timeout", None)

    @staticmethod
    async def _wait(event: asyncio.Event, seconds: float) -> bool:
        """Wait up to *seconds* for *event*; return whether it was set."""
        try:
            async with asyncio.timeout(seconds):
                await event.wait()
        except TimeoutError:
            return False
        return True

    # -- batch --------------------------------------------------------------------------

    async def _batch(self, run: _Run, options: dict[str, Any]) -> None:
        """Run the clean, build and exec phases, pausing after each for ``continue``."""
        try:
            for phase in ("clean", "build"):
                command = self._batch_command(options.get(phase))
                if command is None:
                    continue
                exit_code = await self._run_command(run, command)
                if run.timing_out or run.final:
                    return
                if run.interrupt_requested:
                    exit_code = exit_code or _INTERRUPTED_EXIT
                if exit_code != 0:
                    self._finish(run, "finished", exit_code)
                    return
                self._pause_timer(run)
                run.state = f"{phase}-finished"
                run.exit_code = 0
                run.changed.set()
                await run.resume.wait()
                run.resume.clear()
                if run.final:
                    return
            exec_option = options.get("exec")
            if exec_option == "*":
                command = f"{shlex.quote(sys.executable)} main.py"
            else:
                command = self._batch_command(exec_option)
            exit_code = await self._run_command(run, command) if command is not None else 0
            if run.interrupt_requested:
                exit_code = exit_code or _INTERRUPTED_EXIT
            if not (run.timing_out or run.final):
                self._finish(run, "finished", exit_code)
        except Exception as exc:
            log.exception("batch run %r failed", run.run_id)
            run.append("stderr", f"batch execution failed: {exc}\n")
            self._finish(run, "finished", 1)
        finally:
            run.engine_done.set()

    @staticmethod
    def _batch_command(value: Any) -> str | None:
        # "*" asks for the heuristic clean/build step, which the emulator does not have.
        if not isinstance(value, str) or value.strip() in ("", "*"):
            return None
        return value

    async def _run_command(self, run: _Run, command: str) -> int:
        """Run *command* with the shell in its own process group; return its exit status."""
        if run.interrupt_requested:
            return _INTERRUPTED_EXIT
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-I",
            "-S",
            "-c",
            self.limits.preamble() + _SHELL_TRAMPOLINE,
            command,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=self.workdir,
            env=self._environment(),
            start_new_session=True,
        )
        run.batch_proc = proc
        if run.interrupt_requested:
            # Interrupted while the shell was being started.
            _killpg(proc.pid, signal.SIGINT)
        assert proc.stdout is not None and proc.stderr is not None
        pumps = [
            asyncio.create_task(self._pump(run, proc.stdout, "stdout")),
            asyncio.create_task(self._pump(run, proc.stderr, "stderr")),
        ]
        try:
            returncode = await proc.wait()
        finally:
            # Leftover background programs of the command would keep the pipes open.
            _killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
            _, pending = await asyncio.wait(pumps, timeout=_PIPE_DRAIN_TIMEOUT)
            for pump in pending:
                pump.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            run.batch_proc = None
        return _exit_status(returncode)

    @staticmethod
    async def _pump(run: _Run, stream: asyncio.StreamReader, kind: str) -> None:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        while chunk := await stream.read(65536):
            run.append(kind, decoder.decode(chunk))
        run.append(kind, decoder.decode(b"", final=True))

    # -- child process ------------------------------------------------------------------

    async def _spawn(self) -> None:
        """Start a driver process and wait for its greeting (lifecycle lock held)."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            self.limits.preamble() + _DRIVER_BOOTSTRAP,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=self.workdir,
            env=self._environment(),
            # Its own process group, so killing it also kills the programs it started.
            start_new_session=True,
            limit=_STREAM_LIMIT,
        )
        child = _Child(proc, self)
        try:
            async with asyncio.timeout(_READY_TIMEOUT):
                await child.ready
            child.note_pipes()
        except BaseException as exc:
            await child.terminate()
            if isinstance(exc, Exception):
                detail = child.diagnostics or str(exc) or type(exc).__name__
                raise RuntimeError(f"the kernel process failed to start: {detail}") from exc
            raise
        self._child = child

    def _on_event(self, child: _Child, message: dict[str, Any]) -> None:
        """Handle an event of the driver (called by its reader task)."""
        if child is not self._child:
            return
        kind = message.get("t")
        run = self._run
        if kind == "out":
            self._on_output(str(message.get("k")), str(message.get("d", "")))
        elif run is None or run.mode != "query" or message.get("rid") != run.rid:
            log.debug("ignoring event %r of a run that is no longer active", kind)
        elif kind == "started":
            run.started = True
            if run.interrupt_requested and self._child is not None:
                self._child.signal(signal.SIGINT)
        elif kind == "input":
            if run.state == "running" and not run.timing_out:
                self._pause_timer(run)
                run.state = "waiting-input"
                run.input_seq = int(message.get("seq", 0))
                run.options = {"is_password": bool(message.get("password"))}
                run.changed.set()
        elif kind == "done":
            run.engine_done.set()
            if not run.timing_out:
                self._finish(run, "finished", int(message.get("exit", 1)))

    def _on_output(self, kind: str, text: str) -> None:
        run = self._run
        if run is not None and run.mode == "query":
            run.append(kind, text)
            return
        if self._stray_chars + len(text) > _MAX_STRAY_CHARS:
            log.debug("dropping %d characters of output printed between runs", len(text))
            return
        self._stray_chars += len(text)
        if self._stray and self._stray[-1][0] == kind:
            self._stray[-1][1] += text
        else:
            self._stray.append([kind, text])

    def _child_lost(self, child: _Child) -> None:
        """React to a driver that exited on its own (called by its reader task)."""
        if child is self._child and not self._closed:
            self._spawn_background(self._recover(child))

    async def _recover(self, child: _Child) -> None:
        async with self._lifecycle:
            if child is not self._child or self._closed:
                return
            await child.terminate()
            self._child = None
            returncode = child.proc.returncode
            run = self._run
            if run is not None and run.mode == "query" and not run.final:
                run.append(
                    "stderr",
                    f"\nThe kernel process exited unexpectedly (exit code {returncode}); "
                    "it was restarted and its state is lost.\n",
                )
                run.engine_done.set()
                if not run.timing_out:
                    exit_code = _exit_status(returncode) if returncode is not None else 1
                    self._finish(run, "finished", exit_code)
            try:
                await self._spawn()
            except Exception:
                log.exception("respawning the kernel after it exited failed")

    # -- helpers ------------------------------------------------------------------------

    def _environment(self) -> dict[str, str]:
        return {**os.environ, "PYTHONUNBUFFERED": "1", MARKER_VARIABLE: self._marker}

    def _spawn_background(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background_done)
        return task

    def _background_done(self, task: asyncio.Task[None]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("kernel background task failed", exc_info=task.exception())

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("the kernel is closed")

    def _check_usable(self) -> None:
        self._check_open()
        if not self._started:
            raise RuntimeError("the kernel is not started")
