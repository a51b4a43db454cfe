"""Running code in a compute session: ``execute`` steps and the ``run()`` loop over them."""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final, TypeAlias, TypeVar, cast

from ._errors import (
    BadRequestError,
    InputRequiredError,
    InvalidArgumentError,
    ResponseError,
    RunDeadlineError,
)
from ._namespace import Namespace
from ._results import CONTINUING_STATUSES, TERMINAL_STATUSES, RunResult
from ._run_support import (
    DEFAULT_MAX_STEPS,
    InflightStep,
    check_run_bounds,
    in_progress_error,
    stop_bounded,
)
from ._session_options import BatchOptions, generate_run_id
from ._session_types import CompletionAnswer, ExecuteAnswer
from ._timeouts import NOT_GIVEN, TimeoutArg

__all__ = ["EXECUTE_MODES", "ExecutionCalls", "InputCallback", "OutputCallback"]

#: The ``mode`` values `Sessions.execute` accepts.
EXECUTE_MODES: Final = frozenset({"query", "batch", "continue", "input", "complete"})

#: ``on_input(prompt)``: returns (or resolves to) the line to send to the code.
InputCallback: TypeAlias = Callable[[str], str | Awaitable[str]]
#: ``on_output(kind, payload)``: called for each console item as it arrives.
OutputCallback: TypeAlias = Callable[[str, Any], Awaitable[None] | None]

_T = TypeVar("_T")

# How many ``continue`` steps an interrupted run gets to report its end.
_ABANDON_STEPS: Final = 10


async def _maybe_await(value: _T | Awaitable[_T]) -> _T:
    if inspect.isawaitable(value):
        return await value
    return value


def _result_of(response: Any) -> Mapping[str, Any]:
    result = response.get("result") if isinstance(response, Mapping) else None
    if not isinstance(result, Mapping):
        raise ResponseError(
            f"execute: an answer without a result object: {response!r:.200}", body=response
        )
    return result


