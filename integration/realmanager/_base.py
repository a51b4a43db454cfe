"""What every part of the launcher shares: errors, releases, the state folder, processes.

Standard library only (Python 3.11): the launcher runs before anything else is installed.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

SCRIPT_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = SCRIPT_DIR.parent.parent

HOST = "127.0.0.1"  # the only address anything here binds to or talks to
APT_PACKAGES = ("postgresql", "redis-server", "etcd-server", "etcd-client")

STOP_GRACE = 20.0  # seconds between a signal and the next, harsher, one

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_REGISTRY_UNREACHABLE = 3

ADMIN_ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
USER_ACCESS_KEY = "AKIANABBDUSEREXAMPLE"

# ----------------------------------------------------------------------------- errors


class LauncherError(Exception):
    """A failure reported with a message and an exit code (no traceback)."""

    exit_code: int = EXIT_FAILURE


class RegistryUnreachableError(LauncherError):
    """Installation failed because a package registry or a package could not be reached."""

    exit_code = EXIT_REGISTRY_UNREACHABLE


# ----------------------------------------------------------------------------- releases


@dataclass(frozen=True)
class Ports:
    """The TCP ports of one release's stack on 127.0.0.1 (no two releases share one)."""

    pg: int
    redis: int
    etcd_client: int
    etcd_peer: int
    manager: int
    storage_client: int
    storage_manager: int
    #: Further ports each daemon binds (aiomonitor, internal APIs), checked free before start.
    manager_extra: tuple[int, ...]
    storage_extra: tuple[int, ...]
    agent: tuple[int, ...] = ()


@dataclass(frozen=True)
class Release:
    """One Backend.AI release the launcher can install and run, and where its data is."""

    key: str  # what `--release` takes: "23.09", "26.9"
    label: str  # as the manager reports itself: "23.09.10"
    pip_version: str  # as PyPI spells it: "23.9.10"
    api_version: str
    python: tuple[int, int]  # the one minor version its wheels accept
    data_dir: Path  # the project's copies of configs, fixtures, pins
    constraints: str  # file name in data_dir
    packages: tuple[str, ...]  # distribution names, installed at pip_version
    ports: Ports
    default_state: Path
    state_env_var: str
    python_env_var: str
    #: Files of data_dir rendered into cfg/ with @ROOT@ -> the state folder.
    configs: tuple[str, ...]
    #: Fills the database and etcd once per store (see populate in each release's module).
    populate: Callable[[State], None] = field(compare=False)
    #: Whether an agent (the no-Docker dummy backend) runs beside the manager.
    agent: bool = False

    @property
    def endpoint(self) -> str:
        """The manager's API on loopback."""
        return f"http://{HOST}:{self.ports.manager}"

    @property
    def requirements(self) -> tuple[str, ...]:
        """The pip requirement strings, every package at the release's version."""
        return tuple(f"{name}=={self.pip_version}" for name in self.packages)

    def keypair(self, access_key: str) -> tuple[str, str]:
        """(access key, secret key) from the release's copy of the keypair fixture."""
        data = json.loads((self.data_dir / "fixtures" / "example-keypairs.json").read_text())
        for row in data["keypairs"]:
            if row["access_key"] == access_key:
                return str(row["access_key"]), str(row["secret_key"])
        raise LauncherError(f"keypair {access_key} is not in the fixtures")


# ----------------------------------------------------------------------------- state folder


