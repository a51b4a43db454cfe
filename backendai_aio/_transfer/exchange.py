"""What the tus upload and the ranged download share: one storage-proxy URL and its token.

`StorageExchange` keeps the transport, the URL, the storage token and the timeout, and
builds the errors of both: a failure put in its phase with the token masked (`fail`), and
an error about an answer of the storage proxy (`answer_error`).
"""

from __future__ import annotations

from yarl import URL

from .._errors import BackendError, ResponseError
from .._timeouts import TimeoutArg
from .._transport import Transport
from .policy import in_phase

__all__ = ["StorageExchange"]


class StorageExchange:
    """Requests to one storage-proxy URL, authorised by its token, described as *what*."""

    def __init__(
        self, client: Transport, url: URL, token: str, timeout: TimeoutArg, what: str
    ) -> None:
        self._client = client
        self._url = url
        self._token = token
        self._timeout = timeout
        self._what = what

    def _fail(self, error: BackendError, phase: str) -> BackendError:
        """A copy of *error* naming the transfer and *phase*, the token masked."""
        return in_phase(error, f"{self._what} ({phase})", self._token)

    def _answer_error(
        self,
        message: str,
        *,
        method: str,
        status: int | None = None,
        kind: type[ResponseError] = ResponseError,
    ) -> ResponseError:
        """An error of *kind* about the storage proxy's answer to *method*."""
        return kind(message, status=status, method=method, url=str(self._url))
