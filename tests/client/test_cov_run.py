"""The run loop and execute() against the emulator: refused arguments, callbacks that fail."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from backendai_aio import Client, InvalidArgumentError
from backendai_aio.emulator import Emulator


@pytest.fixture
async def emulated() -> AsyncIterator[Client]:
    async with Emulator() as emulator, Client(emulator.config) as client:
        yield client


@pytest.mark.parametrize(
    ("code", "run_id", "message"),
    [
        (b"print(1)", None, "code must be a string"),
        ("print(1)", "short", "a run id has 8 to 64 characters, not 'short'"),
        ("print(1)", "x" * 65, "a run id has 8 to 64 characters"),
        ("print(1)", 12345678, "a run id has 8 to 64 characters, not 12345678"),
    ],
)
async def test_execute_refuses_bad_code_and_run_ids(
    emulated: Client, code: Any, run_id: Any, message: str
) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        await emulated.execute("no-such-session", run_id, "query", code)


async def test_an_answer_that_is_no_text_interrupts_the_run(emulated: Client) -> None:
    def not_text(prompt: str) -> Any:
        return 42

    await emulated.create_if_not_exists("python", "cov-input")
    with pytest.raises(
        InvalidArgumentError,
        match="on_input must return a string, not int \\(the run was interrupted\\)",
    ):
        await asyncio.wait_for(
            emulated.sessions.run("cov-input", "print(input('? '))", on_input=not_text), 20
        )
    # The waiting run was interrupted, so the session takes new code at once.
    result = await asyncio.wait_for(emulated.sessions.run("cov-input", "print('free')"), 20)
    assert result.stdout == "free\n"


async def test_a_timeout_raised_by_a_callback_is_passed_on(emulated: Client) -> None:
    await emulated.create_if_not_exists("python", "cov-output")
    raised = TimeoutError("the caller's own")

    def on_output(kind: str, payload: Any) -> None:
        raise raised

    with pytest.raises(TimeoutError) as caught:
        await emulated.sessions.run("cov-output", "print(1)", on_output=on_output, deadline=30)
    # Not mistaken for the run's deadline.
    assert caught.value is raised


async def test_an_input_callback_that_fails_interrupts_the_run(emulated: Client) -> None:
    await emulated.create_if_not_exists("python", "cov-input-fails")

    def answer(prompt: str) -> str:
        raise LookupError("no answer for " + prompt)

    with pytest.raises(LookupError, match=r"no answer for \? "):
        await asyncio.wait_for(
            emulated.sessions.run("cov-input-fails", "print(input('? '))", on_input=answer), 20
        )
    result = await asyncio.wait_for(emulated.sessions.run("cov-input-fails", "print('free')"), 20)
    assert result.stdout == "free\n"
