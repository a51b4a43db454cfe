"""A persistent Python kernel for one emulated compute session.

`Kernel` owns one child Python process (see `_driver`) whose ``__main__``
namespace survives between runs, and answers execution requests the way the Backend.AI
manager does (see docs/emulator.md). Batch runs (`_kernel_batch`) run shell commands
in the work folder; process control is in `_kernel_processes`. POSIX only.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import pathlib
import re
import secrets
import signal
import sys
from collections.abc import Coroutine, Mapping
from typing import Any, Final

from . import _driver
from ._kernel_batch import run_batch
from ._kernel_child import FINAL_STATES, Child, Run, StrayOutput, wait_for_event
from ._kernel_processes import (
    INTERRUPTED_EXIT,
    KILLED_EXIT,
    MARKER_VARIABLE,
    KernelLimits,
    exit_status,
    kill_marked,
    killpg,
)

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
_KILL_GRACE: Final = 2.0
_MAX_STRAY_CHARS: Final = 1 << 20
_PHASE_STATES: Final = frozenset({"clean-finished", "build-finished"})
_TOKEN_RE: Final = re.compile(r"[\w.]*\Z")


class KernelBusyError(Exception):
    """A new run was asked while another run is still going."""


class Kernel:
    """A persistent Python interpreter in a child process, driven like a Backend.AI kernel.

    Variables defined by one query are visible to the next. Each `execute` call
    returns the manager's result object (``status``, ``runId``, ``exitCode``, ``console``,
    ``options``, ``files``) after at most *flush_window* seconds, earlier when the run
    finishes or waits for input. A run still executing *exec_timeout* seconds after it
    started is interrupted and reported as ``exec-timeout``; time spent waiting for the
    client (for an ``input()`` answer or between batch phases) does not count. An
    *exec_timeout* of zero, a negative number or infinity disables the limit. *limits*
    caps what each of its processes may use.

    Use ``async with Kernel(...)`` or call `start` and `close`.
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
        # Every process of this kernel inherits it; see kill_marked.
        self._marker = secrets.token_hex(16)
        self.flush_window = flush_window
        self.exec_timeout = exec_timeout
        self._kill_grace = _KILL_GRACE
        self._child: Child | None = None
        self._run: Run | None = None
        self._lifecycle = asyncio.Lock()
        self._started = False
        self._closed = False
        self._num_queries = 0
        self._next_rid = 0
        self._stray = StrayOutput(_MAX_STRAY_CHARS)
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
            run.arm_timer(self._on_timeout)
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
            run.finish("finished", INTERRUPTED_EXIT)
            run.resume.set()
        else:
            run.interrupt_requested = True
            if run.batch_proc is not None:
                killpg(run.batch_proc.pid, signal.SIGINT)

    async def restart(self) -> None:
        """Kill the child and spawn a fresh one; the namespace and any active run are lost."""
        self._check_open()
        async with self._lifecycle:
            self._check_open()
            await self._abort_run("the kernel was restarted")
            if self._child is not None:
                await self._child.terminate()
                self._child = None
            self._stray.take()
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
            await asyncio.to_thread(kill_marked, self._marker)

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
            run = Run(
                run_id=run_id,
                mode=mode,
                rid=self._next_rid,
                budget=budget if 0 < budget < math.inf else None,
            )
            # Output printed between runs (background threads, late child programs).
            run.console = self._stray.take()
            self._run = run
            self._num_queries += 1
            run.arm_timer(self._on_timeout)
            if mode == "query":
                assert self._child is not None
                # Shielded: a cancelled request must not leave a run the child never saw.
                await asyncio.shield(self._child.send({"t": "exec", "rid": run.rid, "code": code}))
            else:
                run.task = self._spawn_background(
                    run_batch(run, options, self.limits, self.workdir, self._environment)
                )
        return await self._collect(run)

    def _active_run(self, run_id: str) -> Run:
        run = self._run
        if run is None:
            raise ValueError("there is no active run to continue")
        if run_id and run_id != run.run_id:
            raise ValueError(f"run {run_id!r} is not the active run ({run.run_id!r})")
        if run.collecting:
            raise KernelBusyError(f"another request is already collecting run {run.run_id!r}")
        return run

    async def _collect(self, run: Run) -> dict[str, Any]:
        """Wait up to the flush window for the run to settle (see Run.settled); report."""
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
            report = run.report()
            if run.final and self._run is run:
                # Reported: the run is over for the client too.
                self._run = None
            return report
        finally:
            run.collecting = False

    def _interrupt_query(self, run: Run) -> None:
        if not run.started:
            # Delivered when the child reports the run started (see _on_event).
            run.interrupt_requested = True
        elif self._child is not None:
            self._child.signal(signal.SIGINT)

    def _resume(self, run: Run) -> None:
        run.state = "running"
        run.exit_code = None
        run.arm_timer(self._on_timeout)
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
        run.finish("finished", KILLED_EXIT)

    # -- exec timeout -------------------------------------------------------------------

    def _on_timeout(self, run: Run) -> None:
        run.timer = None
        if run.final or run.timing_out or self._closed:
            return
        run.timing_out = True
        run.expire_task = self._spawn_background(self._expire(run))

    async def _expire(self, run: Run) -> None:
        """Interrupt a run that ran out of time; kill it if it does not stop soon."""
        if run.mode == "query":
            child = self._child
            self._interrupt_query(run)
            if not await wait_for_event(run.engine_done, self._kill_grace):
                async with self._lifecycle:
                    if child is not None and self._child is child:
                        await child.terminate()
                        self._child = None
                        run.finish("exec-timeout", None)
                        try:
                            await self._spawn()
                        except Exception:
                            log.exception("respawning the kernel after a timeout failed")
        else:
            run.interrupt_requested = True
            proc = run.batch_proc
            if proc is not None:
                killpg(proc.pid, signal.SIGINT)
            if not await wait_for_event(run.engine_done, self._kill_grace):
                proc = run.batch_proc
                if proc is not None:
                    killpg(proc.pid, signal.SIGKILL)
                await run.engine_done.wait()
        run.finish("exec-timeout", None)

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
        child = Child(proc, self._on_event, self._child_lost)
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

    def _on_event(self, child: Child, message: dict[str, Any]) -> None:
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
                run.pause_timer()
                run.state = "waiting-input"
                run.input_seq = int(message.get("seq", 0))
                run.options = {"is_password": bool(message.get("password"))}
                run.changed.set()
        elif kind == "done":
            run.engine_done.set()
            if not run.timing_out:
                run.finish("finished", int(message.get("exit", 1)))

    def _on_output(self, kind: str, text: str) -> None:
        run = self._run
        if run is not None and run.mode == "query":
            run.append(kind, text)
            return
        self._stray.add(kind, text)

    def _child_lost(self, child: Child) -> None:
        """React to a driver that exited on its own (called by its reader task)."""
        if child is self._child and not self._closed:
            self._spawn_background(self._recover(child))

    async def _recover(self, child: Child) -> None:
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
                    exit_code = exit_status(returncode) if returncode is not None else 1
                    run.finish("finished", exit_code)
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
