# mypy: ignore-errors
# (runs inside the release's own venv, whose packages the project's type checkers do not see)
"""Fill 26.9.6's permission graph for the fixtures' rows; run by the release's own venv.

``schema oneshot`` creates the head schema and ``fixture populate`` writes plain rows, but
the manager checks project membership in a graph neither fills: without it every session
creation answers "Invalid group (default)". This writes, in one transaction and
idempotently, what the release's data migrations would have written: the personal
projects, a node per project and an edge per project membership of the fixtures, then the
release's own graph migrations from "put every entity in the graph" to head.

Usage: python permission_graph.py [--rosters] postgresql+asyncpg://USER:PASSWORD@HOST:PORT/DB

``--rosters``, after ``permissions provision`` has given every project its roles: the
personal projects' rosters and the members' and creators' roles in them, as the graph
migration writes them (without them a plain user cannot even read their own folders).
"""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from pathlib import Path

import sqlalchemy as sa
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.operations import Operations
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import create_async_engine

#: The first migration that fills the graph for every entity on file.
FIRST_GRAPH_REVISION = "dafe06a6c763"
#: Seeds the global entities, which ``oneshot`` already did: running it again would clash.
SKIPPED = frozenset({"b76f2d5191d4"})
PERSONAL_PROJECTS_REVISION = "c7a4f1e9b023"

PROJECT_NODES = sa.text("""
    INSERT INTO virtual_entities (entity_type, entity_id)
    SELECT 'project', id FROM groups
    ON CONFLICT (entity_type, entity_id) DO NOTHING
""")
USER_NODES = sa.text("""
    INSERT INTO virtual_entities (entity_type, entity_id)
    SELECT 'user', uuid FROM users
    ON CONFLICT (entity_type, entity_id) DO NOTHING
""")
ROSTER_EDGES = sa.text("""
    INSERT INTO entity_memberships (virtual_entity_id, member_entity_id, capped)
    SELECT p.id, u.id, TRUE
    FROM association_groups_users a
    JOIN virtual_entities p ON p.entity_type = 'project' AND p.entity_id = a.group_id
    JOIN virtual_entities u ON u.entity_type = 'user' AND u.entity_id = a.user_id
    ON CONFLICT (virtual_entity_id, member_entity_id) DO NOTHING
""")


def load(path: str, name: str) -> object:
    """A migration module by its file path (they are not importable by name)."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fill(conn: sa.Connection) -> None:
    """Everything, on one connection inside one transaction."""
    config = Config()
    config.set_main_option("script_location", "ai.backend.manager.models:alembic")
    scripts = ScriptDirectory.from_config(config)
    # head first, down to the first graph revision: run them oldest first.
    graph = list(scripts.iterate_revisions("heads", FIRST_GRAPH_REVISION))[::-1]
    personal = scripts.get_revision(PERSONAL_PROJECTS_REVISION)
    load(personal.path, "personal_projects").backfill(conn)
    conn.execute(PROJECT_NODES)
    conn.execute(USER_NODES)
    conn.execute(ROSTER_EDGES)
    context = MigrationContext.configure(conn)
    with Operations.context(context) as op:
        # The head schema already has every column the migrations add.
        op.add_column = lambda *args, **kwargs: None
        for revision in graph:
            if revision.revision in SKIPPED:
                continue
            print(f"graph: {revision.revision} {Path(revision.path).name}", flush=True)
            load(revision.path, f"graph_{revision.revision}").upgrade()


def rosters(conn: sa.Connection) -> None:
    """The rosters and project roles, written again now that every project has its roles."""
    config = Config()
    config.set_main_option("script_location", "ai.backend.manager.models:alembic")
    revision = ScriptDirectory.from_config(config).get_revision(FIRST_GRAPH_REVISION)
    graph = load(revision.path, "graph_rosters")
    conn.execute(graph._ADD_PERSONAL_ROSTER_EDGES)
    conn.execute(graph._ADD_ROSTER_CAPS)
    conn.execute(graph._GRANT_PROJECT_ROLES)
    conn.execute(graph._GRANT_CREATOR_ROLES, {"preset_id": graph.PROJECT_ADMIN_PRESET_ID})


async def main(url: str, step) -> None:
    """The release ships asyncpg only: a sync connection through SQLAlchemy's bridge."""
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(step)
    finally:
        await engine.dispose()


if __name__ == "__main__":
    if sys.argv[1:2] == ["--rosters"]:
        asyncio.run(main(sys.argv[2], rosters))
    else:
        asyncio.run(main(sys.argv[1], fill))
