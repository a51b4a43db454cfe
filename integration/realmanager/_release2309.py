"""Backend.AI 23.09.10 (API ``v7.20230615``): manager and storage proxy, no agent."""

from __future__ import annotations

from _base import HOST, PROJECT_ROOT, SCRIPT_DIR, Ports, Release, State, run, say
from _daemons import daemon_env, mgr_cli
from _stores import psql

DATA_DIR = SCRIPT_DIR / "data"

FIXTURES = (
    "example-users",
    "example-keypairs",
    "example-set-user-main-access-keys",
    "example-resource-presets",
)

PORTS = Ports(
    pg=8100,
    redis=8110,
    etcd_client=8120,
    etcd_peer=8121,
    manager=8091,
    storage_client=6021,
    storage_manager=6022,
    manager_extra=(48100, 49100),  # aiomonitor, as manager.toml sets
    storage_extra=(48300, 49300),
)


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
        psql(state, ["-f", DATA_DIR / "image.sql"], database="backend")
        db_marker.touch()
    if not etcd_marker.exists():
        say("putting the etcd configuration keys (once)")
        puts = [
            ["put", "config/redis/addr", f"{HOST}:{PORTS.redis}"],
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


RELEASE = Release(
    key="23.09",
    label="23.09.10",
    pip_version="23.9.10",
    api_version="v7.20230615",
    python=(3, 11),
    data_dir=DATA_DIR,
    constraints="constraints-23.09.10.txt",
    packages=("backend.ai-manager", "backend.ai-storage-proxy"),
    ports=PORTS,
    default_state=PROJECT_ROOT / ".realmanager",
    state_env_var="BACKENDAI_REALMANAGER_STATE",
    python_env_var="BACKENDAI_REALMANAGER_PYTHON",
    configs=("manager.toml", "storage-proxy.toml", "alembic.ini"),
    populate=populate,
)
