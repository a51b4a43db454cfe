"""Batch runs of a kernel: shell commands in the work folder, each in a process group of its own.

They run directly from the emulator's process and never touch the kernel's Python child.
"""

from __future__ import annotations

import asyncio
import codecs
import logging
import pathlib
import shlex
import signal
import sys
from collections.abc import Callable
from typing import Any, Final

from ._kernel_child import Run
from ._kernel_processes import (
    INTERRUPTED_EXIT,
    PIPE_DRAIN_TIMEOUT,
    KernelLimits,
    exit_status,
    killpg,
)

__all__ = ["run_batch"]


log = logging.getLogger(__name__)


# Batch commands start through this: a SIGINT that is ignored here (as in a shell's
# background job) would be ignored by the command too, and a shell cannot undo that.
_SHELL_TRAMPOLINE: Final = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "os.execv('/bin/sh', ['/bin/sh', '-c', sys.argv[1]])"
)


async def run_batch(
    run: Run,
    options: dict[str, Any],
    limits: KernelLimits,
    workdir: pathlib.Path,
    environment: Callable[[], dict[str, str]],
) -> None:
    """Run *run*'s clean, build and exec phases, pausing after each for ``continue``.

    Each command gets *limits*, runs in *workdir* with the environment *environment* makes.
    """
    try:
        for phase in ("clean", "build"):
            command = _batch_command(options.get(phase))
            if command is None:
                continue
            exit_code = await _run_command(run, command, limits, workdir, environment)
            if run.timing_out or run.final:
                return
            if run.interrupt_requested:
                exit_code = exit_code or INTERRUPTED_EXIT
            if exit_code != 0:
                run.finish("finished", exit_code)
                return
            run.pause_timer()
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
            command = _batch_command(exec_option)
        exit_code = (
            await _run_command(run, command, limits, workdir, environment)
            if command is not None
            else 0
        )
        if run.interrupt_requested:
            exit_code = exit_code or INTERRUPTED_EXIT
        if not (run.timing_out or run.final):
            run.finish("finished", exit_code)
    except Exception as exc:
        log.exception("batch run %r failed", run.run_id)
        run.append("stderr", f"batch execution failed: {exc}\n")
        run.finish("finished", 1)
    finally:
        run.engine_done.set()


def _batch_command(value: Any) -> str | None:
    # "*" asks for the heuristic clean/build step, which the emulator does not have.
    if not isinstance(value, str) or value.strip() in ("", "*"):
        return None
    return value


async def _run_command(
    run: Run,
    command: str,
    limits: KernelLimits,
    workdir: pathlib.Path,
    environment: Callable[[], dict[str, str]],
) -> int:
    """Run *command* with the shell in its own process group; return its exit status."""
    if run.interrupt_requested:
        return INTERRUPTED_EXIT
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-I",
        "-S",
        "-c",
        limits.preamble() + _SHELL_TRAMPOLINE,
        command,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=workdir,
        env=environment(),
        start_new_session=True,
    )
    run.batch_proc = proc
    if run.interrupt_requested:
        # Interrupted while the shell was being started.
        killpg(proc.pid, signal.SIGINT)
    assert proc.stdout is not None and proc.stderr is not None
    pumps = [
        asyncio.create_task(_pump(run, proc.stdout, "stdout")),
        asyncio.create_task(_pump(run, proc.stderr, "stderr")),
    ]
    try:
        returncode = await proc.wait()
    finally:
        # Leftover background programs of the command would keep the pipes open.
        killpg(proc.pid, signal.SIGKILL)
        await proc.wait()
        _, pending = await asyncio.wait(pumps, timeout=PIPE_DRAIN_TIMEOUT)
        for pump in pending:
            pump.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        run.batch_proc = None
    return exit_status(returncode)


async def _pump(run: Run, stream: asyncio.StreamReader, kind: str) -> None:
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    while chunk := await stream.read(65536):
        run.append(kind, decoder.decode(chunk))
    run.append(kind, decoder.decode(b"", final=True))
