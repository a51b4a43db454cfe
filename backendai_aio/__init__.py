"""backendai_aio: an asyncio-native client SDK for Backend.AI.

```python
from backendai_aio import Client, ClientConfig

async with Client(ClientConfig.from_env()) as client:
    await client.create_if_not_exists("python:3.11", "my-session")
    result = await client.execute("my-session", None, "query", 'print("hello")')
```

Failures raise [`BackendError`][backendai_aio.BackendError], whose ``type`` is
[`ERR_SERVER`][backendai_aio.ERR_SERVER], [`ERR_RESPONSE`][backendai_aio.ERR_RESPONSE] or
[`ERR_REQUEST`][backendai_aio.ERR_REQUEST].
"""

from ._account import GraphQLError
from ._apiversion import LATEST_API_VERSION, OLDEST_API_VERSION, SUPPORTED_API_VERSIONS
from ._auth_calls import Auth
from ._catalog_types import (
    ContainerUsage,
    CreatedTemplate,
    GroupUsage,
    ResourceSlotInfo,
    ScalingGroupEntry,
    SSHKeypair,
    SSHPublicKey,
    TemplateEntry,
    TemplateInfo,
    TemplateKind,
)
from ._client import Client
from ._config import DEFAULT_ENDPOINT, ClientConfig
from ._errors import (
    ERR_REQUEST,
    ERR_RESPONSE,
    ERR_SERVER,
    AuthenticationError,
    BackendError,
    BadRequestError,
    ClientClosedError,
    InputRequiredError,
    InsecureTLSWarning,
    InternalServerError,
    InvalidArgumentError,
    LocalIOError,
    NotFoundError,
    NotSupportedError,
    PermissionDeniedError,
    RateLimitError,
    RequestError,
    ResponseError,
    RunDeadlineError,
    RunInProgressError,
    ServerError,
    UnsupportedServerError,
)
from ._event_stream import Event, EventStream
from ._events import Events
from ._execution_stream import ExecutionStream
from ._images import ImageEntry, ImageResourceLimit, Images
from ._middleware import SigningMiddleware
from ._ratelimits import RateLimit
from ._resources import Resources
from ._results import ConsoleItem, FileEntry, RunResult
from ._retries import NO_RETRIES, RetryPolicy
from ._service_types import (
    CreatedService,
    RouteInfo,
    RuntimeEntry,
    ScaleResult,
    ServiceError,
    ServiceErrors,
    ServiceInfo,
    ServiceNotReadyError,
    ServiceSummary,
)
from ._services import Services
from ._session_options import BatchOptions, SessionOptions
from ._streams import ByteStream, ProgressCallback
from ._templates import Templates
from ._timeouts import NOT_GIVEN, Timeout, TimeoutArg
from ._transport import Transport
from ._version import __version__
from ._vfolders import VFolder

__all__ = [
    "DEFAULT_ENDPOINT",
    "ERR_REQUEST",
    "ERR_RESPONSE",
    "ERR_SERVER",
    "LATEST_API_VERSION",
    "NOT_GIVEN",
    "NO_RETRIES",
    "OLDEST_API_VERSION",
    "SUPPORTED_API_VERSIONS",
    "Auth",
    "AuthenticationError",
    "BackendError",
    "BadRequestError",
    "BatchOptions",
    "ByteStream",
    "Client",
    "ClientClosedError",
    "ClientConfig",
    "ConsoleItem",
    "ContainerUsage",
    "CreatedService",
    "CreatedTemplate",
    "Event",
    "EventStream",
    "Events",
    "ExecutionStream",
    "FileEntry",
    "GraphQLError",
    "GroupUsage",
    "ImageEntry",
    "ImageResourceLimit",
    "Images",
    "InputRequiredError",
    "InsecureTLSWarning",
    "InternalServerError",
    "InvalidArgumentError",
    "LocalIOError",
    "NotFoundError",
    "NotSupportedError",
    "PermissionDeniedError",
    "ProgressCallback",
    "RateLimit",
    "RateLimitError",
    "RequestError",
    "ResourceSlotInfo",
    "Resources",
    "ResponseError",
    "RetryPolicy",
    "RouteInfo",
    "RunDeadlineError",
    "RunInProgressError",
    "RunResult",
    "RuntimeEntry",
    "SSHKeypair",
    "SSHPublicKey",
    "ScaleResult",
    "ScalingGroupEntry",
    "ServerError",
    "ServiceError",
    "ServiceErrors",
    "ServiceInfo",
    "ServiceNotReadyError",
    "ServiceSummary",
    "Services",
    "SessionOptions",
    "SigningMiddleware",
    "TemplateEntry",
    "TemplateInfo",
    "TemplateKind",
    "Templates",
    "Timeout",
    "TimeoutArg",
    "Transport",
    "UnsupportedServerError",
    "VFolder",
    "__version__",
]
