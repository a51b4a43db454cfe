"""The data stores every release needs: PostgreSQL, Redis and etcd, on the release's ports."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import stat
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from _base import (
    HOST,
    LauncherError,
    State,
    http_get_json,
    is_root,
    pid_alive,
    read_pid,
    require_ports_free,
    run,
    say,
    signal_and_wait,
    spawn,
    tail,
    wait_until,
)


def manager_db_password(state: State) -> str:
    """The ``postgres`` password the manager logs in with, as its manager.toml says."""
    with (state.release.data_dir / "manager.toml").open("rb") as f:
        return str(tomllib.load(f)["db"]["password"])


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


def psql(state: State, sql_args: Sequence[str | Path], database: str = "postgres") -> str:
    """Run psql over TCP on 127.0.0.1 (trust auth; the password is the manager's anyway)."""
    env = dict(os.environ, PGPASSWORD=manager_db_password(state))
    connect = ["-h", HOST, "-p", str(state.release.ports.pg), "-U", "postgres", "-d", database]
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
    """Initialise (once) and start our own PostgreSQL cluster on the release's port."""
    socket_path = state.pg_socket_dir / f".s.PGSQL.{state.release.ports.pg}"
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
        f"port = {state.release.ports.pg}\n"
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
        require_ports_free([state.release.ports.pg], "PostgreSQL")
        log = state.log("postgres")
        log.touch()
        chown_to_postgres(log)  # the server writes it as the postgres user
        say(f"starting PostgreSQL on {HOST}:{state.release.ports.pg}")
        try:
            pg_ctl(state, "-l", log, "-w", "-t", "60", "start")
        except LauncherError as exc:
            raise LauncherError(f"{exc}\n--- {log} ---\n{tail(log)}") from None

    # Idempotent and cheap: the manager logs in with a password; its database must exist.
    password = manager_db_password(state).replace("'", "''")
    psql(state, ["-c", f"ALTER USER postgres WITH PASSWORD '{password}'"])
    exists = psql(state, ["-tA", "-c", "SELECT 1 FROM pg_database WHERE datname = 'backend'"])
    if exists.strip() != "1":
        psql(state, ["-c", "CREATE DATABASE backend"])


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


def redis_ping(state: State) -> bool:
    """Whether our Redis answers PING (inline protocol: no client needed)."""
    try:
        with socket.create_connection((HOST, state.release.ports.redis), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def start_redis(state: State) -> None:
    """Redis on the release's port, without persistence."""
    if pid := REDIS.pid(state):
        say(f"Redis already running (pid {pid})")
        return
    redis_server = shutil.which("redis-server") or "/usr/bin/redis-server"
    require_ports_free([state.release.ports.redis], "Redis")
    state.redis_dir.mkdir(parents=True, exist_ok=True)
    say(f"starting Redis on {HOST}:{state.release.ports.redis}")
    cmd = [redis_server, "--bind", HOST, "--port", str(state.release.ports.redis), "--save", ""]
    cmd += ["--appendonly", "no", "--daemonize", "no", "--dir", str(state.redis_dir)]
    pid = spawn(cmd, log=state.log("redis"), env=os.environ, cwd=state.redis_dir)
    REDIS.pid_file(state).write_text(f"{pid}\n")
    up = wait_until(lambda: redis_ping(state) or not pid_alive(pid), 30)
    if not up or not redis_ping(state):
        log = state.log("redis")
        raise LauncherError(f"Redis did not come up\n--- {log} ---\n{tail(log)}")


def find_etcd() -> str:
    """The etcd server binary (its name and path may differ between Debian releases)."""
    for candidate in (shutil.which("etcd"), "/usr/bin/etcd", "/usr/sbin/etcd"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise LauncherError("no etcd binary found (package etcd-server; run `install`)")


def etcd_healthy(state: State) -> bool:
    """Whether etcd answers its health check."""
    answer = http_get_json(f"http://{HOST}:{state.release.ports.etcd_client}/health", timeout=1)
    return isinstance(answer, dict) and answer.get("health") == "true"


def start_etcd(state: State) -> None:
    """A one-member etcd on the release's client and peer ports, own data dir."""
    if pid := ETCD.pid(state):
        say(f"etcd already running (pid {pid})")
        return
    require_ports_free([state.release.ports.etcd_client, state.release.ports.etcd_peer], "etcd")
    if not (state.etcd_data / "member").exists():
        (state.markers / "etcd-populated").unlink(missing_ok=True)  # a new, empty store
    state.etcd_data.mkdir(parents=True, exist_ok=True)
    state.etcd_data.chmod(0o700)  # etcd 3.5 (Debian 13) insists
    client_url = f"http://{HOST}:{state.release.ports.etcd_client}"
    peer_url = f"http://{HOST}:{state.release.ports.etcd_peer}"
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
    up = wait_until(lambda: etcd_healthy(state) or not pid_alive(pid), 60)
    if not up or not etcd_healthy(state):
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
