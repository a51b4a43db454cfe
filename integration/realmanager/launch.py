#!/usr/bin/env python3
"""Install, start and stop a REAL Backend.AI stack on loopback, of one of two releases.

The SDK's integration tests run against these stacks:

- ``--release 23.09`` (the default): 23.09.10 (API ``v7.20230615``), manager and storage proxy
  (vfs), no agent: sessions stay PENDING.
- ``--release 26.9``: 26.9.6 (API ``v9.20250722``), manager, storage proxy and the release's
  no-Docker dummy agent, so sessions reach RUNNING.

Each runs with its own PostgreSQL, Redis and etcd (Debian's packages) on its own ports, the
Backend.AI wheels from PyPI in its own venv, everything bound to 127.0.0.1.

Usage::

    python integration/realmanager/launch.py [--release R] install  # packages + venv
    python integration/realmanager/launch.py [--release R] start    # install if needed, start
    python integration/realmanager/launch.py [--release R] status   # what is running
    python integration/realmanager/launch.py [--release R] env      # `export` lines
    python integration/realmanager/launch.py [--release R] stop     # stop what it started

All state of a release (databases, venv, logs, pid files, rendered configs, ...) lives in one
folder: ``<project root>/.realmanager`` (23.09) or ``.realmanager-26.9``, or the folder the
release's environment variable names (``BACKENDAI_REALMANAGER_STATE``,
``BACKENDAI_REALMANAGER_26_STATE``).

Exit codes: 0 success; 3 when installing failed because a package registry could not be
reached or a package could not be downloaded (so CI can skip the tier loudly); 1 otherwise.

Standard library only (Python 3.11): it runs before anything else is installed. The modules
beside it hold the parts: ``_base`` (releases, state folder, processes), ``_install``,
``_stores`` (PostgreSQL, Redis, etcd), ``_daemons`` and one module per release.
"""

from __future__ import annotations

import argparse
import contextlib
import shlex
import sys
import time
from collections.abc import Callable, Sequence

import _release269
from _base import (
    ADMIN_ACCESS_KEY,
    EXIT_FAILURE,
    EXIT_OK,
    HOST,
    USER_ACCESS_KEY,
    LauncherError,
    Release,
    State,
    port_open,
    say,
)
from _daemons import (
    MANAGER,
    STORAGE_PROXY,
    ensure_rpc_keypair,
    manager_answer,
    render_configs,
    start_backend_daemon,
    stop_backend_daemon,
)
from _install import install
from _release2309 import RELEASE as RELEASE_2309
from _stores import (
    ETCD,
    REDIS,
    postgres_pid,
    start_etcd,
    start_postgres,
    start_redis,
    stop_postgres,
    stop_simple,
)

RELEASES: dict[str, Release] = {r.key: r for r in (RELEASE_2309, _release269.RELEASE)}

MANAGER_START_TIMEOUT = 180.0
STORAGE_START_TIMEOUT = 90.0
AGENT_START_TIMEOUT = 120.0


def shown_logs(state: State) -> tuple[str, ...]:
    """The daemons' logs whose tails a failed start prints."""
    names = [STORAGE_PROXY.name, MANAGER.name]
    return (*names, _release269.AGENT.name) if state.release.agent else tuple(names)


def install_all(state: State) -> None:
    """The Debian packages, the release's venv and (26.9) the kernel runner's venv."""
    install(state)
    if state.release.agent:
        _release269.install_runner(state)


def cmd_install(state: State) -> int:
    """``install``: Debian packages and the release's venv."""
    started = time.monotonic()
    install_all(state)
    say(f"installed {state.release.label} ({time.monotonic() - started:.0f}s)")
    return EXIT_OK


def all_running(state: State) -> bool:
    """Whether every daemon of the release runs and the manager answers."""
    daemons = [MANAGER, STORAGE_PROXY] + ([_release269.AGENT] if state.release.agent else [])
    return all(d.members(state) for d in daemons) and manager_answer(state) is not None


