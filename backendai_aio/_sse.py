"""A byte-level parser of ``text/event-stream`` (server-sent events), pure and incremental.

It follows the WHATWG rules: lines end with CRLF, LF or CR; ``event:``, ``data:`` (joined by
newlines when repeated), ``id:`` and ``retry:`` fields; lines starting with ``:`` are
comments; a blank line dispatches the event. Bytes may arrive split anywhere, even inside a
UTF-8 character or between CR and LF.

The server does not control what parsing costs: a line and an event are bounded (1 MiB each
by default), and the work is linear in the bytes fed however they are split.
"""

from __future__ import annotations

import codecs
import json
from dataclasses import dataclass
from typing import Any, Final

__all__ = [
    "DEFAULT_MAX_EVENT_SIZE",
    "MAX_RETRY_MS",
    "SSELimitError",
    "SSEParser",
    "ServerSentEvent",
]

#: The default bound of one event's data, and of one line (in characters).
DEFAULT_MAX_EVENT_SIZE: Final = 1024 * 1024
#: The largest ``retry:`` honoured, in milliseconds (a minute); larger values are capped.
MAX_RETRY_MS: Final = 60_000
# A line carries its field name besides the value: leave room for it.
_LINE_SLACK: Final = 1024


@dataclass(frozen=True, slots=True)
class ServerSentEvent:
    """One event of a ``text/event-stream``."""

    #: The event name (``message`` when the server named none).
    event: str
    #: The data lines, joined with ``\\n``.
    data: str
    #: The last event id seen on the stream, if any.
    id: str | None = None
    #: The reconnection delay the server asked for with this event, in milliseconds (capped).
    retry: int | None = None

    def json(self) -> Any:
        """The data parsed as JSON (``ValueError`` if it is not JSON)."""
        return json.loads(self.data)


class SSELimitError(ValueError):
    """A line or an event of the stream is larger than the parser's bound."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        #: The events the same chunk completed before the bound was passed.
        self.events: list[ServerSentEvent] = []


def parse_retry(value: str) -> int | None:
    """The ``retry:`` field's delay in milliseconds, capped at `MAX_RETRY_MS`.

    ``None`` when the value is not a plain decimal number (the field is then ignored).
    """
    if not (value.isascii() and value.isdigit()):
        return None
    # Never convert an arbitrarily long number: anything past the cap's length is the cap.
    if len(value) > len(str(MAX_RETRY_MS)):
        return MAX_RETRY_MS
    return min(int(value), MAX_RETRY_MS)


class SSEParser:
    """Feed bytes, get the events they complete.

    *max_event_size* bounds an event's data and (with room for the field name) a line, in
    characters; going past it raises `SSELimitError`.
    """

    def __init__(self, *, max_event_size: int = DEFAULT_MAX_EVENT_SIZE) -> None:
        if max_event_size < 1:
            raise ValueError("max_event_size must be positive")
        self._max_event = max_event_size
        self._max_line = max_event_size + _LINE_SLACK
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        # The start of a line whose end has not arrived, kept in pieces: joining each chunk
        # onto the previous ones would copy the line again for every chunk.
        self._partial: list[str] = []
        self._partial_size = 0
        self._pending_cr = False
        self._event = ""
        self._data: list[str] = []
        self._data_size = 0
        self._retry: int | None = None
        #: The last event id, which a reconnection sends back as ``Last-Event-ID``.
        self.last_event_id: str | None = None
        #: The last ``retry:`` value seen, in milliseconds (capped).
        self.retry: int | None = None

    def reset(self) -> None:
        """Forget a half-received line or event, as when the connection broke.

        The last event id and ``retry`` stay, for the reconnection.
        """
        self._decoder.reset()
        self._partial = []
        self._partial_size = 0
        self._pending_cr = False
        self._event = ""
        self._data = []
        self._data_size = 0
        self._retry = None

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """Consume *chunk*; return the events it completes, in order.

        Past the bound, `SSELimitError` carries the events completed before it; the
        parser is then unusable until `reset`.
        """
        events: list[ServerSentEvent] = []
        try:
            self._feed(chunk, events)
        except SSELimitError as exc:
            exc.events = events
            raise
        return events

    def _feed(self, chunk: bytes, events: list[ServerSentEvent]) -> None:
        text = self._decoder.decode(chunk)
        if self._pending_cr:
            # A CR ended the previous chunk; an LF starting this one belongs to it.
            self._pending_cr = False
            if text.startswith("\n"):
                text = text[1:]
        start = 0
        length = len(text)
        # The next CR and LF at or after start, searched again only once passed, so that a
        # chunk of many lines is scanned once.
        cr = text.find("\r")
        lf = text.find("\n")
        while True:
            if cr != -1 and cr < start:
                cr = text.find("\r", start)
            if lf != -1 and lf < start:
                lf = text.find("\n", start)
            if cr == -1 and lf == -1:
                break
            if cr == -1 or (lf != -1 and lf < cr):
                end, next_start = lf, lf + 1
            elif cr + 1 < length:
                end = cr
                next_start = cr + 2 if text[cr + 1] == "\n" else cr + 1
            else:
                end, next_start = cr, cr + 1
                self._pending_cr = True
            piece = text[start:end]
            self._check_line(self._partial_size + len(piece))
            if self._partial:
                self._partial.append(piece)
                line = "".join(self._partial)
                self._partial = []
                self._partial_size = 0
            else:
                line = piece
            event = self._line(line)
            if event is not None:
                events.append(event)
            start = next_start
        if start < length:
            rest = text[start:]
            self._check_line(self._partial_size + len(rest))
            self._partial.append(rest)
            self._partial_size += len(rest)

    def _check_line(self, size: int) -> None:
        if size > self._max_line:
            raise SSELimitError(f"a line longer than {self._max_line} characters")

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
            # Each line after the first adds the newline that joins it.
            self._data_size += len(value) + (1 if self._data else 0)
            if self._data_size > self._max_event:
                raise SSELimitError(f"an event larger than {self._max_event} characters")
            self._data.append(value)
        elif name == "id":
            if "\0" not in value:
                self.last_event_id = value
        elif name == "retry":
            retry = parse_retry(value)
            if retry is not None:
                self._retry = self.retry = retry
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
        self._data_size = 0
        self._retry = None
        return event
