"""Backend.AI 26.9.6 (API ``v9.20250722``): manager, storage proxy and the dummy agent.

What differs from 23.09 (the facts behind each step are in README.md): Python 3.13; the
agent's no-Docker ``dummy`` backend, patched locally so that sessions stay RUNNING; role
presets and the permission graph that ``schema oneshot`` and the fixtures leave empty;
container registries as database rows instead of etcd keys.
"""

from __future__ import annotations

import shutil
import sysconfig
from pathlib import Path

from _base import HOST, PROJECT_ROOT, SCRIPT_DIR, LauncherError, Ports, Release, State, run, say
from _daemons import BackendDaemon, daemon_env, mgr_cli
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

PORTS = Ports(
    pg=9100,
    redis=9110,
    etcd_client=9120,
    etcd_peer=9121,
    manager=9091,
    storage_client=9021,
    storage_manager=9022,
    # internal API and aiomonitor ports, as the configs set
    manager_extra=(59080, 59100, 59200),
    storage_extra=(59023, 59300, 59400),
    agent=(9001, 59003, 59007, 59128, 59500, 59600),
)

AGENT = BackendDaemon(
    "agent", "ag", "agent.toml", lambda p: p.agent, extra_env={KEEPALIVE_ENV_VAR: "1"}
)


def site_packages(state: State) -> Path:
    """The venv's site-packages (``lib/python3.13/site-packages``)."""
    relative = sysconfig.get_path("purelib", vars={"base": ".", "py_version_short": "3.13"})
    return state.venv / relative


def install_patches(state: State) -> None:
    """Copy the local agent patches into the venv (on every start: cheap, follows edits)."""
    target = site_packages(state)
    if not target.is_dir():
        raise LauncherError(f"no site-packages at {target}: rebuild the venv (`install`)")
    for patch in sorted((DATA_DIR / "patches").iterdir()):
        if patch.suffix in (".py", ".pth"):
            shutil.copyfile(patch, target / patch.name)


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
