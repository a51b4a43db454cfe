"""A session's terminal: a shell on a real pseudo-terminal in the session's folder.

The manager's ``/stream/session/{name}/pty`` relays a kernel's terminal; the emulator's
kernel is a local shell (``bash`` where there is one, else ``sh``) whose controlling
terminal is a pseudo-terminal the emulator holds the master side of. The shell runs in a
process group of its own, so stopping it (by its PID) stops what it started too.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import shutil
import signal
import struct
import termios
import time
from pathlib import Path
from typing import Final

from ._kernel_processes import killpg

__all__ = ["PtyShell"]

#: The window size a new terminal starts with.
_INITIAL_SIZE: Final = (24, 80)
#: How long stopping a shell waits after SIGHUP before SIGKILL.
_STOP_GRACE: Final = 2.0
#: How much is read from the terminal at once.
_CHUNK: Final = 64 * 1024
_PROC: Final = Path("/proc")


def _become_terminal_owner() -> None:  # pragma: no cover - runs in the child, before exec
    # A new session (start_new_session) has no controlling terminal: make its stdin one, so
    # that resizes reach the shell as SIGWINCH and job control works as in a real terminal.
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def _session_members(sid: int) -> list[int]:
    """The live processes of session *sid*, as ``/proc`` tells (zombies left out)."""
    members = []
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            # The fields after the command's closing parenthesis: state, ppid, pgrp, session.
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if len(fields) > 3 and fields[3] == str(sid) and fields[0] != "Z":
            members.append(int(entry.name))
    return members


def _kill_session(sid: int) -> None:
    """SIGKILL every process of session *sid*, and wait (bounded) until they are gone.

    Blocking; best effort. An orphan is reaped by whoever adopted it, so its end is watched
    for rather than waited on.
    """
    deadline = time.monotonic() + _STOP_GRACE
    while (members := _session_members(sid)) and time.monotonic() < deadline:
        for pid in members:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.01)


class PtyShell:
    """One shell on a pseudo-terminal; its output goes to every subscribed queue.

    A queue gets ``None`` once the terminal is closed for good (`close`); `restart` replaces
    the shell and keeps the subscribers.
    """

    def __init__(self, workdir: Path, environ: dict[str, str]) -> None:
        self._workdir = workdir
        self._environ = environ
        self._master: int | None = None
        self._process: asyncio.subprocess.Process | None = None
        self._subscribers: set[asyncio.Queue[bytes | None]] = set()
        self._size = _INITIAL_SIZE
        self._lock = asyncio.Lock()
        self._closed = False

    @property
    def pid(self) -> int | None:
        """The shell's process id while it runs."""
        return None if self._process is None else self._process.pid

    def subscribe(self) -> asyncio.Queue[bytes | None]:
        """A queue that receives the terminal's output from now on."""
        queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[bytes | None]) -> None:
        """Stop sending output to *queue*."""
        self._subscribers.discard(queue)

    async def start(self) -> None:
        """Start the shell unless it runs."""
        async with self._lock:
            if self._closed or (self._process is not None and self._process.returncode is None):
                return
            await self._spawn()

    async def write(self, data: bytes) -> None:
        """Type *data* into the terminal."""
        master = self._master
        if master is None or not data:
            return
        # A shell that does not read could fill the terminal's buffer: never block the loop.
        with contextlib.suppress(OSError):
            await asyncio.to_thread(os.write, master, data)

    def resize(self, rows: int, cols: int) -> None:
        """Set the terminal's window size (the shell gets SIGWINCH)."""
        self._size = (rows, cols)
        if self._master is not None:
            with contextlib.suppress(OSError):
                fcntl.ioctl(self._master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    async def restart(self) -> None:
        """Replace the shell with a new one on a new terminal."""
        async with self._lock:
            await self._stop()
            if not self._closed:
                await self._spawn()

    async def close(self) -> None:
        """Stop the shell for good; every subscriber gets ``None``."""
        async with self._lock:
            self._closed = True
            await self._stop()
        for queue in self._subscribers:
            queue.put_nowait(None)
        self._subscribers.clear()

    async def _spawn(self) -> None:
        master, slave = os.openpty()
        try:
            shell = shutil.which("bash") or "/bin/sh"
            env = {
                **os.environ,
                **self._environ,
                "TERM": "xterm",
                "PS1": "$ ",
                "HOME": str(self._workdir),
            }
            args = (
                [shell, "--norc", "--noprofile", "-i"] if shell.endswith("bash") else [shell, "-i"]
            )
            self._process = await asyncio.create_subprocess_exec(
                *args,
                stdin=slave,
                stdout=slave,
                stderr=slave,
                cwd=self._workdir,
                env=env,
                start_new_session=True,
                preexec_fn=_become_terminal_owner,
            )
        except BaseException:
            os.close(master)
            raise
        finally:
            os.close(slave)
        self._master = master
        self.resize(*self._size)
        os.set_blocking(master, False)
        asyncio.get_running_loop().add_reader(master, self._on_readable, master)

    def _on_readable(self, master: int) -> None:
        try:
            data = os.read(master, _CHUNK)
        except BlockingIOError:
            return
        except OSError:
            # EIO: every process holding the terminal's other side is gone.
            data = b""
        if not data:
            self._detach(master)
            return
        for queue in self._subscribers:
            queue.put_nowait(data)

    def _detach(self, master: int) -> None:
        asyncio.get_running_loop().remove_reader(master)
        if self._master == master:
            self._master = None
        with contextlib.suppress(OSError):
            os.close(master)

    async def _stop(self) -> None:
        process = self._process
        self._process = None
        if process is not None and process.returncode is None:
            killpg(process.pid, signal.SIGHUP)
            try:
                await asyncio.wait_for(process.wait(), _STOP_GRACE)
            except TimeoutError:
                killpg(process.pid, signal.SIGKILL)
                await process.wait()
        if process is not None:
            # What the shell left running goes too: its jobs have process groups of their
            # own, but stay in the shell's session.
            killpg(process.pid, signal.SIGKILL)
            await asyncio.to_thread(_kill_session, process.pid)
        if self._master is not None:
            self._detach(self._master)
