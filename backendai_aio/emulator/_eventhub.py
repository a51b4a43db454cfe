"""Session and kernel lifecycle events, fanned out to whoever listens (the SSE streams).

The manager turns its internal events (``SessionStartedEvent``, ``KernelTerminatedEvent``, ...)
into rows for ``GET /events/session``; the emulator's registry publishes the same events here as
its sessions are created, started and destroyed.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final, TypeAlias

__all__ = [
    "KERNEL_CLUSTER_IDX",
    "KERNEL_CLUSTER_ROLE",
    "EventHub",
    "LifecycleEvent",
    "Subscription",
]

#: An emulated session has a single kernel, the main one of a single-node cluster.
KERNEL_CLUSTER_ROLE: Final = "main"
#: Cluster indexes count from 1 (the main kernel's host name is ``main1``).
KERNEL_CLUSTER_IDX: Final = 1


@dataclass(frozen=True)
class LifecycleEvent:
    """One lifecycle event of a session (``session_*``) or of its kernel (``kernel_*``)."""

    name: str
    session_id: uuid.UUID
    session_name: str
    owner: str
    reason: str
    exit_code: int | None = None
    #: Set for kernel events only.
    kernel_id: uuid.UUID | None = None

    @property
    def is_kernel_event(self) -> bool:
        """Whether this is a ``kernel_*`` event."""
        return self.name.startswith("kernel_")

    def data(self) -> dict[str, Any]:
        """The event's SSE data, with the manager's keys in the manager's order."""
        body: dict[str, Any] = {
            "reason": self.reason,
            "sessionName": self.session_name,
            "ownerAccessKey": self.owner,
            "sessionId": str(self.session_id),
            "exitCode": self.exit_code,
        }
        if self.kernel_id is not None:
            # The manager adds these three only for rows read from the kernels table.
            body["kernelId"] = str(self.kernel_id)
            body["clusterRole"] = KERNEL_CLUSTER_ROLE
            body["clusterIdx"] = KERNEL_CLUSTER_IDX
        return body


#: What a listener's queue yields: an event, or None once the hub is closed.
Subscription: TypeAlias = asyncio.Queue[LifecycleEvent | None]


class EventHub:
    """Delivers every published event to every current subscriber, in order.

    Queues are unbounded, as the manager's are: a slow listener delays only itself.
    """

    def __init__(self) -> None:
        self._queues: set[Subscription] = set()
        self._closed = False

    @property
    def listeners(self) -> int:
        """How many subscriptions are open."""
        return len(self._queues)

    @contextlib.contextmanager
    def subscribe(self) -> Iterator[Subscription]:
        """Listen for events while the ``with`` block runs; None arrives when the hub closes."""
        queue: Subscription = asyncio.Queue()
        if self._closed:
            queue.put_nowait(None)
        self._queues.add(queue)
        try:
            yield queue
        finally:
            self._queues.discard(queue)

    def publish(self, event: LifecycleEvent) -> None:
        """Hand *event* to every subscriber."""
        for queue in self._queues:
            queue.put_nowait(event)

    def close(self) -> None:
        """Tell every subscriber that no more events will come (on emulator shutdown)."""
        self._closed = True
        for queue in self._queues:
            queue.put_nowait(None)
