"""The base of every resource namespace: the transport it is given, and nothing else."""

from __future__ import annotations

from ._transport import Transport

__all__ = ["Namespace"]


class Namespace:
    """A group of calls on one resource, made through the client's `Transport`."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    def __repr__(self) -> str:
        return f"<{type(self).__name__} endpoint={str(self._transport.endpoint)!r}>"