class ExecutionCalls(Namespace):
    """The code-execution calls of [`Sessions`][backendai_aio.Sessions]."""

    async def execute(
        self,
        session_id: str,
        run_id: str | None,
        mode: str,
        code: str,
        opts: Mapping[str, Any] | None = None,
        *,
        timeout: TimeoutArg = NOT_GIVEN,
    ) -> ExecuteAnswer:
        """Run one step of code execution and answer ``{"result": {...}}``.

        *mode* is ``query`` (run *code*), ``batch`` (build/exec commands in *opts*),
        ``continue`` (collect more output of a ``continued`` run, empty *code*), ``input``
        (answer ``waiting-input`` with *code* as the line typed) or ``complete``. *run_id*
        names the run (8 to 64 characters); ``None`` starts a run with a fresh id (managers
        up to 23.09 refuse a call without one). The result holds ``status``, ``runId``,
        ``exitCode``, ``console``, ``options`` and ``files``; pass its ``runId`` back to
        ``continue`` or answer ``input`` (mode ``complete`` answers the shape of
        `complete` instead).
        """
        if mode not in EXECUTE_MODES:
            raise InvalidArgumentError(
                f"invalid execution mode {mode!r}; one of {', '.join(sorted(EXECUTE_MODES))}"
            )
        if not isinstance(code, str):
            raise InvalidArgumentError("code must be a string")
        if run_id is None:
            run_id = generate_run_id()
        elif not isinstance(run_id, str) or not 8 <= len(run_id) <= 64:
            raise InvalidArgumentError(f"a run id has 8 to 64 characters, not {run_id!r}")
        # Servers up to 25.5 read runId, later ones run_id: send both.
        body = {
            "mode": mode,
            "code": code,
            "runId": run_id,
            "run_id": run_id,
            "options": dict(opts or {}),
        }
        answer = await self._transport.call(
            "POST", self._transport.url("session", session_id), json=body, timeout=timeout
        )
        return cast(ExecuteAnswer, answer)

    async def interrupt(self, session_id: str, *, timeout: TimeoutArg = NOT_GIVEN) -> None:
        """Interrupt the code running in a compute session.

        Returns nothing: the manager answers ``204 No Content`` (23.09 to 26.9).

        ```python
        await client.sessions.interrupt("my-session")
        ```
        """
        await self._transport.call(
            "POST", self._transport.url("session", session_id, "interrupt"), timeout=timeout
        )

    async def complete(
        self,
        session_id: str,
        code: str,
        opts: Mapping[str, Any] | None = None,
        *,
        timeout: TimeoutArg = NOT_GIVEN,
    ) -> CompletionAnswer:
        """Ask for auto-completion candidates of *code* (options: row, col, line, post).

        ```python
        answer = await client.sessions.complete("my-session", "import o", {"row": 0, "col": 8})
        print(answer["result"])
        ```
        """
        body = {"code": code, "options": dict(opts or {})}
        answer = await self._transport.call(
            "POST",
            self._transport.url("session", session_id, "complete"),
            json=body,
            timeout=timeout,
        )
        return cast(CompletionAnswer, answer)

    # -- the run loop ---------------------------------------------------------------------------

    async def run(
        self,
        session_id: str,
        code: str,
        *,
        mode: str = "query",
        opts: BatchOptions | Mapping[str, Any] | None = None,
        on_input: InputCallback | None = None,
        on_output: OutputCallback | None = None,
        deadline: float | None = None,
        max_steps: int = DEFAULT_MAX_STEPS,
        timeout: TimeoutArg = NOT_GIVEN,
    ) -> RunResult:
        """Run *code* to its end and return a [`RunResult`][backendai_aio.RunResult].

        The loop over `execute` that every caller would otherwise write: it follows
        ``continued`` (and the batch phases), answers ``waiting-input`` with
        ``on_input(prompt)`` (a function or coroutine function returning the line to send),
        and passes each console item to ``on_output(kind, payload)`` as it arrives. Batch
        mode takes ``opts={"build": ..., "exec": ...}`` (and ``clean``). *timeout* applies to
        each step; *deadline* (seconds) to the whole run, and *max_steps* bounds the number
        of steps: past either the run is interrupted and
        [`RunDeadlineError`][backendai_aio.RunDeadlineError] raised.

        Cancelling the call (``task.cancel()``, ``asyncio.timeout``, Ctrl-C) interrupts the run in
        the session too, waiting for that at most a few seconds. Code that asks for input without an
        *on_input* is interrupted, and the call raises
        [`InputRequiredError`][backendai_aio.InputRequiredError] with the prompt; a session still
        running other code raises [`RunInProgressError`][backendai_aio.RunInProgressError].
        """
        if mode not in ("query", "batch"):
            raise InvalidArgumentError(f"run() takes mode 'query' or 'batch', not {mode!r}")
        check_run_bounds(deadline, max_steps)
        result = RunResult(run_id=generate_run_id())
        step = InflightStep()

        async def stop() -> None:
            await step.settle()
            await self._abandon(session_id, result.run_id, timeout)

        bound = asyncio.timeout(deadline)
        try:
            async with bound:
                return await self._run_steps(
                    session_id,
                    code,
                    mode,
                    opts,
                    on_input,
                    on_output,
                    max_steps,
                    timeout,
                    result,
                    step,
                )
        except TimeoutError:
            if not bound.expired():
                raise
            await stop_bounded(stop)
            raise RunDeadlineError(
                f"the run in session {session_id!r} did not finish within its {deadline:g} s "
                "deadline (it was interrupted)"
            ) from None
        except asyncio.CancelledError:
            await stop_bounded(stop)
            raise

    async def _run_steps(
        self,
        session_id: str,
        code: str,
        mode: str,
        opts: BatchOptions | Mapping[str, Any] | None,
        on_input: InputCallback | None,
        on_output: OutputCallback | None,
        max_steps: int,
        timeout: TimeoutArg,
        result: RunResult,
        step: InflightStep,
    ) -> RunResult:
        run_id = result.run_id

        async def stop_unfinished() -> None:
            # A failing callback would leave the run waiting for input, or running on
            # unobserved: interrupt it, so that the session takes new code at once.
            if result.status not in TERMINAL_STATUSES:
                await stop_bounded(lambda: self._abandon(session_id, run_id, timeout))

        async def call_back(callback: Callable[[], Any]) -> Any:
            try:
                return await _maybe_await(callback())
            except Exception:
                await stop_unfinished()
                raise

        try:
            response = await step.run(
                self.execute(session_id, run_id, mode, code, opts, timeout=timeout)
            )
        except BadRequestError as exc:
            raise in_progress_error(exc, session_id) or exc from exc
        steps = 1
        while True:
            items = result.add_step(_result_of(response))
            for item in items:
                if on_output is not None:
                    await call_back(functools.partial(on_output, item.kind, item.payload))
            if result.status in CONTINUING_STATUSES:
                next_mode, line = "continue", ""
            elif result.status == "waiting-input":
                prompt = "".join(str(i.payload) for i in items if i.kind == "stdout")
                if on_input is None:
                    await self._abandon(session_id, run_id, timeout)
                    raise InputRequiredError(
                        f"the code is waiting for input (prompt {prompt!r:.100}); pass "
                        "on_input= to answer it (the run was interrupted)",
                        prompt=prompt,
                    )
                line = await call_back(functools.partial(on_input, prompt))
                if not isinstance(line, str):
                    await stop_unfinished()
                    raise InvalidArgumentError(
                        f"on_input must return a string, not {type(line).__name__} "
                        "(the run was interrupted)"
                    )
                next_mode = "input"
            else:
                return result
            if steps >= max_steps:
                await self._abandon(session_id, run_id, timeout)
                raise RunDeadlineError(
                    f"the run in session {session_id!r} did not finish within {max_steps} "
                    "steps (it was interrupted)"
                )
            response = await step.run(
                self.execute(session_id, run_id, next_mode, line, timeout=timeout)
            )
            steps += 1

    async def _abandon(self, session_id: str, run_id: str, timeout: TimeoutArg) -> None:
        """Interrupt a run and collect its end, so that the session takes new code at once."""
        await self.interrupt(session_id, timeout=timeout)
        for _ in range(_ABANDON_STEPS):
            response = await self.execute(session_id, run_id, "continue", "", timeout=timeout)
            if _result_of(response).get("status") in TERMINAL_STATUSES:
                return