def cmd_start(state: State) -> int:
    """``start``: install if needed, then bring up whatever is not running yet."""
    release = state.release
    if all_running(state):
        say(f"already running: {release.endpoint} answers {manager_answer(state)} (nothing to do)")
        return EXIT_OK
    started = time.monotonic()
    install_all(state)
    render_configs(state)
    ensure_rpc_keypair(state)
    if release.agent:
        _release269.install_patches(state)
    logs = shown_logs(state)
    try:
        start_postgres(state)
        start_redis(state)
        start_etcd(state)
        release.populate(state)
        storage_ready = lambda: port_open(release.ports.storage_manager)  # noqa: E731
        start_backend_daemon(state, STORAGE_PROXY, storage_ready, STORAGE_START_TIMEOUT, logs)
        manager_ready = lambda: manager_answer(state) is not None  # noqa: E731
        start_backend_daemon(state, MANAGER, manager_ready, MANAGER_START_TIMEOUT, logs)
        if release.agent:
            agent_ready = lambda: _release269.agent_alive(state)  # noqa: E731
            agent = _release269.AGENT
            start_backend_daemon(state, agent, agent_ready, AGENT_START_TIMEOUT, logs)
    except BaseException:
        # Leave nothing half-started behind; the logs stay for inspection.
        say("start failed; stopping what runs")
        with contextlib.suppress(Exception):
            stop_all(state)
        raise
    took = time.monotonic() - started
    answer = manager_answer(state)
    say(f"running: {release.endpoint} answers {answer} (start took {took:.0f}s)")
    return EXIT_OK


def stop_all(state: State) -> None:
    """Stop in dependency order: the daemons first, then Redis, etcd, PostgreSQL."""
    steps: list[Callable[[], None]] = []
    if state.release.agent:
        steps.append(lambda: stop_backend_daemon(state, _release269.AGENT))
        steps.append(lambda: _release269.stop_runners(state))
    steps += [
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
    say(f"stopped {state.release.label}")
    return EXIT_OK


def cmd_status(state: State) -> int:
    """``status``: print what is running; exit 0 only if everything is up."""
    ports = state.release.ports
    rows: list[tuple[str, str | None]] = []
    pg = postgres_pid(state)
    rows.append(("postgres", f"running (pid {pg}) on {HOST}:{ports.pg}" if pg else None))
    for service, port in ((REDIS, ports.redis), (ETCD, ports.etcd_client)):
        pid = service.pid(state)
        rows.append((service.name, f"running (pid {pid}) on {HOST}:{port}" if pid else None))
    daemons = [STORAGE_PROXY, MANAGER] + ([_release269.AGENT] if state.release.agent else [])
    for daemon in daemons:
        members = daemon.members(state)
        rows.append((daemon.name, f"running (pids {members})" if members else None))
    answer = manager_answer(state)
    endpoint = state.release.endpoint
    rows.append(("endpoint", f"{endpoint} answers {answer}" if answer else None))
    for name, text in rows:
        print(f"{name:14} {text or 'not running'}")
    print(f"{'state folder':14} {state.root}")
    return EXIT_OK if all(text for _, text in rows) else EXIT_FAILURE


def cmd_env(state: State) -> int:
    """``env``: shell ``export`` lines for the tests (``eval "$(launch.py env)"``)."""
    admin_ak, admin_sk = state.release.keypair(ADMIN_ACCESS_KEY)
    user_ak, user_sk = state.release.keypair(USER_ACCESS_KEY)
    values = {
        "BACKEND_ENDPOINT": state.release.endpoint,
        "BACKEND_ACCESS_KEY": admin_ak,
        "BACKEND_SECRET_KEY": admin_sk,
        "BACKEND_USER_ACCESS_KEY": user_ak,
        "BACKEND_USER_SECRET_KEY": user_sk,
    }
    for name, value in values.items():
        print(f"export {name}={shlex.quote(value)}")
    return EXIT_OK


COMMANDS: dict[str, tuple[Callable[[State], int], str]] = {
    "install": (cmd_install, "install the Debian packages and the release's venv (idempotent)"),
    "start": (cmd_start, "install if needed, start everything, wait for the manager"),
    "stop": (cmd_stop, "stop everything this launcher started"),
    "status": (cmd_status, "print what is running (exit 0 only if all is up)"),
    "env": (cmd_env, "print `export` lines: endpoint and keypairs"),
}


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and run one command; return the exit code."""
    parser = argparse.ArgumentParser(
        prog="launch.py",
        description=f"Run a real Backend.AI stack on {HOST}.",
        epilog="Exit codes: 0 ok, 3 package registry unreachable while installing, "
        "1 any other failure.",
    )
    parser.add_argument(
        "--release",
        choices=sorted(RELEASES),
        default=RELEASE_2309.key,
        help=f"which release (default {RELEASE_2309.key})",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (_, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text)
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command][0](State.of(RELEASES[args.release]))
    except LauncherError as exc:
        print(f"[realmanager] error: {exc}", file=sys.stderr, flush=True)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