@dataclass(frozen=True)
class State:
    """Every path inside one release's state folder, in one place."""

    release: Release
    root: Path
    venv: Path  # the release's own venv
    venv_marker: Path  # what the venv was built from (see venv_fingerprint)
    cfg: Path  # rendered configs
    keys: Path  # the manager's RPC keypair
    run: Path  # pid files: the daemons' own and the launcher's records
    logs: Path
    markers: Path  # "done once" markers (database and etcd populated)
    ipc: Path
    vfolder_volume: Path  # the storage proxy's vfs volume
    pg: Path  # owned by the postgres user
    pgdata: Path
    pg_socket_dir: Path
    etcd_data: Path
    redis_dir: Path
    docker_sock: Path  # only named in DOCKER_HOST: the manager needs one but never dials it

    @classmethod
    def at(cls, release: Release, root: Path) -> State:
        """The layout under ``root``."""
        return cls(
            release=release,
            root=root,
            venv=root / "venv",
            venv_marker=root / "venv" / ".realmanager-installed.json",
            cfg=root / "cfg",
            keys=root / "cfg" / "keys",
            run=root / "run",
            logs=root / "logs",
            markers=root / "markers",
            ipc=root / "ipc",
            vfolder_volume=root / "vfroot" / "volume1",
            pg=root / "pg",
            pgdata=root / "pg" / "data",
            pg_socket_dir=root / "pg" / "sock",
            etcd_data=root / "etcd",
            redis_dir=root / "redis",
            docker_sock=root / "docker.sock",
        )

    @classmethod
    def of(cls, release: Release) -> State:
        """The release's state folder: its environment variable, else its default."""
        override = os.environ.get(release.state_env_var)
        return cls.at(release, Path(override).resolve() if override else release.default_state)

    def bin(self, name: str) -> Path:
        """An executable of the release's venv."""
        return self.venv / "bin" / name

    def log(self, name: str) -> Path:
        """The log file of one component."""
        return self.logs / f"{name}.log"


# ----------------------------------------------------------------------------- helpers


def say(message: str) -> None:
    """Print a progress line (flushed: CI logs interleave with child processes)."""
    print(f"[realmanager] {message}", flush=True)


def is_root() -> bool:
    """Whether we run as root (CI does; then PostgreSQL must run as ``postgres``)."""
    return os.geteuid() == 0


