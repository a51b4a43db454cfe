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

from ._apiversion import LATEST_API_VERSION, OLDEST_API_VERSION, SUPPORTED_API_VERSIONS
from ._auth_calls import Auth
from ._catalog_types import (
    ContainerUsage,
    CreatedTemplate,
    GroupUsage,
    KernelUsage,
    ProjectUsage,
    ResourceSlotInfo,
    ScalingGroupEntry,
    SessionUsage,
    SSHKeypair,
    SSHPublicKey,
    TemplateEntry,
    TemplateInfo,
    TemplateKind,
    UsageRecord,
    UsageTotals,
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
    ConnectTimeoutError,
    GraphQLError,
    InputRequiredError,
    InsecureTLSWarning,
    InternalServerError,
    InvalidArgumentError,
    LocalIOError,
    NotFoundError,
    NotSupportedError,
    PermissionDeniedError,
    RateLimitError,
    ReadTimeoutError,
    RequestError,
    ResponseError,
    RunDeadlineError,
    RunInProgressError,
    ServerError,
    UnsupportedServerError,
    UsageError,
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
    ServiceOptions,
    ServiceSummary,
    TrialOptions,
)
from ._services import Services
from ._session_app_types import AppInfo, StartedService
from ._session_options import BatchOptions, SessionOptions
from ._session_record_types import (
    CommitResult,
    CommitStatus,
    DependencyGraph,
    DirectAccessInfo,
    SessionListEntry,
)
from ._session_types import (
    CompletionAnswer,
    CompletionResult,
    CreatedSession,
    DestroyAnswer,
    ExecuteAnswer,
    ExecuteResult,
    ServerVersion,
    SessionFileListing,
    SessionInfo,
    SessionLogs,
)
from ._sessions import Sessions
from ._templates import Templates
from ._terminal import Terminal
from ._timeouts import NOT_GIVEN, Timeout, TimeoutArg
from ._transfer.progress import ProgressCallback
from ._transfer.sources import UploadSource
from ._transfer.streams import ByteStream
from ._transport import Transport
from ._version import __version__
from ._vfolder import VFolder
from ._vfolder_trees import TreeResult, TreeTransferError
from ._vfolder_types import (
    VFolderClone,
    VFolderEntry,
    VFolderFileItem,
    VFolderFileListing,
    VFolderHosts,
    VFolderInfo,
    VFolderInvitation,
    VFolderInvitations,
    VFolderShared,
    VFolderSharedEntry,
    VFolderSharedUser,
)
from ._vfolders import VFolders

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
    "AppInfo",
    "Auth",
    "AuthenticationError",
    "BackendError",
    "BadRequestError",
    "BatchOptions",
    "ByteStream",
    "Client",
    "ClientClosedError",
    "ClientConfig",
    "CommitResult",
    "CommitStatus",
    "CompletionAnswer",
    "CompletionResult",
    "ConnectTimeoutError",
    "ConsoleItem",
    "ContainerUsage",
    "CreatedService",
    "CreatedSession",
    "CreatedTemplate",
    "DependencyGraph",
    "DestroyAnswer",
    "DirectAccessInfo",
    "Event",
    "EventStream",
    "Events",
    "ExecuteAnswer",
    "ExecuteResult",
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
    "KernelUsage",
    "LocalIOError",
    "NotFoundError",
    "NotSupportedError",
    "PermissionDeniedError",
    "ProgressCallback",
    "ProjectUsage",
    "RateLimit",
    "RateLimitError",
    "ReadTimeoutError",
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
    "ServerVersion",
    "ServiceError",
    "ServiceErrors",
    "ServiceInfo",
    "ServiceNotReadyError",
    "ServiceOptions",
    "ServiceSummary",
    "Services",
    "SessionFileListing",
    "SessionInfo",
    "SessionListEntry",
    "SessionLogs",
    "SessionOptions",
    "SessionUsage",
    "Sessions",
    "SigningMiddleware",
    "StartedService",
    "TemplateEntry",
    "TemplateInfo",
    "TemplateKind",
    "Templates",
    "Terminal",
    "Timeout",
    "TimeoutArg",
    "Transport",
    "TreeResult",
    "TreeTransferError",
    "TrialOptions",
    "UnsupportedServerError",
    "UploadSource",
    "UsageError",
    "UsageRecord",
    "UsageTotals",
    "VFolder",
    "VFolderClone",
    "VFolderEntry",
    "VFolderFileItem",
    "VFolderFileListing",
    "VFolderHosts",
    "VFolderInfo",
    "VFolderInvitation",
    "VFolderInvitations",
    "VFolderShared",
    "VFolderSharedEntry",
    "VFolderSharedUser",
    "VFolders",
    "__version__",
]
