"""Batch mode through the real 26.9.6 stack: clean, build and exec run by the kernel runner.

Each phase is a step of the run: the runner answers ``clean-finished``, ``build-finished``
and ``finished`` (with ``waiting-input`` when the exec's code calls ``input()``), and the
client's run loop follows them with ``continue`` calls. A local runner finishes an empty
phase in microseconds: as released, the 26.9.6 agent dropped what arrived between a phase's
end and the client's ``continue`` (the launcher's agent patch keeps it). 23.09 has no agent
here: these tests are skipped there.
"""

from __future__ import annotations

import asyncio
from typing import Any

from backendai_aio import Client

from ._support import STEP_TIMEOUT, query

MAIN = (
    "import sys\n"
    "print('from build:', open('built.txt').read().strip(), flush=True)\n"
    "name = input('name? ')\n"
    "print('hello', name)\n"
    "sys.exit(0 if name == 'batchuser' else 5)\n"
)


def statuses(raw: list[Any]) -> list[str]:
    return [step["status"] for step in raw]


async def test_batch_build_and_exec_with_input(user_client: Client, session: str) -> None:
    await asyncio.wait_for(
        user_client.sessions.upload(session, {"main.py": MAIN.encode()}), STEP_TIMEOUT
    )
    prompts: list[str] = []

    def answer(prompt: str) -> str:
        prompts.append(prompt)
        return "batchuser"

    result = await user_client.sessions.run(
        session,
        "",
        mode="batch",
        opts={"clean": "rm -f built.txt", "build": "echo built > built.txt", "exec": "*"},
        on_input=answer,
        timeout=STEP_TIMEOUT,
        deadline=3 * STEP_TIMEOUT,
    )
    assert result.status == "finished", result.raw
    assert result.exit_code == 0, result.console
    assert "from build: built\n" in result.stdout
    assert "hello batchuser" in result.stdout
    assert prompts and "name?" in prompts[0]
    seen = statuses(result.raw)
    assert "clean-finished" in seen and "build-finished" in seen and "waiting-input" in seen
    assert seen.index("clean-finished") < seen.index("build-finished") < seen.index("finished")
    # Nothing of the batch run is left behind: the kernel takes the next run at once.
    assert (await query(user_client, session, "print('after')"))["console"] == [
        ["stdout", "after\n"]
    ]


async def test_batch_shell_exec_and_failed_build(user_client: Client, session: str) -> None:
    # Empty clean and build phases, then a shell command as the exec and its exit code.
    ran = await user_client.sessions.run(
        session,
        "",
        mode="batch",
        opts={"exec": "echo out; echo err >&2; exit 4"},
        timeout=STEP_TIMEOUT,
        deadline=3 * STEP_TIMEOUT,
    )
    assert ran.status == "finished"
    assert ran.exit_code == 4
    assert ran.stdout == "out\n"
    assert ran.stderr == "err\n"
    # A failed build skips the exec, which "finishes" with 127 (command not found).
    failed = await user_client.sessions.run(
        session,
        "",
        mode="batch",
        opts={"build": "echo building; exit 3", "exec": "echo never"},
        timeout=STEP_TIMEOUT,
        deadline=3 * STEP_TIMEOUT,
    )
    assert failed.status == "finished"
    assert failed.exit_code == 127
    assert "building\n" in failed.stdout
    assert "never" not in failed.stdout
    build = [step for step in failed.raw if step["status"] == "build-finished"]
    assert build and build[0]["exitCode"] == 3
