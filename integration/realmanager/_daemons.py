"""The Backend.AI daemons (storage proxy, manager, agent): configs, start, stop."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from _base import (
    HOST,
    LauncherError,
    Ports,
    State,
    http_get_json,
    read_pid,
    require_ports_free,
    run,
    say,
    session_members,
    signal_and_wait,
    spawn,
    tail,
    wait_until,
)


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


def render_configs(state: State) -> None:
    """Write the release's configs into the state folder, ``@ROOT@`` -> the state folder.

    Rendered on every start (cheap), so that a moved state folder or an edited template is
    always picked up.
    """
    for directory in (state.cfg, state.keys, state.run, state.logs, state.markers, state.ipc):
        directory.mkdir(parents=True, exist_ok=True)
    state.vfolder_volume.mkdir(parents=True, exist_ok=True)
    for name in state.release.configs:
        text = (state.release.data_dir / name).read_text().replace("@ROOT@", str(state.root))
        (state.cfg / name).write_text(text)
    # A new, empty vfs volume is in the current layout (v3). Without version.txt the storage
    # proxy takes it for a v2 volume and warns that it needs an upgrade.
    version_file = state.vfolder_volume / "version.txt"
    if not version_file.exists() and not any(state.vfolder_volume.iterdir()):
        version_file.write_text("3\n")


def ensure_rpc_keypair(state: State) -> None:
    """The manager's RPC (ZeroMQ CURVE) keypair, made once with the venv's pyzmq."""
    if (state.keys / "manager.key_secret").exists():
        return
    say("creating the manager's RPC keypair")
    code = "import sys, zmq.auth; zmq.auth.create_certificates(sys.argv[1], 'manager')"
    run([state.bin("python"), "-c", code, state.keys])


def mgr_cli(state: State) -> list[str]:
    """``backend.ai mgr -f <rendered manager.toml>`` (the admin CLI, not start-server)."""
    return [str(state.bin("backend.ai")), "mgr", "-f", str(state.cfg / "manager.toml")]


@dataclass(frozen=True)
class BackendDaemon:
    """The storage proxy, the manager or the agent, each started in a session of its own.

    The daemon writes its own pid file (the path set in its config); the launcher records
    the session id beside it, to find every process of the daemon (workers included).
    """

    name: str
    cli_group: str  # `backend.ai <group> start-server`
    config: str  # rendered config file name
    ports_of: Callable[[Ports], tuple[int, ...]] = field(compare=False)
    #: Extra environment (the 26.9 agent's local patches switch on by variables).
    extra_env: Callable[[State], Mapping[str, str]] = field(default=lambda state: {}, compare=False)

    def ports(self, state: State) -> tuple[int, ...]:
        """The ports the daemon binds in this release's stack."""
        return self.ports_of(state.release.ports)

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
    lambda p: (p.storage_client, p.storage_manager, *p.storage_extra),
)
MANAGER = BackendDaemon("manager", "mgr", "manager.toml", lambda p: (p.manager, *p.manager_extra))


def start_backend_daemon(
    state: State,
    daemon: BackendDaemon,
    ready: Callable[[], bool],
    timeout: float,
    shown_logs: tuple[str, ...],
) -> None:
    """Start ``daemon`` in its own session and wait until ``ready()``; fail with its log.

    The daemon runs in the rendered-config folder: the dummy agent reads its settings from
    its working directory.
    """
    if members := daemon.members(state):
        say(f"{daemon.name} already running (pids {members})")
    else:
        require_ports_free(daemon.ports(state), daemon.name)
        say(f"starting {daemon.name}")
        log = state.log(daemon.name)
        env = {**daemon_env(state), **daemon.extra_env(state)}
        sid = spawn(daemon.command(state), log=log, env=env, cwd=state.cfg)
        daemon.session_file(state).write_text(f"{sid}\n")
    started = time.monotonic()
    up = wait_until(lambda: ready() or not daemon.members(state), timeout, interval=1.0)
    if not up or not ready():
        why = "exited" if not daemon.members(state) else f"not ready after {timeout:.0f}s"
        shown = "\n".join(f"--- {state.log(n)} ---\n{tail(state.log(n))}" for n in shown_logs)
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


def manager_answer(state: State) -> dict[str, object] | None:
    """``GET /`` of the manager, if it answers with its version document."""
    answer = http_get_json(state.release.endpoint + "/")
    return answer if isinstance(answer, dict) and "version" in answer else None
