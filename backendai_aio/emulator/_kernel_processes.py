"""Process control of the emulator's kernels: resource limits, exit statuses, and killing.

Each child process starts a session of its own (so its own process group), and every process the
session starts carries a marker in its environment: destroying the kernel kills the group and then,
where ``/proc`` lists processes, every process still carrying the marker, so that programs the code
daemonised (``fork``, ``setsid``, closed descriptors) end with it.
[`KernelLimits`][backendai_aio.emulator.KernelLimits] optionally caps what each of these processes
may use. POSIX only.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import signal
from dataclasses import dataclass
from typing import Final

__all__ = [
    "INTERRUPTED_EXIT",
    "KILLED_EXIT",
    "MARKER_VARIABLE",
    "PIPE_DRAIN_TIMEOUT",
    "KernelLimits",
    "exit_status",
    "kill_marked",
    "kill_pipe_holders",
    "killpg",
    "pipes_of",
]


PIPE_DRAIN_TIMEOUT: Final = 1.0


INTERRUPTED_EXIT: Final = 128 + signal.SIGINT
KILLED_EXIT: Final = 128 + signal.SIGKILL
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


def exit_status(returncode: int) -> int:
    """Map a subprocess return code to a shell-style exit status (signal N -> 128 + N)."""
    return returncode if returncode >= 0 else 128 - returncode


def killpg(pgid: int, sig: signal.Signals) -> None:
    # The group may already be gone (or only hold zombies); that is fine.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def pipes_of(pid: int) -> frozenset[str]:
    """The pipes process *pid* holds open (``pipe:[inode]``), as far as ``/proc`` tells."""
    found: set[str] = set()
    with contextlib.suppress(OSError):
        for entry in (_PROC / str(pid) / "fd").iterdir():
            with contextlib.suppress(OSError):
                link = os.readlink(entry)
                if link.startswith("pipe:"):
                    found.add(link)
    return frozenset(found)


def kill_pipe_holders(pipes: frozenset[str]) -> None:
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
        if pid != me and pipes_of(pid) & pipes:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)


def _carries_marker(pid: int, entry: bytes) -> bool:
    try:
        environ = (_PROC / str(pid) / "environ").read_bytes()
    except OSError:
        return False
    return entry in environ.split(b"\0")


def kill_marked(marker: str) -> int:
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
