"""The run loop over execute: continued output, input, errors, batch mode."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from backendai_aio import Client, ConsoleItem, InputRequiredError, InvalidArgumentError


async def test_output_longer_than_the_flush_window(admin_client: Client) -> None:
    await admin_client.create_if_not_exists("python", "run-long")
    seen: list[tuple[str, Any]] = []
    code = (
        "import time\nfor i in range(4):\n    print('tick', i, flush=True)\n    time.sleep(0.2)\n"
    )
    result = await admin_client.sessions.run(
        "run-long", code, on_output=lambda k, p: seen.append((k, p))
    )
    assert result.ok
    assert result.stdout == "".join(f"tick {i}\n" for i in range(4))
    assert len(result.raw) > 1  # it really went through "continued" steps
    assert [r["status"] for r in result.raw][:-1] == ["continued"] * (len(result.raw) - 1)
    assert "".join(p for k, p in seen if k == "stdout") == result.stdout


async def test_input_with_sync_and_async_callbacks(admin_client: Client) -> None:
    await admin_client.create_if_not_exists("python", "run-input")
    prompts: list[str] = []

    def answer(prompt: str) -> str:
        prompts.append(prompt)
        return "Ada"

    result = await admin_client.sessions.run(
        "run-input", "name = input('Name? ')\nprint('Hello', name)", on_input=answer
    )
    assert result.ok
    assert prompts == ["Name? "]
    assert result.stdout.endswith("Hello Ada\n")

    async def answer_later(prompt: str) -> str:
        await asyncio.sleep(0.01)
        return str(len(prompt))

    result = await admin_client.sessions.run(
        "run-input", "print(int(input('ab')) * 10)", on_input=answer_later
    )
    assert result.stdout.endswith("20\n")


async def test_input_without_a_callback_is_a_clear_error(admin_client: Client) -> None:
    await admin_client.create_if_not_exists("python", "run-no-input")
    with pytest.raises(InputRequiredError, match="on_input") as caught:
        await admin_client.sessions.run("run-no-input", "input('? ')")
    assert caught.value.prompt == "? "
    # The waiting run was interrupted, so the session takes new code at once.
    result = await admin_client.sessions.run("run-no-input", "print('free')")
    assert result.stdout == "free\n"


async def test_exception_gives_stderr_and_a_nonzero_exit(admin_client: Client) -> None:
    await admin_client.create_if_not_exists("python", "run-error")
    result = await admin_client.sessions.run("run-error", "print('before')\n1 / 0")
    assert result.status == "finished"
    assert result.exit_code == 1
    assert not result.ok
    assert result.stdout == "before\n"
    assert "ZeroDivisionError" in result.stderr
    assert ConsoleItem("stdout", "before\n") in result.console


async def test_batch_mode_with_build_and_exec(admin_client: Client) -> None:
    await admin_client.create_if_not_exists("python", "run-batch")
    result = await admin_client.sessions.run(
        "run-batch",
        "",
        mode="batch",
        opts={"build": "echo 'print(40 + 2)' > main.py", "exec": "python main.py"},
    )
    assert result.ok
    assert "build-finished" in [r["status"] for r in result.raw]
    assert result.stdout.strip().endswith("42")


async def test_batch_build_failure(admin_client: Client) -> None:
    await admin_client.create_if_not_exists("python", "run-batch-fail")
    result = await admin_client.sessions.run(
        "run-batch-fail", "", mode="batch", opts={"build": "exit 3", "exec": "echo never"}
    )
    assert result.status == "finished"
    assert result.exit_code == 3
    assert "never" not in result.stdout


async def test_run_refuses_other_modes(admin_client: Client) -> None:
    with pytest.raises(InvalidArgumentError, match="mode"):
        await admin_client.sessions.run("abcd", "", mode="continue")
