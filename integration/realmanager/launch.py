#!/usr/bin/env python3
"""Install, start and stop a REAL Backend.AI 23.09.10 manager on loopback.

The SDK's integration tests run against this manager (API ``v7.20230615``) and its storage
proxy (vfs backend), with PostgreSQL, Redis and etcd from Debian's packages and the manager
itself from PyPI, everything bound to 127.0.0.1.

Usage::

    python integration/realmanager/launch.py install  # Debian packages + the manager's venv
    python integration/realmanager/launch.py start    # install if needed, start everything
    python integration/realmanager/launch.py status   # what is running
    python integration/realmanager/launch.py env      # `export` lines for the tests
    python integration/realmanager/launch.py stop     # stop everything this launcher started

All state (databases, venv, logs, pid files, rendered configs, ...) lives in one folder:
``<project root>/.realmanager`` by default, or ``$BACKENDAI_REALMANAGER_STATE``.

Exit codes: 0 success; 3 when installing failed because a package registry could not be
reached or a package could not be downloaded (so CI can skip the tier loudly); 1 otherwise.

Standard library only (Python 3.11): it runs before anything else is installed.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import re
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

# ----------------------------------------------------------------------------- constants

SCRIPT_DIR = Path(__file__).resolve().parent
#: The project's own copies of configs, fixtures, pins: never /work/shared at run time.
DATA_DIR = SCRIPT_DIR / "data"
PROJECT_ROOT = SCRIPT_DIR.parent.parent
DEFAULT_STATE_DIR = PROJECT_ROOT / ".realmanager"
STATE_ENV_VAR = "BACKENDAI_REALMANAGER_STATE"
PYTHON_ENV_VAR = "BACKENDAI_REALMANAGER_PYTHON"

MANAGER_VERSION = "23.9.10"
API_VERSION = "v7.20230615"
CONSTRAINTS_FILE = DATA_DIR / "constraints-23.09.10.txt"
PIP_REQUIREMENTS = (
    f"backend.ai-manager=={MANAGER_VERSION}",
    f"backend.ai-storage-proxy=={MANAGER_VERSION}",
)
APT_PACKAGES = ("postgresql", "redis-server", "etcd-server", "etcd-client")

HOST = "127.0.0.1"  # the only address anything here binds to or talks to
PG_PORT = 8100
REDIS_PORT = 8110
ETCD_CLIENT_PORT = 8120
ETCD_PEER_PORT = 8121
MANAGER_PORT = 8091
STORAGE_CLIENT_PORT = 6021
STORAGE_MANAGER_PORT = 6022
#: aiomonitor ports set in manager.toml and storage-proxy.toml (checked free before start).
MANAGER_AIOMONITOR_PORTS = (48100, 49100)
STORAGE_AIOMONITOR_PORTS = (48300, 49300)
ENDPOINT = f"http://{HOST}:{MANAGER_PORT}"

FIXTURES = (
    "example-users",
    "example-keypairs",
    "example-set-user-main-access-keys",
    "example-resource-presets",
)
ADMIN_ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
USER_ACCESS_KEY = "AKIANABBDUSEREXAMPLE"

MANAGER_START_TIMEOUT = 180.0
STORAGE_START_TIMEOUT = 90.0
STOP_GRACE = 20.0  # seconds between a signal and the next, harsher, one

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_REGISTRY_UNREACHABLE = 3

#: Output of apt-get / pip meaning "the registry or a package could not be had", as opposed
#: to a bug of ours; such install failures exit with EXIT_REGISTRY_UNREACHABLE.
REGISTRY_FAILURE_PATTERNS = re.compile(
    "|".join(
        (
            # apt-get
            r"Failed to fetch",
            r"Could not resolve",
            r"Temporary failure resolving",
            r"Unable to locate package",
            r"has no installation candidate",
            r"Unable to connect to",
            r"Could not connect to",
            r"Connection failed",
            r"Connection timed out",
            r"Some index files failed to download",
            # pip
            r"No matching distribution found",
            r"Could not find a version that satisfies",
            r"Failed to establish a new connection",
            r"NewConnectionError",
            r"Max retries exceeded",
            r"ReadTimeoutError",
            r"ConnectTimeoutError",
            r"Temporary failure in name resolution",
            r"Name or service not known",
            r"Network is unreachable",
            r"ProxyError",
            r"SSLError",
            r"HTTP error [45]\d\d",
            r"Could not fetch URL",
        )
    )
)


# ----------------------------------------------------------------------------- errors


class LauncherError(Exception):
    """A failure reported with a message and an exit code (no traceback)."""

    exit_code: int = EXIT_FAILURE


class RegistryUnreachableError(LauncherError):
    """Installation failed because a package registry or a package could not be reached."""

    exit_code = EXIT_REGISTRY_UNREACHABLE


# ----------------------------------------------------------------------------- state folder


@dataclass(frozen=True)
class State:
    """Every path inside the state folder, in one place."""

    root: Path
    venv: Path  # the manager's own venv (Python 3.11)
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
    def at(cls, root: Path) -> State:
        """The layout under ``root``."""
        return cls(
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

    def bin(self, name: str) -> Path:
        """An executable of the manager's venv."""
        return self.venv / "bin" / name

    def log(self, name: str) -> Path:
        """The log file of one component."""
        return self.logs / f"{name}.log"