def tail(path: Path, lines: int = 40) -> str:
    """The last ``lines`` lines of a log file, for failure reports."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])


def run(
    cmd: Sequence[str | Path],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> str:
    """Run a short command and return its output; raise LauncherError with it on failure.

    Each child gets a session of its own so that a Backend.AI CLI that signals its process
    group on failure cannot take the launcher (or CI's shell) down with it.
    """
    args = [str(c) for c in cmd]
    proc = subprocess.run(
        args,
        env=dict(env) if env is not None else None,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        start_new_session=True,
    )
    if proc.returncode != 0:
        raise LauncherError(
            f"{shlex.join(args)} failed (exit {proc.returncode}):\n{proc.stdout[-4000:]}"
        )
    return proc.stdout


def run_streamed(
    cmd: Sequence[str | Path], *, log: Path, env: Mapping[str, str] | None = None
) -> tuple[int, str]:
    """Run a long command (apt-get, pip), echoing its output live and into ``log``.

    Returns the exit code and the whole output, so that the caller can tell a registry
    failure from any other.
    """
    args = [str(c) for c in cmd]
    say("$ " + shlex.join(args))
    log.parent.mkdir(parents=True, exist_ok=True)
    chunks: list[str] = []
    with log.open("a") as log_file:
        log_file.write(f"\n$ {shlex.join(args)}\n")
        proc = subprocess.Popen(
            args,
            env=dict(env) if env is not None else None,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            chunks.append(line)
            log_file.write(line)
            sys.stdout.write(line)
        sys.stdout.flush()
        return proc.wait(), "".join(chunks)


def http_get_json(url: str, timeout: float = 3.0) -> object | None:
    """GET ``url`` and decode its JSON, or None if it does not answer (yet).

    Proxies are bypassed on purpose: an ``http_proxy`` in CI's environment must not send
    loopback traffic elsewhere.
    """
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=timeout) as resp:
            answer: object = json.loads(resp.read().decode())
            return answer
    except (OSError, ValueError, urllib.error.URLError):
        return None


def port_open(port: int, timeout: float = 0.5) -> bool:
    """Whether something accepts TCP connections on 127.0.0.1:``port``."""
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.settimeout(timeout)
        return sock.connect_ex((HOST, port)) == 0


def require_ports_free(ports: Sequence[int], owner: str) -> None:
    """Fail clearly if another program already holds a port ``owner`` is about to bind."""
    busy = [p for p in ports if port_open(p)]
    if busy:
        raise LauncherError(
            f"cannot start {owner}: port(s) {busy} on {HOST} are in use by a process this "
            "launcher did not start (see `ss -ltnp`)"
        )


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.3) -> bool:
    """Poll ``predicate`` until it is true (True) or ``timeout`` seconds passed (False)."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


# ----------------------------------------------------------------------------- processes


@dataclass(frozen=True)
class ProcInfo:
    """The fields of ``/proc/<pid>/stat`` the launcher needs."""

    state: str
    pgid: int
    sid: int


def proc_info(pid: int) -> ProcInfo | None:
    """Read ``/proc/<pid>/stat``, or None if there is no such process."""
    try:
        data = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name is in parentheses and may itself hold spaces or parentheses.
    fields = data[data.rindex(")") + 2 :].split()
    return ProcInfo(state=fields[0], pgid=int(fields[2]), sid=int(fields[3]))


def proc_cmdline(pid: int) -> str:
    """The command line of ``pid`` (empty if it is gone)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace")


def pid_alive(pid: int, expect_in_cmdline: str | None = None) -> bool:
    """Whether ``pid`` is a live (not zombie) process, optionally checking its command line.

    The command-line check guards against PID reuse: a PID we recorded that now belongs to
    some other program must never be signalled. Zombies count as dead: orphaned daemons are
    reaped by PID 1, which may take a moment.
    """
    info = proc_info(pid)
    if info is None or info.state in ("Z", "X"):
        return False
    return expect_in_cmdline is None or expect_in_cmdline in proc_cmdline(pid)


def session_members(sid: int) -> list[int]:
    """Live processes of session ``sid`` (a setsid'd daemon of ours and its children)."""
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            info = proc_info(int(entry.name))
            if info and info.sid == sid and info.state not in ("Z", "X"):
                members.append(int(entry.name))
    return members


def read_pid(path: Path) -> int | None:
    """The PID in a pid file, or None if it is missing or garbled."""
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def spawn(cmd: Sequence[str | Path], *, log: Path, env: Mapping[str, str], cwd: Path) -> int:
    """Start a long-running process in a session of its own (``setsid``), output to ``log``.

    Its own session (and process group) means that (a) a Backend.AI daemon that signals its
    whole process group when failing hits only itself, never the launcher or CI's shell, and
    (b) a Ctrl-C in the launcher's terminal does not reach it. Returns the PID, which is
    also the session id and the process-group id.
    """
    args = [str(c) for c in cmd]
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a") as log_file:
        log_file.write(f"\n===== {time.strftime('%Y-%m-%d %H:%M:%S')} $ {shlex.join(args)}\n")
        log_file.flush()
        proc = subprocess.Popen(
            args,
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return proc.pid


def signal_and_wait(
    alive: Callable[[], list[int]],
    first: tuple[int, signal.Signals],
    name: str,
    group: int | None = None,
) -> None:
    """Stop processes gracefully, escalating when they do not exit in time.

    ``first`` is the (pid, signal) sent first; ``alive()`` tells which processes are left.
    After STOP_GRACE seconds the survivors get SIGTERM, then SIGKILL: the whole ``group`` if
    given (a session this launcher created, so it holds only our processes).
    """
    with contextlib.suppress(ProcessLookupError):
        os.kill(*first)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if wait_until(lambda: not alive(), STOP_GRACE):
            return
        survivors = alive()
        say(f"{name}: still running after {STOP_GRACE:.0f}s ({survivors}), sending {sig.name}")
        targets = [(os.killpg, group)] if group is not None else [(os.kill, p) for p in survivors]
        for send, target in targets:
            with contextlib.suppress(ProcessLookupError):
                send(target, sig)
    if not wait_until(lambda: not alive(), 10.0):
        raise LauncherError(f"{name}: could not stop {alive()}")
