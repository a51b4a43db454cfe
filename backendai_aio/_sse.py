"""A byte-level parser of ``text/event-stream`` (server-sent events), pure and incremental.

It follows the WHATWG rules: lines end with CRLF, LF or CR; ``event:``, ``data:`` (joined by
newlines when repeated), ``id:`` and ``retry:`` fields; lines starting with ``:`` are
comments; a blank line dispatches the event. Bytes may arrive split anywhere, even inside a
UTF-8 character or between CR and LF.
"""

from __future__ import annotations

import codecs
import json
from dataclasses import dataclass
from typing import Any

__all__ = ["SSEParser", "ServerSentEvent"]


@dataclass(frozen=True, slots=True)
class ServerSentEvent:
    """One event of a ``text/event-stream``."""

    #: The event name (``message`` when the server named none).
    event: str
    #: The data lines, joined with ``\\n``.
    data: str
    #: The last event id seen on the stream, if any.
    id: str | None = None
    #: The reconnection delay the server asked for with this event, in milliseconds.
    retry: int | None = None

    def json(self) -> Any:
        """The data parsed as JSON (``ValueError`` if it is not JSON)."""
        return json.loads(self.data)


class SSEParser:
    """Feed bytes, get the events they complete."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._buffer = ""
        self._pending_cr = False
        self._event = ""
        self._data: list[str] = []
        self._retry: int | None = None
        #: The last event id, which a reconnection sends back as ``Last-Event-ID``.
        self.last_event_id: str | None = None
        #: The last ``retry:`` value seen, in milliseconds.
        self.retry: int | None = None

    def reset(self) -> None:
        """Forget a half-received line or event, as when the connection broke.

        The last event id and ``retry`` stay, for the reconnection.
        """
        self._decoder.reset()
        self._buffer = ""
        self._pending_cr = False
        self._event = ""
        self._data = []
        self._retry = None

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """Consume *chunk*; return the events it completes, in order."""
        text = self._decoder.decode(chunk)
        if self._pending_cr:
            # A CR ended the previous chunk; an LF starting this one belongs to it.
            self._pending_cr = False
            if text.startswith("\n"):
                text = text[1:]
        events: list[ServerSentEvent] = []
        buffer = self._buffer + text
        start = 0
        length = len(buffer)
        while True:
            cr = buffer.find("\r", start)
            lf = buffer.find("\n", start)
            if cr == -1 and lf == -1:
                break
            if cr == -1 or (lf != -1 and lf < cr):
                end, next_start = lf, lf + 1
            elif cr + 1 < length:
                end = cr
                next_start = cr + 2 if buffer[cr + 1] == "\n" else cr + 1
            else:
                end, next_start = cr, cr + 1
                self._pending_cr = True
            event = self._line(buffer[start:end])
            if event is not None:
                events.append(event)
            start = next_start
        self._buffer = buffer[start:]
        return events

    def _line(self, line: str) -> ServerSentEvent | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        elif name == "id":
            if "\0" not in value:
                self.last_event_id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self._retry = self.retry = int(value)
        return None

    def _dispatch(self) -> ServerSentEvent | None:
        event = None
        if self._data:
            event = ServerSentEvent(
                event=self._event or "message",
                data="\n".join(self._data),
                id=self.last_event_id,
                retry=self._retry,
            )
        self._event = ""
        self._data = []
        self._retry = None
        return event
