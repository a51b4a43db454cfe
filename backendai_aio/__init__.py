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

import importlib
from typing import TYPE_CHECKING, Any, Final

from ._apiversion import LATEST_API_VERSION, OLDEST_API_VERSION, SUPPORTED_API_VERSIONS
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
from ._middleware import SigningMiddleware
from ._ratelimits import RateLimit
from ._retries import NO_RETRIES, RetryPolicy
from ._timeouts import NOT_GIVEN, Timeout, TimeoutArg
from ._transport import Transport
from ._version import __version__

# Everything else is imported on first use (PEP 562): the namespaces, their types and the
# transfer machinery are most of the package's import time, and an application may need a
# few of them. Type checkers and IDEs see the plain imports below.
if TYPE_CHECKING:
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
    from ._event_stream import Event, EventStream
    from ._events import Events
    from ._execution_stream import ExecutionStream
    from ._images import ImageEntry, ImageResourceLimit, Images
    from ._resources import Resources
    from ._results import ConsoleItem, FileEntry, RunResult
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
    from ._transfer.progress import ProgressCallback
    from ._transfer.sources import UploadSource
    from ._transfer.streams import ByteStream
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

#: Each lazily imported public name, and the module it comes from.
_LAZY: Final = {
    "Auth": "._auth_calls",
    "ContainerUsage": "._catalog_types",
    "CreatedTemplate": "._catalog_types",
    "GroupUsage": "._catalog_types",
    "KernelUsage": "._catalog_types",
    "ProjectUsage": "._catalog_types",
    "ResourceSlotInfo": "._catalog_types",
    "ScalingGroupEntry": "._catalog_types",
    "SessionUsage": "._catalog_types",
    "SSHKeypair": "._catalog_types",
    "SSHPublicKey": "._catalog_types",
    "TemplateEntry": "._catalog_types",
    "TemplateInfo": "._catalog_types",
    "TemplateKind": "._catalog_types",
    "UsageRecord": "._catalog_types",
    "UsageTotals": "._catalog_types",
    "Event": "._event_stream",
    "EventStream": "._event_stream",
    "Events": "._events",
    "ExecutionStream": "._execution_stream",
    "ImageEntry": "._images",
    "ImageResourceLimit": "._images",
    "Images": "._images",
    "Resources": "._resources",
    "ConsoleItem": "._results",
    "FileEntry": "._results",
    "RunResult": "._results",
    "CreatedService": "._service_types",
    "RouteInfo": "._service_types",
    "RuntimeEntry": "._service_types",
    "ScaleResult": "._service_types",
    "ServiceError": "._service_types",
    "ServiceErrors": "._service_types",
    "ServiceInfo": "._service_types",
    "ServiceNotReadyError": "._service_types",
    "ServiceOptions": "._service_types",
    "ServiceSummary": "._service_types",
    "TrialOptions": "._service_types",
    "Services": "._services",
    "AppInfo": "._session_app_types",
    "StartedService": "._session_app_types",
    "BatchOptions": "._session_options",
    "SessionOptions": "._session_options",
    "CommitResult": "._session_record_types",
    "CommitStatus": "._session_record_types",
    "DependencyGraph": "._session_record_types",
    "DirectAccessInfo": "._session_record_types",
    "SessionListEntry": "._session_record_types",
    "CompletionAnswer": "._session_types",
    "CompletionResult": "._session_types",
    "CreatedSession": "._session_types",
    "DestroyAnswer": "._session_types",
    "ExecuteAnswer": "._session_types",
    "ExecuteResult": "._session_types",
    "ServerVersion": "._session_types",
    "SessionFileListing": "._session_types",
    "SessionInfo": "._session_types",
    "SessionLogs": "._session_types",
    "Sessions": "._sessions",
    "Templates": "._templates",
    "Terminal": "._terminal",
    "ProgressCallback": "._transfer.progress",
    "UploadSource": "._transfer.sources",
    "ByteStream": "._transfer.streams",
    "VFolder": "._vfolder",
    "TreeResult": "._vfolder_trees",
    "TreeTransferError": "._vfolder_trees",
    "VFolderClone": "._vfolder_types",
    "VFolderEntry": "._vfolder_types",
    "VFolderFileItem": "._vfolder_types",
    "VFolderFileListing": "._vfolder_types",
    "VFolderHosts": "._vfolder_types",
    "VFolderInfo": "._vfolder_types",
    "VFolderInvitation": "._vfolder_types",
    "VFolderInvitations": "._vfolder_types",
    "VFolderShared": "._vfolder_types",
    "VFolderSharedEntry": "._vfolder_types",
    "VFolderSharedUser": "._vfolder_types",
    "VFolders": "._vfolders",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value  # once imported, a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


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
