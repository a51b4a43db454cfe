"""Real code execution through the real 26.9.6 stack, run by the release's own kernel runner.

The launcher gives each kernel of the dummy agent a local ``backend.ai-kernel`` runner (in a
mount namespace of its own, bound to 127.0.0.1), so ``execute`` goes from the client through
the real manager and agent to the runner's ZeroMQ protocol and a real Python. 23.09 has no
agent here: these tests are skipped there.
"""

from __future__ import annotations

import asyncio
from typing import Any

from backendai_aio import Client

from ._support import (
    IMAGE,
    RUNNING_TIMEOUT,
    STEP_TIMEOUT,
    destroy_quietly,
    query,
    session_name,
    until_done,
)


async def test_query_keeps_state_between_calls(user_client: Client, session: str) -> None:
    first = await query(user_client, session, "x = 1\nprint(x + 1)")
    assert first["status"] == "finished"
    assert first["exitCode"] == 0
    assert first["console"] == [["stdout", "2\n"]]
    assert isinstance(first["runId"], str) and first["runId"]
    second = await query(user_client, session, "print(x * 10)")
    assert second["console"] == [["stdout", "10\n"]]


async def test_expression_exception_and_exit_code(user_client: Client, session: str) -> None:
    # The value of a last expression comes back as stdout, without a newline.
    assert (await query(user_client, session, "6 * 7"))["console"] == [["stdout", "42"]]
    failed = await query(user_client, session, "1 / 0")
    assert failed["status"] == "finished"
    assert failed["exitCode"] == 1
    stderr = "".join(str(payload) for kind, payload in failed["console"] if kind == "stderr")
    assert "ZeroDivisionError" in stderr
    exited = await query(user_client, session, "import sys\nsys.exit(3)")
    assert exited["exitCode"] == 3
    # The container paths the runner expects: its working folder is /home/work.
    where = await query(user_client, session, "import os\nprint(os.getcwd())")
    assert where["console"] == [["stdout", "/home/work\n"]]


async def test_waiting_input_and_input(user_client: Client, session: str) -> None:
    code = 'name = input("who? ")\nprint("hi", name)'
    answer = await asyncio.wait_for(user_client.execute(session, None, "query", code), STEP_TIMEOUT)
    result = answer["result"]
    while result["status"] == "continued":
        result = (await user_client.execute(session, result["runId"], "continue", ""))["result"]
    assert result["status"] == "waiting-input"
    run_id = result["runId"]
    answer = await asyncio.wait_for(
        user_client.execute(session, run_id, "input", "bob"), STEP_TIMEOUT
    )
    done = await until_done(user_client, session, answer)
    assert done["status"] == "finished"
    stdout = "".join(str(payload) for kind, payload in done["console"] if kind == "stdout")
    assert "hi bob" in stdout


async def test_long_output_is_continued(user_client: Client, session: str) -> None:
    code = "import time\nfor i in range(3):\n    print(i, flush=True)\n    time.sleep(1.5)"
    answer = await asyncio.wait_for(user_client.execute(session, None, "query", code), STEP_TIMEOUT)
    assert answer["result"]["status"] == "continued"
    done = await until_done(user_client, session, answer)
    assert done["status"] == "finished"
    stdout = "".join(str(payload) for kind, payload in done["console"] if kind == "stdout")
    assert stdout == "0\n1\n2\n"


async def test_run_loop_with_input_and_output(user_client: Client, session: str) -> None:
    prompts: list[str] = []
    seen: list[tuple[str, Any]] = []

    def answer(prompt: str) -> str:
        prompts.append(prompt)
        return "41"

    code = 'n = int(input("number? "))\nprint(n + 1)'
    result = await user_client.sessions.run(
        session,
        code,
        on_input=answer,
        on_output=lambda kind, payload: seen.append((kind, payload)),
        timeout=STEP_TIMEOUT,
    )
    assert result.status == "finished"
    assert result.exit_code == 0
    assert "42\n" in result.stdout
    assert prompts and "number?" in prompts[0]
    assert ("stdout", "42\n") in seen or any("42" in str(p) for _, p in seen)


async def test_stream_execute(user_client: Client, session: str) -> None:
    frames: list[dict[str, Any]] = []

    async def follow() -> None:
        async with user_client.sessions.stream_execute(session, "x = 1\nprint(x + 1)") as stream:
            async for frame in stream:
                frames.append(frame)

    await asyncio.wait_for(follow(), STEP_TIMEOUT)
    assert frames[-1]["status"] == "finished"
    stdout = "".join(
        str(payload)
        for frame in frames
        for kind, payload in frame.get("console") or []
        if kind == "stdout"
    )
    assert stdout == "2\n"


async def test_interrupt_stops_running_code(user_client: Client, session: str) -> None:
    code = "import time\nprint('start', flush=True)\ntime.sleep(30)\nprint('never')"
    answer = await asyncio.wait_for(user_client.execute(session, None, "query", code), STEP_TIMEOUT)
    assert answer["result"]["status"] == "continued"
    await asyncio.wait_for(user_client.interrupt(session), STEP_TIMEOUT)
    done = await asyncio.wait_for(until_done(user_client, session, answer), STEP_TIMEOUT)
    assert done["status"] == "finished"
    stdout = "".join(str(payload) for kind, payload in done["console"] if kind == "stdout")
    stderr = "".join(str(payload) for kind, payload in done["console"] if kind == "stderr")
    assert "never" not in stdout
    assert "KeyboardInterrupt" in stderr
    # The kernel lives on.
    assert (await query(user_client, session, "print('alive')"))["console"] == [
        ["stdout", "alive\n"]
    ]


async def test_two_sessions_run_apart(user_client: Client, session: str) -> None:
    other = session_name()
    try:
        await user_client.create_if_not_exists(IMAGE, other, enqueue_only=True)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + RUNNING_TIMEOUT
        while (await user_client.get_info(other))["status"] != "RUNNING":
            assert loop.time() < deadline
            await asyncio.sleep(0.5)
        await query(user_client, session, "who = 'first'")
        await query(user_client, other, "who = 'second'")
        assert (await query(user_client, session, "print(who)"))["console"] == [
            ["stdout", "first\n"]
        ]
        assert (await query(user_client, other, "print(who)"))["console"] == [
            ["stdout", "second\n"]
        ]
    finally:
        await destroy_quietly(user_client, other)