def state_from_env() -> State:
    """The state folder: ``$BACKENDAI_REALMANAGER_STATE`` or ``<project root>/.realmanager``."""
    override = os.environ.get(STATE_ENV_VAR)
    return State.at(Path(override).resolve() if override else DEFAULT_STATE_DIR)


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


def daemon_env(state: State) -> dict[str, str]:
    """The environment of the Backend.AI processes.

    ``BACKEND_*`` variables are dropped: the manager's config loader reads some of them
    (e.g. ``BACKEND_DB_ADDR``) as overrides, and CI may already have exported the SDK's
    ``BACKEND_ENDPOINT`` & co. from ``env``.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("BACKEND_")}
    env["DOCKER_HOST"] = f"unix://{state.docker_sock}"
    env["NO_PROXY"] = env["no_proxy"] = f"{HOST},localhost"
    env["PYTHONUNBUFFERED"] = "1"  # so that the logs are complete when we show their tail
    return env


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


# ----------------------------------------------------------------------------- install


def dpkg_installed(package: str) -> bool:
    """Whether a Debian package is installed (fast: no apt cache needed)."""
    proc = subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}", package],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    return proc.returncode == 0 and proc.stdout.strip() == "install ok installed"


@contextlib.contextmanager
def services_not_autostarted() -> Iterator[None]:
    """Keep apt from starting the packages' own services while installing.

    Those would listen on the default ports (PostgreSQL 5432, Redis 6379, etcd 2379); we run
    our own instances on ours. The standard way is a ``policy-rc.d`` answering 101 ("action
    forbidden"): Docker-style images already ship one; we add (then remove) ours if none.
    """
    path = Path("/usr/sbin/policy-rc.d")
    if path.exists():
        yield
        return
    path.write_text("#!/bin/sh\n# temporary, from backendai_aio's realmanager launcher\nexit 101\n")
    path.chmod(0o755)
    try:
        yield
    finally:
        path.unlink(missing_ok=True)


def apt_install(packages: Sequence[str], state: State) -> None:
    """``apt-get install``, running ``apt-get update`` first only if needed."""
    if not is_root():
        raise LauncherError(f"Debian packages {list(packages)} are missing; installing needs root")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    install_cmd = ["apt-get", "install", "-y", "-q", *packages]
    log = state.log("install")
    with services_not_autostarted():
        code, output = run_streamed(install_cmd, log=log, env=env)
        if code == 0:
            return
        say("apt-get install failed; running apt-get update and trying again")
        code, output = run_streamed(["apt-get", "update", "-q"], log=log, env=env)
        if code != 0:
            raise RegistryUnreachableError(f"apt-get update failed (exit {code}); see {log}")
        code, output = run_streamed(install_cmd, log=log, env=env)
    if code != 0:
        registry = REGISTRY_FAILURE_PATTERNS.search(output)
        error = RegistryUnreachableError if registry else LauncherError
        raise error(f"apt-get install {' '.join(packages)} failed (exit {code}); see {log}")


def ensure_system_packages(state: State) -> None:
    """PostgreSQL, Redis and etcd from Debian's packages (skipped when installed)."""
    missing = [p for p in APT_PACKAGES if not dpkg_installed(p)]
    if not missing:
        say(f"Debian packages present: {', '.join(APT_PACKAGES)}")
        return
    say(f"installing Debian packages: {', '.join(missing)}")
    apt_install(APT_PACKAGES, state)


PYTHON_PROBE = (
    "import sys; print(sys.version_info[:2] == (3, 11)); "
    "print(getattr(sys, '_base_executable', sys.executable))"
)


def find_python311() -> Path:
    """A Python 3.11 interpreter for the manager's venv (23.09 requires >=3.11,<3.12).

    Candidates: ``$BACKENDAI_REALMANAGER_PYTHON``, the interpreter running this script,
    ``python3.11`` on PATH, then the usual absolute paths. Each is asked for its *base*
    executable, so that the venv points at a real interpreter, not at a pyenv shim or at
    another venv that may go away.
    """
    candidates: list[str] = []
    if override := os.environ.get(PYTHON_ENV_VAR):
        candidates.append(override)
    if sys.version_info[:2] == (3, 11):
        candidates.append(sys.executable)
    if found := shutil.which("python3.11"):
        candidates.append(found)
    candidates += ["/usr/bin/python3.11", "/usr/local/bin/python3.11"]
    for candidate in candidates:
        try:
            proc = subprocess.run(
                [candidate, "-c", PYTHON_PROBE], capture_output=True, text=True, timeout=30
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        lines = proc.stdout.split()
        if proc.returncode == 0 and len(lines) == 2 and lines[0] == "True":
            return Path(lines[1])
    raise LauncherError(
        "no Python 3.11 interpreter found (tried "
        + ", ".join(dict.fromkeys(candidates))
        + "). Backend.AI 23.09 needs exactly 3.11: install one (pyenv, or Debian 12's "
        f"python3.11) or point ${PYTHON_ENV_VAR} at it."
    )


def venv_fingerprint() -> dict[str, str]:
    """What the venv is built from; when it changes (new pins, version) the venv is rebuilt."""
    return {
        "manager_version": MANAGER_VERSION,
        "constraints_sha256": hashlib.sha256(CONSTRAINTS_FILE.read_bytes()).hexdigest(),
        "requirements": " ".join(PIP_REQUIREMENTS),
    }


def venv_ready(state: State) -> bool:
    """Whether the venv's marker matches what we would install and its python still runs."""
    try:
        recorded = json.loads(state.venv_marker.read_text())
    except (OSError, ValueError):
        return False
    if any(recorded.get(k) != v for k, v in venv_fingerprint().items()):
        return False
    python = state.bin("python")
    if not os.access(python, os.X_OK):
        return False
    probe = subprocess.run([python, "-c", "pass"], capture_output=True)
    return probe.returncode == 0


def ensure_venv(state: State) -> None:
    """The manager's own venv with the release's lockfile pins (skipped when built).

    Without the pins pip picks a current yarl, and the manager answers 500 to every routed
    request ("Host '127.0.0.1:8091' cannot contain ':'").
    """
    if venv_ready(state):
        say(f"manager venv present: {state.venv}")
        return
    python = find_python311()
    say(f"building the manager venv with {python}")
    if state.venv.exists():
        shutil.rmtree(state.venv)  # stale or half-built: start over
    state.root.mkdir(parents=True, exist_ok=True)
    log = state.log("install")
    code, output = run_streamed([python, "-m", "venv", state.venv], log=log)
    if code != 0 and "ensurepip" in output and str(python).startswith("/usr/bin/"):
        # Debian ships venv support apart from its python3.X package.
        apt_install(["python3.11-venv"], state)
        shutil.rmtree(state.venv, ignore_errors=True)
        code, output = run_streamed([python, "-m", "venv", state.venv], log=log)
    if code != 0:
        raise LauncherError(f"creating the venv with {python} failed; see {log}")
    pip: list[str | Path] = [state.bin("python"), "-m", "pip", "install"]
    pip += ["--disable-pip-version-check", "--no-input", "--progress-bar", "off"]
    pip += ["-c", CONSTRAINTS_FILE, *PIP_REQUIREMENTS]
    code, output = run_streamed(pip, log=log)
    if code != 0:
        registry = REGISTRY_FAILURE_PATTERNS.search(output)
        error = RegistryUnreachableError if registry else LauncherError
        raise error(f"pip install of the manager failed (exit {code}); see {log}")
    marker = {**venv_fingerprint(), "python": str(python)}
    state.venv_marker.write_text(json.dumps(marker, indent=2) + "\n")


def install(state: State) -> None:
    """Everything that needs a registry: Debian packages, then the venv. Idempotent."""
    ensure_system_packages(state)
    ensure_venv(state)


# ----------------------------------------------------------------------------- configuration


def render_configs(state: State) -> None:
    """Write the project's configs into the state folder, ``@ROOT@`` -> the state folder.

    Rendered on every start (cheap), so that a moved state folder or an edited template is
    always picked up.
    """
    for directory in (state.cfg, state.keys, state.run, state.logs, state.markers, state.ipc):
        directory.mkdir(parents=True, exist_ok=True)
    state.vfolder_volume.mkdir(parents=True, exist_ok=True)
    for name in ("manager.toml", "storage-proxy.toml", "alembic.ini"):
        text = (DATA_DIR / name).read_text().replace("@ROOT@", str(state.root))
        (state.cfg / name).write_text(text)
    # A new, empty vfs volume is in the current layout (v3). Without version.txt the storage
    # proxy takes it for a v2 volume and warns that it needs an upgrade.
    version_file = state.vfolder_volume / "version.txt"
    if not version_file.exists() and not any(state.vfolder_volume.iterdir()):
        version_file.write_text("3\n")


def manager_db_password() -> str:
    """The ``postgres`` password the manager logs in with, as manager.toml says."""
    with (DATA_DIR / "manager.toml").open("rb") as f:
        return str(tomllib.load(f)["db"]["password"])


def ensure_rpc_keypair(state: State) -> None:
    """The manager's RPC (ZeroMQ CURVE) keypair, made once with the venv's pyzmq."""
    if (state.keys / "manager.key_secret").exists():
        return
    say("creating the manager's RPC keypair")
    code = "import sys, zmq.auth; zmq.auth.create_certificates(sys.argv[1], 'manager')"
    run([state.bin("python"), "-c", code, state.keys])


# ----------------------------------------------------------------------------- PostgreSQL


def find_pg_bindir() -> Path:
    """``/usr/lib/postgresql/<N>/bin`` with the highest N (Debian 12: 15, Debian 13: 17)."""
    found: list[tuple[int, Path]] = []
    for bindir in Path("/usr/lib/postgresql").glob("*/bin"):
        if bindir.parent.name.isdigit() and (bindir / "initdb").exists():
            found.append((int(bindir.parent.name), bindir))
    if not found:
        raise LauncherError("no PostgreSQL under /usr/lib/postgresql/<N>/bin (run `install`)")
    return max(found)[1]


def as_postgres(cmd: Sequence[str | Path]) -> list[str]:
    """PostgreSQL refuses to run as root: run server commands as the ``postgres`` user."""
    prefix = ["runuser", "-u", "postgres", "--"] if is_root() else []
    return prefix + [str(c) for c in cmd]


def chown_to_postgres(path: Path) -> None:
    """Hand ``path`` to the ``postgres`` user (when we are root and it runs the server)."""
    if is_root():
        shutil.chown(path, "postgres", "postgres")


def ensure_postgres_can_traverse(path: Path) -> None:
    """Let the ``postgres`` user reach ``path`` through every ancestor.

    Where an ancestor lacks the search bit for others (e.g. a checkout under /root), add
    only that bit (o+x: enter, not list), and say so.
    """
    if not is_root():
        return
    for ancestor in reversed(path.parents):
        mode = ancestor.stat().st_mode
        if not mode & stat.S_IXOTH:
            say(f"granting o+x on {ancestor} so that the postgres user can reach {path}")
            ancestor.chmod(mode | stat.S_IXOTH)


def postgres_pid(state: State) -> int | None:
    """The postmaster's PID from its own pid file, if it is running."""
    pid = read_pid(state.pgdata / "postmaster.pid")
    return pid if pid and pid_alive(pid, "postgres") else None


def pg_ctl(state: State, *args: str | Path) -> None:
    """Run ``pg_ctl -D <pgdata> ...`` as the postgres user."""
    run(as_postgres([find_pg_bindir() / "pg_ctl", "-D", state.pgdata, *args]), cwd=state.pg)


def psql(sql_args: Sequence[str | Path], database: str = "postgres") -> str:
    """Run psql over TCP on 127.0.0.1 (trust auth; the password is the manager's anyway)."""
    env = dict(os.environ, PGPASSWORD=manager_db_password())
    connect = ["-h", HOST, "-p", str(PG_PORT), "-U", "postgres", "-d", database]
    psql_bin = find_pg_bindir() / "psql"
    return run([psql_bin, "-X", "-q", "-v", "ON_ERROR_STOP=1", *connect, *sql_args], env=env)


def init_postgres(state: State) -> None:
    """Create the cluster once: ``initdb --auth=trust`` as the postgres user."""
    bindir = find_pg_bindir()
    say(f"initialising a PostgreSQL {bindir.parent.name} cluster in {state.pgdata}")
    shutil.rmtree(state.pgdata, ignore_errors=True)  # a half-made one from a failed run
    (state.markers / "db-populated").unlink(missing_ok=True)  # a new, empty database
    initdb: list[str | Path] = [bindir / "initdb", "-D", state.pgdata, "--auth=trust"]
    run(as_postgres([*initdb, "-U", "postgres", "--encoding=UTF8", "--no-locale"]), cwd=state.pg)
    with (state.pgdata / "postgresql.conf").open("a") as conf:
        conf.write("\ninclude_if_exists = 'realmanager.conf'\n")


def start_postgres(state: State) -> None:
    """Initialise (once) and start our own PostgreSQL cluster on 127.0.0.1:8100."""
    socket_path = state.pg_socket_dir / f".s.PGSQL.{PG_PORT}"
    if len(str(socket_path)) > 107:  # the sun_path limit of Unix sockets
        raise LauncherError(f"state folder path too long for a Unix socket: {socket_path}")
    state.pg_socket_dir.mkdir(parents=True, exist_ok=True)
    ensure_postgres_can_traverse(state.pg)
    chown_to_postgres(state.pg)
    chown_to_postgres(state.pg_socket_dir)
    if not (state.pgdata / "PG_VERSION").exists():
        init_postgres(state)
    # Our settings, rewritten on every start so that they follow a moved state folder.
    socket_dir = str(state.pg_socket_dir).replace("'", "''")
    settings = (
        f"listen_addresses = '{HOST}'\n"
        f"port = {PG_PORT}\n"
        f"unix_socket_directories = '{socket_dir}'\n"
        # A throw-away test database: durability only costs time here.
        "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
    )
    conf_path = state.pgdata / "realmanager.conf"
    conf_path.write_text(settings)
    chown_to_postgres(conf_path)

    if pid := postgres_pid(state):
        say(f"PostgreSQL already running (pid {pid})")
    else:
        require_ports_free([PG_PORT], "PostgreSQL")
        log = state.log("postgres")
        log.touch()
        chown_to_postgres(log)  # the server writes it as the postgres user
        say(f"starting PostgreSQL on {HOST}:{PG_PORT}")
        try:
            pg_ctl(state, "-l", log, "-w", "-t", "60", "start")
        except LauncherError as exc:
            raise LauncherError(f"{exc}\n--- {log} ---\n{tail(log)}") from None

    # Idempotent and cheap: the manager logs in with a password; its database must exist.
    password = manager_db_password().replace("'", "''")
    psql(["-c", f"ALTER USER postgres WITH PASSWORD '{password}'"])
    exists = psql(["-tA", "-c", "SELECT 1 FROM pg_database WHERE datname = 'backend'"])
    if exists.strip() != "1":
        psql(["-c", "CREATE DATABASE backend"])


def stop_postgres(state: State) -> None:
    """``pg_ctl stop`` in fast mode, escalating to immediate mode if that fails."""
    pid = postgres_pid(state)
    if not pid:
        return
    say(f"stopping PostgreSQL (pid {pid})")
    try:
        pg_ctl(state, "-m", "fast", "-w", "-t", "60", "stop")
    except LauncherError:
        say("PostgreSQL did not stop in fast mode; using immediate mode")
        pg_ctl(state, "-m", "immediate", "-w", "-t", "30", "stop")
    if not wait_until(lambda: not pid_alive(pid), 30):
        raise LauncherError(f"PostgreSQL (pid {pid}) did not exit")


# ----------------------------------------------------------------------------- Redis and etcd


@dataclass(frozen=True)
class SimpleService:
    """A foreground daemon (Redis, etcd) whose PID the launcher records itself."""

    name: str
    expect_in_cmdline: str  # the PID-reuse guard

    def pid_file(self, state: State) -> Path:
        """The launcher's record of the PID."""
        return state.run / f"{self.name}.launcher.pid"

    def pid(self, state: State) -> int | None:
        """The recorded PID, if that process is still this service."""
        pid = read_pid(self.pid_file(state))
        return pid if pid and pid_alive(pid, self.expect_in_cmdline) else None


REDIS = SimpleService("redis", "redis-server")
ETCD = SimpleService("etcd", "etcd")


def redis_ping() -> bool:
    """Whether Redis on 127.0.0.1:8110 answers PING (inline protocol: no client needed)."""
    try:
        with socket.create_connection((HOST, REDIS_PORT), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def start_redis(state: State) -> None:
    """Redis on 127.0.0.1:8110, without persistence."""
    if pid := REDIS.pid(state):
        say(f"Redis already running (pid {pid})")
        return
    redis_server = shutil.which("redis-server") or "/usr/bin/redis-server"
    require_ports_free([REDIS_PORT], "Redis")
    state.redis_dir.mkdir(parents=True, exist_ok=True)
    say(f"starting Redis on {HOST}:{REDIS_PORT}")
    cmd = [redis_server, "--bind", HOST, "--port", str(REDIS_PORT), "--save", ""]
    cmd += ["--appendonly", "no", "--daemonize", "no", "--dir", str(state.redis_dir)]
    pid = spawn(cmd, log=state.log("redis"), env=os.environ, cwd=state.redis_dir)
    REDIS.pid_file(state).write_text(f"{pid}\n")
    if not wait_until(lambda: redis_ping() or not pid_alive(pid), 30) or not redis_ping():
        log = state.log("redis")
        raise LauncherError(f"Redis did not come up\n--- {log} ---\n{tail(log)}")


def find_etcd() -> str:
    """The etcd server binary (its name and path may differ between Debian releases)."""
    for candidate in (shutil.which("etcd"), "/usr/bin/etcd", "/usr/sbin/etcd"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise LauncherError("no etcd binary found (package etcd-server; run `install`)")


def etcd_healthy() -> bool:
    """Whether etcd answers its health check."""
    answer = http_get_json(f"http://{HOST}:{ETCD_CLIENT_PORT}/health", timeout=1)
    return isinstance(answer, dict) and answer.get("health") == "true"


def start_etcd(state: State) -> None:
    """A one-member etcd: client 127.0.0.1:8120, peer 127.0.0.1:8121, own data dir."""
    if pid := ETCD.pid(state):
        say(f"etcd already running (pid {pid})")
        return
    require_ports_free([ETCD_CLIENT_PORT, ETCD_PEER_PORT], "etcd")
    if not (state.etcd_data / "member").exists():
        (state.markers / "etcd-populated").unlink(missing_ok=True)  # a new, empty store
    state.etcd_data.mkdir(parents=True, exist_ok=True)
    state.etcd_data.chmod(0o700)  # etcd 3.5 (Debian 13) insists
    client_url = f"http://{HOST}:{ETCD_CLIENT_PORT}"
    peer_url = f"http://{HOST}:{ETCD_PEER_PORT}"
    cmd = [find_etcd(), "--name", "realmanager", "--data-dir", str(state.etcd_data)]
    cmd += ["--listen-client-urls", client_url, "--advertise-client-urls", client_url]
    cmd += ["--listen-peer-urls", peer_url, "--initial-advertise-peer-urls", peer_url]
    cmd += ["--initial-cluster", f"realmanager={peer_url}", "--initial-cluster-state", "new"]
    cmd += ["--initial-cluster-token", "backendai-realmanager"]
    # ETCD_* variables would clash with (or silently override) our flags.
    env = {k: v for k, v in os.environ.items() if not k.startswith("ETCD_")}
    say(f"starting etcd on {client_url}")
    pid = spawn(cmd, log=state.log("etcd"), env=env, cwd=state.root)
    ETCD.pid_file(state).write_text(f"{pid}\n")
    if not wait_until(lambda: etcd_healthy() or not pid_alive(pid), 60) or not etcd_healthy():
        log = state.log("etcd")
        raise LauncherError(f"etcd did not come up\n--- {log} ---\n{tail(log)}")


def stop_simple(state: State, service: SimpleService) -> None:
    """Stop Redis or etcd by the PID the launcher recorded (SIGTERM: both exit cleanly)."""
    if pid := service.pid(state):
        say(f"stopping {service.name} (pid {pid})")
        signal_and_wait(
            lambda: [pid] if pid_alive(pid, service.expect_in_cmdline) else [],
            (pid, signal.SIGTERM),
            service.name,
        )
    service.pid_file(state).unlink(missing_ok=True)


# ----------------------------------------------------------------------------- schema and data


def mgr_cli(state: State) -> list[str]:
    """``backend.ai mgr -f <rendered manager.toml>`` (the admin CLI, not start-server)."""
    return [str(state.bin("backend.ai")), "mgr", "-f", str(state.cfg / "manager.toml")]


def populate(state: State) -> None:
    """Schema, fixtures and image row (once per database); etcd keys (once per store).

    Two markers, each dropped whenever its store is created afresh, so that a wiped
    database or etcd store is filled again without touching the other.
    """
    env = daemon_env(state)
    mgr = mgr_cli(state)
    db_marker = state.markers / "db-populated"
    etcd_marker = state.markers / "etcd-populated"
    if not db_marker.exists():
        say("creating the schema and loading fixtures (once)")
        alembic_ini = state.cfg / "alembic.ini"
        run([*mgr, "schema", "oneshot", "-f", str(alembic_ini)], env=env, cwd=state.root)
        for fixture in FIXTURES:
            path = DATA_DIR / "fixtures" / f"{fixture}.json"
            run([*mgr, "fixture", "populate", str(path)], env=env, cwd=state.root)
        # `mgr image rescan` needs the internet: insert one image row ourselves.
        psql(["-f", DATA_DIR / "image.sql"], database="backend")
        db_marker.touch()
    if not etcd_marker.exists():
        say("putting the etcd configuration keys (once)")
        puts = [
            ["put", "config/redis/addr", f"{HOST}:{REDIS_PORT}"],
            ["put-json", "config/redis/redis_helper_config", "etcd.redis-helper.json"],
            ["put-json", "volumes", "etcd.volumes.json"],
            ["put", "config/system/timezone", "UTC"],
            ["put", "config/docker/registry/cr.backend.ai", "https://cr.backend.ai"],
            ["put", "config/docker/registry/cr.backend.ai/type", "docker"],
            ["put", "config/plugins/scheduler/fifo/num_retries_to_skip", "3"],
        ]
        for put in puts:
            if put[0] == "put-json":
                put[2] = str(DATA_DIR / put[2])
            run([*mgr, "etcd", *put], env=env, cwd=state.root)
        etcd_marker.touch()


# ----------------------------------------------------------------------------- Backend.AI


@dataclass(frozen=True)
class BackendDaemon:
    """The storage proxy or the manager, each started in a session of its own.

    The daemon writes its own pid file (the path set in its config); the launcher records
    the session id beside it, to find every process of the daemon (workers included).
    """

    name: str
    cli_group: str  # `backend.ai <group> start-server`
    config: str  # rendered config file name
    ports: tuple[int, ...]

    def own_pid_file(self, state: State) -> Path:
        """The pid file the daemon writes itself."""
        return state.run / f"{self.name}.pid"

    def session_file(self, state: State) -> Path:
        """The launcher's record of the daemon's session id."""
        return state.run / f"{self.name}.launcher.sid"

    def members(self, state: State) -> list[int]:
        """Live processes of the session this launcher created for the daemon."""
        sid = read_pid(self.session_file(state))
        return session_members(sid) if sid else []

    def command(self, state: State) -> list[str]:
        """The start command. ``start-server`` takes its own ``-f``: ``mgr -f`` stops short."""
        backend_ai = str(state.bin("backend.ai"))
        return [backend_ai, self.cli_group, "start-server", "-f", str(state.cfg / self.config)]


STORAGE_PROXY = BackendDaemon(
    "storage-proxy",
    "storage",
    "storage-proxy.toml",
    (STORAGE_CLIENT_PORT, STORAGE_MANAGER_PORT, *STORAGE_AIOMONITOR_PORTS),
)
MANAGER = BackendDaemon("manager", "mgr", "manager.toml", (MANAGER_PORT, *MANAGER_AIOMONITOR_PORTS))


def start_backend_daemon(
    state: State, daemon: BackendDaemon, ready: Callable[[], bool], timeout: float
) -> None:
    """Start ``daemon`` in its own session and wait until ``ready()``; fail with its log."""
    if members := daemon.members(state):
        say(f"{daemon.name} already running (pids {members})")
    else:
        require_ports_free(daemon.ports, daemon.name)
        say(f"starting {daemon.name}")
        log = state.log(daemon.name)
        sid = spawn(daemon.command(state), log=log, env=daemon_env(state), cwd=state.root)
        daemon.session_file(state).write_text(f"{sid}\n")
    started = time.monotonic()
    up = wait_until(lambda: ready() or not daemon.members(state), timeout, interval=1.0)
    if not up or not ready():
        why = "exited" if not daemon.members(state) else f"not ready after {timeout:.0f}s"
        logs = [STORAGE_PROXY.name, MANAGER.name]
        shown = "\n".join(f"--- {state.log(n)} ---\n{tail(state.log(n))}" for n in logs)
        raise LauncherError(f"{daemon.name} {why}\n{shown}")
    say(f"{daemon.name} ready ({time.monotonic() - started:.0f}s)")


def stop_backend_daemon(state: State, daemon: BackendDaemon) -> None:
    """SIGINT the daemon by its own pid file, escalating on the session we created."""
    sid = read_pid(daemon.session_file(state))
    if sid and (members := daemon.members(state)):
        own_pid = read_pid(daemon.own_pid_file(state))
        # Signal the daemon's own PID only if it is one of *our* session's processes.
        target = own_pid if own_pid in members else sid
        say(f"stopping {daemon.name} (pid {target}, session {sid})")
        alive = lambda: daemon.members(state)  # noqa: E731
        signal_and_wait(alive, (target, signal.SIGINT), daemon.name, group=sid)
    daemon.session_file(state).unlink(missing_ok=True)


def manager_answer() -> dict[str, object] | None:
    """``GET /`` of the manager, if it answers with its version document."""
    answer = http_get_json(ENDPOINT + "/")
    return answer if isinstance(answer, dict) and "version" in answer else None


# ----------------------------------------------------------------------------- commands


def cmd_install(state: State) -> int:
    """``install``: Debian packages and the manager's venv."""
    started = time.monotonic()
    install(state)
    say(f"installed ({time.monotonic() - started:.0f}s)")
    return EXIT_OK


def cmd_start(state: State) -> int:
    """``start``: install if needed, then bring up whatever is not running yet."""
    if MANAGER.members(state) and (answer := manager_answer()):
        say(f"already running: {ENDPOINT} answers {answer} (nothing to do)")
        return EXIT_OK
    started = time.monotonic()
    install(state)
    render_configs(state)
    ensure_rpc_keypair(state)
    try:
        start_postgres(state)
        start_redis(state)
        start_etcd(state)
        populate(state)
        storage_ready = lambda: port_open(STORAGE_MANAGER_PORT)  # noqa: E731
        start_backend_daemon(state, STORAGE_PROXY, storage_ready, STORAGE_START_TIMEOUT)
        manager_ready = lambda: manager_answer() is not None  # noqa: E731
        start_backend_daemon(state, MANAGER, manager_ready, MANAGER_START_TIMEOUT)
    except BaseException:
        # Leave nothing half-started behind; the logs stay for inspection.
        say("start failed; stopping what runs")
        with contextlib.suppress(Exception):
            stop_all(state)
        raise
    took = time.monotonic() - started
    say(f"running: {ENDPOINT} answers {manager_answer()} (start took {took:.0f}s)")
    return EXIT_OK


def stop_all(state: State) -> None:
    """Stop in dependency order: the daemons first, then Redis, etcd, PostgreSQL."""
    steps: list[Callable[[], None]] = [
        lambda: stop_backend_daemon(state, MANAGER),
        lambda: stop_backend_daemon(state, STORAGE_PROXY),
        lambda: stop_simple(state, REDIS),
        lambda: stop_simple(state, ETCD),
        lambda: stop_postgres(state),
    ]
    errors: list[str] = []
    for step in steps:
        try:
            step()
        except LauncherError as exc:  # keep stopping the rest
            errors.append(str(exc))
    if errors:
        raise LauncherError("\n".join(errors))


def cmd_stop(state: State) -> int:
    """``stop``: everything this launcher started, and nothing else."""
    if not state.root.exists():
        say("nothing to stop (no state folder)")
        return EXIT_OK
    stop_all(state)
    say("stopped")
    return EXIT_OK


def cmd_status(state: State) -> int:
    """``status``: print what is running; exit 0 only if everything is up."""
    rows: list[tuple[str, str | None]] = []
    pg = postgres_pid(state)
    rows.append(("postgres", f"running (pid {pg}) on {HOST}:{PG_PORT}" if pg else None))
    for service, port in ((REDIS, REDIS_PORT), (ETCD, ETCD_CLIENT_PORT)):
        pid = service.pid(state)
        rows.append((service.name, f"running (pid {pid}) on {HOST}:{port}" if pid else None))
    for daemon in (STORAGE_PROXY, MANAGER):
        members = daemon.members(state)
        rows.append((daemon.name, f"running (pids {members})" if members else None))
    answer = manager_answer()
    rows.append(("endpoint", f"{ENDPOINT} answers {answer}" if answer else None))
    for name, text in rows:
        print(f"{name:14} {text or 'not running'}")
    print(f"{'state folder':14} {state.root}")
    return EXIT_OK if all(text for _, text in rows) else EXIT_FAILURE


def keypair(access_key: str) -> tuple[str, str]:
    """(access key, secret key) from the project's copy of the keypair fixture."""
    data = json.loads((DATA_DIR / "fixtures" / "example-keypairs.json").read_text())
    for row in data["keypairs"]:
        if row["access_key"] == access_key:
            return str(row["access_key"]), str(row["secret_key"])
    raise LauncherError(f"keypair {access_key} is not in the fixtures")


def cmd_env(state: State) -> int:
    """``env``: shell ``export`` lines for the tests (``eval "$(launch.py env)"``)."""
    admin_ak, admin_sk = keypair(ADMIN_ACCESS_KEY)
    user_ak, user_sk = keypair(USER_ACCESS_KEY)
    values = {
        "BACKEND_ENDPOINT": ENDPOINT,
        "BACKEND_ACCESS_KEY": admin_ak,
        "BACKEND_SECRET_KEY": admin_sk,
        "BACKEND_USER_ACCESS_KEY": user_ak,
        "BACKEND_USER_SECRET_KEY": user_sk,
    }
    for name, value in values.items():
        print(f"export {name}={shlex.quote(value)}")
    return EXIT_OK


COMMANDS: dict[str, tuple[Callable[[State], int], str]] = {
    "install": (cmd_install, "install the Debian packages and the manager's venv (idempotent)"),
    "start": (cmd_start, "install if needed, start everything, wait for the manager"),
    "stop": (cmd_stop, "stop everything this launcher started"),
    "status": (cmd_status, "print what is running (exit 0 only if all is up)"),
    "env": (cmd_env, "print `export` lines: endpoint and keypairs"),
}


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and run one command; return the exit code."""
    parser = argparse.ArgumentParser(
        prog="launch.py",
        description=f"Run a real Backend.AI 23.09.10 manager (API {API_VERSION}) on {HOST}.",
        epilog=f"State folder: ${STATE_ENV_VAR} or {DEFAULT_STATE_DIR}. Exit codes: 0 ok, "
        "3 package registry unreachable while installing, 1 any other failure.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (_, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text)
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command][0](state_from_env())
    except LauncherError as exc:
        print(f"[realmanager] error: {exc}", file=sys.stderr, flush=True)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
