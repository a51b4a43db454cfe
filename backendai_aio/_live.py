"""Live streams: execution over a websocket, and server-sent events."""

from __future__ import annotations

from ._event_stream import Event, EventsAPI, EventStream
from ._execution_stream import ExecutionStream

__all__ = ["Event", "EventStream", "ExecutionStream", "LiveAPI"]


class LiveAPI(EventsAPI):
    """Event streams."""
