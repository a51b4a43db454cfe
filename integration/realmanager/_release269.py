"""Backend.AI 26.9.6 (API ``v9.20250722``): manager, storage proxy and the dummy agent.

What differs from 23.09 (the facts behind each step are in README.md): Python 3.13; the
agent's no-Docker ``dummy`` backend, patched locally so that sessions stay RUNNING; role
presets and the permission graph that ``schema oneshot`` and the fixtures leave empty;
container registries as database rows instead of etcd keys.
"""

from __future__ import annotations

import shutil
import signal
import sysconfig
from pathlib import Path

from _base import (
    HOST,
    PROJECT_ROOT,
    SCRIPT_DIR,
    LauncherError,
    Ports,
    Release,
    State,
    read_pid,
    run,
    say,
    session_members,
    signal_and_wait,
)
from _daemons import BackendDaemon, daemon_env, mgr_cli
from _install import ensure_venv
from _stores import manager_db_password, psql

DATA_DIR = SCRIPT_DIR / "data-26.9"

#: In the order their foreign keys need.
FIXTURES = (
    "example-users",
    "example-keypairs",
    "example-resource-slot-types",
    "example-resource-presets",
    "example-image-python",
)
AGENT_ID = "i-bai26-dummy-agent"  # agent.toml's [agent] id
#: The local patches (data-26.9/patches/) switch on by these variables, in the agent only.
KEEPALIVE_ENV_VAR = "BAI_LOCAL_DUMMY_KEEPALIVE"
#: The kernel runner's own venv (the release's `backend.ai-kernel` and ipykernel).
RUNNER_REQUIREMENTS = ("backend.ai-kernel==26.9.6", "ipykernel")
RUNNER_CONSTRAINTS = "constraints-kvenv-26.9.6.txt"
#: The REPL ports of the local kernel runners, two per kernel.
RUNNER_PORTS = "9800-9899"

PORTS = Ports(
    pg=9100,
    redis=9110,
    etcd_client=9120,
    etcd_peer=9121,
    manager=9091,
    storage_client=9021,
    storage_manager=9022,
    # internal API and aiomonitor ports, as the configs set. All below 32768: a port in the
    # kernel's ephemeral range (32768-60999) may be the local end of some outgoing
    # connection at the moment a daemon binds it, and the daemon then fails to start.
    manager_extra=(9081, 9082, 9083),
    storage_extra=(9023, 9024, 9025),
    agent=(9001, 9003, 9005, 9006, 9007, 9128),
)


def runner_venv(state: State) -> Path:
    """The kernel runner's venv, beside the release's own."""
    return state.root / "kvenv"


def runner_root(state: State) -> Path:
    """Where each kernel's folder (container paths, pid file, console log) goes."""
    return state.root / "kernels"


def agent_env(state: State) -> dict[str, str]:
    """The variables that switch the agent's local patches on (the agent alone has them)."""
    return {
        KEEPALIVE_ENV_VAR: "1",
        "BAI_LOCAL_RUNNER_VENV": str(runner_venv(state)),
        "BAI_LOCAL_RUNNER_ROOT": str(runner_root(state)),
        "BAI_LOCAL_RUNNER_PORTS": RUNNER_PORTS,
    }


AGENT = BackendDaemon("agent", "ag", "agent.toml", lambda p: p.agent, extra_env=agent_env)


def install_runner(state: State) -> None:
    """The kernel runner's venv (a registry step, like the release's venv): idempotent."""
    constraints = DATA_DIR / RUNNER_CONSTRAINTS
    ensure_venv(state, runner_venv(state), constraints, RUNNER_REQUIREMENTS, "kernel runner")


def stop_runners(state: State) -> None:
    """Stop any kernel runner the agent left (each in a session of its own, by its pid file)."""
    for pid_file in sorted(runner_root(state).glob("*/runner.pid")):
        sid = read_pid(pid_file)
        if sid and session_members(sid):
            say(f"stopping a kernel runner (session {sid})")
            alive = lambda sid=sid: session_members(sid)  # noqa: E731
            signal_and_wait(alive, (sid, signal.SIGTERM), "kernel runner", group=sid)
        pid_file.unlink(missing_ok=True)


def site_packages(venv: Path) -> Path:
    """A venv's site-packages (``lib/python3.13/site-packages``)."""
    relative = sysconfig.get_path("purelib", vars={"base": ".", "py_version_short": "3.13"})
    return venv / relative


