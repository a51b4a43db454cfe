"""The parent side of a kernel's driver process (`_driver`), and the state of one run."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from ._kernel_processes import (
    PIPE_DRAIN_TIMEOUT,
    kill_pipe_holders,
    killpg,
    pipes_of,
)

__all__ = ["FINAL_STATES", "Child", "Run", "StrayOutput", "wait_for_event"]


log = logging.getLogger(__name__)


_COMPLETE_TIMEOUT: Final = 5.0


#: The statuses that end a run.
FINAL_STATES: Final = frozenset({"finished", "exec-timeout"})


@dataclass(eq=False)
class Run:
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

    def report(self) -> dict[str, Any]:
        """The manager's result object for what happened since the last report."""
        status = "continued" if self.state == "running" else self.state
        options = self.options if self.state == "waiting-input" else None
        if self.state == "waiting-input":
            self.reported_input_seq = self.input_seq
        return {
            "status": status,
            "runId": self.run_id,
            "exitCode": self.exit_code if self.state != "running" else None,
            "console": self.take_console(),
            "options": options,
            "files": [],
        }

    def finish(self, status: str, exit_code: int | None) -> None:
        """End the run with *status* and *exit_code* (nothing if it already ended)."""
        if self.final:
            return
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.state = status
        self.exit_code = exit_code
        self.options = None
        self.changed.set()

    def arm_timer(self, on_timeout: Callable[[Run], None]) -> None:
        """Start counting the run's execution budget; *on_timeout* gets the run when it runs out."""
        if self.budget is None or self.final or self.timer is not None:
            return
        loop = asyncio.get_running_loop()
        self.armed_at = loop.time()
        self.timer = loop.call_later(max(self.budget, 0.0), on_timeout, self)

    def pause_timer(self) -> None:
        """Stop counting the budget (the run waits for its client), keeping what is left."""
        if self.timer is None or self.budget is None:
            return
        self.timer.cancel()
        self.timer = None
        self.budget -= asyncio.get_running_loop().time() - self.armed_at


class StrayOutput:
    """Output the driver printed between runs (background threads, late child programs).

    The next run reports it first; past *limit* characters, more is dropped.
    """

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._console: list[list[str]] = []
        self._chars = 0

    def add(self, kind: str, text: str) -> None:
        """Keep *text*, merged with the previous chunk of the same kind, unless it is too much."""
        if self._chars + len(text) > self._limit:
            log.debug("dropping %d characters of output printed between runs", len(text))
            return
        self._chars += len(text)
        if self._console and self._console[-1][0] == kind:
            self._console[-1][1] += text
        else:
            self._console.append([kind, text])

    def take(self) -> list[list[str]]:
        """Return what was kept and forget it."""
        console, self._console, self._chars = self._console, [], 0
        return console


async def wait_for_event(event: asyncio.Event, seconds: float) -> bool:
    """Wait up to *seconds* for *event*; return whether it was set."""
    try:
        async with asyncio.timeout(seconds):
            await event.wait()
    except TimeoutError:
        return False
    return True


class Child:
    """One driver process: its pipes, its reader tasks and pending completion requests."""

    def __init__(
        self,
        proc: asyncio.subprocess.Process,
        on_event: Callable[[Child, dict[str, Any]], None],
        on_lost: Callable[[Child], None],
    ) -> None:
        self.proc = proc
        self.expected_exit = False
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        # The kernel's handlers for the driver's events and for its exit on its own.
        self._on_event = on_event
        self._on_lost = on_lost
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
        self._pipes = pipes_of(self.proc.pid)

    async def terminate(self) -> None:
        """Kill the driver and everything in its process group, then reap it.

        A process the user code moved out of the group (``os.fork()`` then ``os.setsid()``)
        survives the group's kill and keeps the driver's pipes open: after a short wait such
        processes are killed too (where ``/proc`` tells who holds the pipes), and pipes that
        still stay open are left unread, so that terminating never hangs.
        """
        self.expected_exit = True
        killpg(self.proc.pid, signal.SIGKILL)
        if self.proc.stdin is not None and not self.proc.stdin.is_closing():
            self.proc.stdin.close()
        waiting = [asyncio.ensure_future(self.proc.wait()), self._reader, self._stderr_reader]
        _, pending = await asyncio.wait(waiting, timeout=PIPE_DRAIN_TIMEOUT)
        if pending:
            await asyncio.to_thread(kill_pipe_holders, self._pipes)
            _, pending = await asyncio.wait(pending, timeout=PIPE_DRAIN_TIMEOUT)
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
                self._on_lost(self)

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
            self._on_event(self, message)
