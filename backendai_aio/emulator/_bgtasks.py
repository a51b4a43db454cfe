"""Background tasks: long operations that answer a task id at once and report by events.

The manager runs long operations (image rescans, session commits, ``/session/{name}/imagify``,
vfolder clones) as background tasks: the call answers ``{"task_id": "..."}`` and the client
follows ``GET /events/background-task?task_id=...``. The emulator has none of those operations,
so it offers one of its own, for SDKs to test their background task handling against:

``POST /emulator/bgtask`` (emulator only, signed like any call), JSON body, every key optional:
``steps`` (int, 1 to 1000, default 3), ``interval`` (seconds between steps, 0 to 10, default
0.05), ``outcome`` (``"done"``, ``"failed"`` or ``"cancelled"``, default ``"done"``); other keys
and bad values are refused in the manager's words (400 "Input validation error"). It answers
200 ``{"task_id": "<uuid>"}``; the task then reports each step with ``bgtask_updated``
(message ``"step N/M"``) and ends with the outcome asked for. As on the manager, which does
not record who started a task, whoever knows the task id may follow it.

Event data, as the manager's ``UserBgtask*Event`` classes give them
(``src/ai/backend/common/events/user_event/user_bgtask_event.py``): ``bgtask_updated``
``{task_id, message, current_progress, total_progress}`` (progress as numbers), sent with
``retry: 5``; ``bgtask_done``, ``bgtask_failed`` and ``bgtask_cancelled`` ``{task_id,
message}``, where a failure's message is the ``repr()`` of the error and a cancellation's is
empty.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Final, TypeAlias

from aiohttp import web

from ._params import read_json_body
from ._validation import Key, choice, integer, number, validate

__all__ = [
    "BGTASKS_KEY",
    "UPDATED_RETRY",
    "BackgroundOperation",
    "BackgroundTaskManager",
    "BgtaskEvent",
    "Listener",
    "ProgressReporter",
    "add_bgtask_routes",
]

#: ``POST /emulator/bgtask``.
routes = web.RouteTableDef()

_log = logging.getLogger("backendai_aio.emulator")

#: The manager sends progress events with this SSE ``retry`` value, and no retry on the others.
UPDATED_RETRY: Final = 5
# What POST /emulator/bgtask reads.
_BGTASK_KEYS: Final = (
    Key.of("steps", integer(gte=1, lte=1000, convert=True), 3),
    Key.of("interval", number(gte=0, lte=10), 0.05),
    Key.of("outcome", choice("done", "failed", "cancelled"), "done"),
)


@dataclass(frozen=True)
class BgtaskEvent:
    """One background task event as sent over SSE: its name, its data and its ``retry``."""

    name: str
    data: dict[str, Any]
    retry: int | None = None

    @property
    def final(self) -> bool:
        """Whether this event ends the task (anything but ``bgtask_updated``)."""
        return self.name != "bgtask_updated"


#: Where a listener receives a task's events.
Listener: TypeAlias = asyncio.Queue[BgtaskEvent]


@dataclass(eq=False)
class _Task:
    id: uuid.UUID
    current: float = 0.0
    total: float = 0.0
    #: "bgtask_started" while running, then the name of the final event.
    status: str = "bgtask_started"
    message: str = ""
    listeners: set[Listener] = field(default_factory=set)
    runner: asyncio.Task[None] | None = None

    def publish(self, event: BgtaskEvent) -> None:
        for listener in self.listeners:
            listener.put_nowait(event)

    def final_event(self) -> BgtaskEvent:
        return BgtaskEvent(self.status, {"task_id": str(self.id), "message": self.message})


class ProgressReporter:
    """What a background task reports its progress with (the manager's API of the same name)."""

    def __init__(self, task: _Task) -> None:
        self._task = task

    @property
    def current_progress(self) -> float:
        """How much is done."""
        return self._task.current

    @property
    def total_progress(self) -> float:
        """How much there is to do."""
        return self._task.total

    @total_progress.setter
    def total_progress(self, value: float) -> None:
        self._task.total = float(value)

    async def update(self, increment: float = 0, message: str | None = None) -> None:
        """Add *increment* to the progress and tell the listeners (``bgtask_updated``)."""
        task = self._task
        task.current += float(increment)
        data = {
            "task_id": str(task.id),
            "message": message or "",
            "current_progress": task.current,
            "total_progress": task.total,
        }
        task.publish(BgtaskEvent("bgtask_updated", data, retry=UPDATED_RETRY))


#: A background operation: given its reporter, returns the final message (or None).
BackgroundOperation: TypeAlias = Callable[[ProgressReporter], Awaitable[str | None]]


class BackgroundTaskManager:
    """Runs background tasks and remembers how each ended, for late listeners."""

    def __init__(self) -> None:
        self._tasks: dict[uuid.UUID, _Task] = {}

    def start(self, operation: BackgroundOperation) -> uuid.UUID:
        """Run *operation* in the background; return its task id."""
        task = _Task(id=uuid.uuid4())
        self._tasks[task.id] = task
        task.runner = asyncio.create_task(self._run(task, operation))
        return task.id

    def exists(self, task_id: uuid.UUID) -> bool:
        """Whether *task_id* names a task, running or ended."""
        return task_id in self._tasks

    @contextlib.contextmanager
    def listen(self, task_id: uuid.UUID) -> Iterator[Listener]:
        """Receive the events of a task while the ``with`` block runs.

        A task that has already ended yields its final event at once, as the manager does from
        its record of the task's last status.
        """
        task = self._tasks[task_id]
        listener: Listener = asyncio.Queue()
        if task.status != "bgtask_started":
            listener.put_nowait(task.final_event())
        task.listeners.add(listener)
        try:
            yield listener
        finally:
            task.listeners.discard(listener)

    async def _run(self, task: _Task, operation: BackgroundOperation) -> None:
        try:
            task.message = await operation(ProgressReporter(task)) or ""
            task.status = "bgtask_done"
        except asyncio.CancelledError:
            task.status, task.message = "bgtask_cancelled", ""
        except Exception as exc:
            _log.debug("background task %s failed", task.id, exc_info=True)
            task.status, task.message = "bgtask_failed", repr(exc)
        task.publish(task.final_event())

    async def close(self) -> None:
        """Cancel the running tasks (they end with ``bgtask_cancelled``) and wait for them."""
        runners = [t.runner for t in self._tasks.values() if t.runner is not None]
        for runner in runners:
            runner.cancel()
        await asyncio.gather(*runners, return_exceptions=True)


BGTASKS_KEY: Final = web.AppKey("bgtasks", BackgroundTaskManager)


class _EmulatedFailure(Exception):
    """The failure an emulated background task was asked to end with."""


def _stepper(steps: int, interval: float, outcome: str) -> BackgroundOperation:
    async def operation(reporter: ProgressReporter) -> str | None:
        reporter.total_progress = steps
        for step in range(1, steps + 1):
            await asyncio.sleep(interval)
            await reporter.update(1, f"step {step}/{steps}")
        if outcome == "failed":
            raise _EmulatedFailure("the emulated task failed as asked")
        if outcome == "cancelled":
            # Ends the way a cancelled manager task does.
            raise asyncio.CancelledError
        return None

    return operation


@routes.post("/emulator/bgtask")
async def _start_bgtask(request: web.Request) -> web.Response:
    params = validate(await read_json_body(request), _BGTASK_KEYS)
    manager = request.app[BGTASKS_KEY]
    task_id = manager.start(_stepper(params["steps"], params["interval"], params["outcome"]))
    return web.json_response({"task_id": str(task_id)})


def add_bgtask_routes(app: web.Application) -> None:
    """Install ``POST /emulator/bgtask`` (see the module docstring) and its task manager."""
    manager = BackgroundTaskManager()
    app[BGTASKS_KEY] = manager

    async def cancel_tasks(app: web.Application) -> None:
        await manager.close()

    app.on_shutdown.append(cancel_tasks)
    app.add_routes(routes)