def install_patches(state: State) -> None:
    """Copy the local patches into the venvs (on every start: cheap, follows edits)."""
    for venv, folder in ((state.venv, "patches"), (runner_venv(state), "runner-patches")):
        target = site_packages(venv)
        if not target.is_dir():
            raise LauncherError(f"no site-packages at {target}: rebuild the venv (`install`)")
        for patch in sorted((DATA_DIR / folder).iterdir()):
            if patch.suffix in (".py", ".pth"):
                shutil.copyfile(patch, target / patch.name)
    # The runner re-executes itself as `bai-krunner`; Python then finds its venv by looking
    # that name up on PATH (the runner's PATH starts with the venv's bin folder).
    link = runner_venv(state) / "bin" / "bai-krunner"
    if not link.is_symlink():
        link.unlink(missing_ok=True)
        link.symlink_to("python")


def database_url(state: State) -> str:
    """The manager's database as SQLAlchemy names it (the release ships asyncpg only)."""
    password = manager_db_password(state)
    return f"postgresql+asyncpg://postgres:{password}@{HOST}:{state.release.ports.pg}/backend"


def populate(state: State) -> None:
    """Schema, fixtures, role presets, graph (once per database); etcd keys (once per store).

    The database steps share one marker, written at the end: a run that fails half-way
    leaves none, and the next one drops the half-filled database and starts it over.
    """
    env = daemon_env(state)
    mgr = mgr_cli(state)
    db_marker = state.markers / "db-populated"
    etcd_marker = state.markers / "etcd-populated"
    if not db_marker.exists():
        say("creating the schema, fixtures, role presets and permission graph (once)")
        # A half-filled database from a failed run would fail `oneshot`: start it over.
        psql(state, ["-c", "DROP DATABASE IF EXISTS backend WITH (FORCE)"])
        psql(state, ["-c", "CREATE DATABASE backend"])
        run([*mgr, "schema", "oneshot", "-f", str(state.cfg / "alembic.ini")], env=env)
        for fixture in FIXTURES:
            path = DATA_DIR / "fixtures" / f"{fixture}.json"
            run([*mgr, "fixture", "populate", str(path)], env=env)
        # The installed release renders its own role presets into a fixture file.
        presets_dir = state.cfg / "role-presets"
        shutil.rmtree(presets_dir, ignore_errors=True)
        (presets_dir / "fixtures" / "manager").mkdir(parents=True)
        run([*mgr, "permissions", "emit", "--repository", str(presets_dir)], env=env)
        presets = presets_dir / "fixtures" / "manager" / "example-role-presets.json"
        run([*mgr, "fixture", "populate", str(presets)], env=env)
        run([*mgr, "permissions", "provision"], env=env)
        graph_script = DATA_DIR / "permission_graph.py"
        run([state.bin("python"), graph_script, database_url(state)], env=env)
        # Once more, now that the graph has the memberships: the project members' roles
        # (a plain user may create sessions in their project) come from this pass.
        run([*mgr, "permissions", "provision"], env=env)
        run([state.bin("python"), graph_script, "--rosters", database_url(state)], env=env)
        db_marker.touch()
    if not etcd_marker.exists():
        say("putting the etcd configuration keys (once)")
        puts = [
            ["put", "config/redis/addr", f"{HOST}:{PORTS.redis}"],
            ["put-json", "config/redis/redis_helper_config", "etcd.redis-helper.json"],
            ["put-json", "volumes", "etcd.volumes.json"],
            ["put", "config/system/timezone", "UTC"],
        ]
        for put in puts:
            if put[0] == "put-json":
                put[2] = str(DATA_DIR / put[2])
            run([*mgr, "etcd", *put], env=env)
        etcd_marker.touch()


def agent_alive(state: State) -> bool:
    """Whether the manager has the agent's row as ``ALIVE`` (it then schedules sessions)."""
    try:
        sql = f"SELECT status FROM agents WHERE id = '{AGENT_ID}'"
        answer = psql(state, ["-tA", "-c", sql], database="backend")
    except LauncherError:
        return False
    return answer.strip() == "ALIVE"


RELEASE = Release(
    key="26.9",
    label="26.9.6",
    pip_version="26.9.6",
    api_version="v9.20250722",
    python=(3, 13),
    data_dir=DATA_DIR,
    constraints="constraints-26.9.6.txt",
    packages=("backend.ai-manager", "backend.ai-storage-proxy", "backend.ai-agent"),
    ports=PORTS,
    default_state=PROJECT_ROOT / ".realmanager-26.9",
    state_env_var="BACKENDAI_REALMANAGER_26_STATE",
    python_env_var="BACKENDAI_REALMANAGER_26_PYTHON",
    configs=(
        "manager.toml",
        "storage-proxy.toml",
        "alembic.ini",
        "agent.toml",
        "agent.dummy.toml",
    ),
    populate=populate,
    agent=True,
)
