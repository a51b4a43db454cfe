"""The manager's RFC 7807 errors, with the same types, titles and statuses."""

from __future__ import annotations

import json
from typing import Any, Final

from aiohttp import web

__all__ = [
    "AuthorizationFailed",
    "BackgroundTaskNotFound",
    "EntityNotFound",
    "GenericBadRequest",
    "GenericForbidden",
    "GroupNotFound",
    "ImageNotFound",
    "InsufficientPrivilege",
    "InternalServerError",
    "InvalidAPIParameters",
    "InvalidAuthParameters",
    "InvitationNotFound",
    "MethodNotAllowed",
    "NoSuchUploadSession",
    "NotImplementedAPI",
    "PROBS",
    "Problem",
    "Project26NotFound",
    "ProjectNotFound",
    "QuotaExceeded",
    "RateLimitExceeded",
    "SessionAlreadyExists",
    "SessionNotFound",
    "StorageFileNotFound",
    "StorageInvalidParameters",
    "StorageProblem",
    "URLNotFound",
    "UploadOffsetMismatch",
    "VFolderAlreadyExists",
    "VFolderNotFound",
    "VFolderOperationFailed",
    "WebserverProblem",
]

#: Where the manager's problem types live (``type`` is this and the problem's slug).
PROBS: Final = "https://api.backend.ai/probs/"


class Problem(Exception):
    """An error answered as ``application/problem+json``."""

    status = 500
    slug = "general-error"
    title = "General Backend API Error."
    #: The ``error_code`` managers since 25.x add to the body (``domain_operation_detail``);
    #: ``None`` for errors of the webserver and the storage proxy, which add none.
    error_code: str | None = "backendai_generic_internal-error"

    def __init__(self, msg: str | None = None, data: Any = None) -> None:
        super().__init__(msg or self.title)
        self.msg = msg
        self.data = data

    def to_response(
        self, headers: dict[str, str] | None = None, *, error_code: bool = False
    ) -> web.Response:
        """Render the problem body the way the manager does (``msg``/``data`` when set).

        *error_code* adds the ``error_code`` field, as the 26.9 manager does.
        """
        body: dict[str, Any] = {"type": PROBS + self.slug, "title": self.title}
        if error_code and self.error_code is not None:
            body["error_code"] = self.error_code
        if self.msg is not None:
            body["msg"] = self.msg
        if self.data is not None:
            body["data"] = self.data
        return web.Response(
            status=self.status,
            body=json.dumps(body).encode(),
            content_type="application/problem+json",
            headers=headers,
        )


class GenericBadRequest(Problem):
    """400 generic-bad-request (e.g. an unsupported API version)."""

    status, slug, title = 400, "generic-bad-request", "Bad request."
    error_code = "backendai_generic_bad-request"


class InvalidAuthParameters(Problem):
    """400 invalid-auth-params (date out of window, malformed Authorization)."""

    status, slug, title = 400, "invalid-auth-params", "Missing or invalid authorization parameters."
    error_code = "user_auth_invalid-parameters"


class AuthorizationFailed(Problem):
    """401 auth-failed (unknown key, signature mismatch, unsigned request)."""

    status, slug, title = 401, "auth-failed", "Credential/signature mismatch."
    error_code = "user_auth_unauthorized"


class InvalidAPIParameters(Problem):
    """400 invalid-api-params (malformed or invalid body)."""

    status, slug, title = 400, "invalid-api-params", "Missing or invalid API parameters."
    error_code = "api_generic_invalid-parameters"


class GenericForbidden(Problem):
    """403 generic-forbidden (e.g. watching another user's session events)."""

    status, slug, title = 403, "generic-forbidden", "Forbidden operation."
    error_code = "backendai_generic_forbidden"


class InsufficientPrivilege(Problem):
    """403 insufficient-privilege (e.g. a plain user naming agents for a session)."""

    status, slug, title = 403, "insufficient-privilege", "Insufficient privilege."
    error_code = "user_auth_forbidden"


class GroupNotFound(Problem):
    """404 object-not-found for a user group (project)."""

    status, slug, title = 404, "object-not-found", "No such user group (or project)."
    error_code = "group_get_not-found"


class ProjectNotFound(Problem):
    """404 object-not-found for a project the caller is not a member of (``/auth/role``)."""

    status, slug, title = 404, "object-not-found", "No such project (user group)."
    error_code = "project_get_not-found"


class BackgroundTaskNotFound(Problem):
    """404 bgtask-not-found (an unknown background task id)."""

    status, slug, title = 404, "bgtask-not-found", "Background Task Not Found"


class URLNotFound(Problem):
    """404 url-not-found; the manager puts the request's path in ``data``."""

    status, slug, title = 404, "url-not-found", "Unknown URL path."
    error_code = "api_read_not-found"


class MethodNotAllowed(Problem):
    """405 method-not-allowed."""

    status, slug, title = 405, "method-not-allowed", "HTTP Method Not Allowed."
    error_code = "api_access_forbidden"


class SessionNotFound(Problem):
    """404 object-not-found for a session."""

    status, slug, title = 404, "object-not-found", "No such session."
    error_code = "session_get_not-found"


class ImageNotFound(Problem):
    """404 object-not-found for an image."""

    status, slug, title = 404, "object-not-found", "No such environment image."
    error_code = "image_get_not-found"


class SessionAlreadyExists(Problem):
    """400 session-already-exists (``reuseIfExists: false`` on an existing name)."""

    status, slug = 400, "session-already-exists"
    title = "The session already exists but you requested not to reuse existing one."
    error_code = "session_create_already-exists"


class QuotaExceeded(Problem):
    """412 quota-exceeded (a resource policy's limit, e.g. containers per session)."""

    status, slug, title = 412, "quota-exceeded", "You have reached your resource limit."
    error_code = "session_create_unavailable"


class RateLimitExceeded(Problem):
    """429 rate-limit-exceeded (more calls in the rolling window than the keypair's limit)."""

    status, slug, title = 429, "rate-limit-exceeded", "You have reached your API query rate limit."
    error_code = "api_access_unavailable"


class InternalServerError(Problem):
    """500 internal-server-error."""

    status, slug, title = 500, "internal-server-error", "Internal server error."


class VFolderNotFound(Problem):
    """404 object-not-found for a virtual folder (``data`` holds the name)."""

    status, slug, title = 404, "object-not-found", "No such virtual folder."
    error_code = "vfolder_get_not-found"


class VFolderAlreadyExists(Problem):
    """400 vfolder-already-exists."""

    status, slug = 400, "vfolder-already-exists"
    title = "The virtual folder already exists with the same name."
    error_code = "vfolder_create_already-exists"


class VFolderNameTaken(VFolderAlreadyExists):
    """400 vfolder-already-exists: a folder is created under a name already taken."""

    def __init__(self, name: str) -> None:
        super().__init__(data=name)
        self.name = name


class VFolderOperationFailed(Problem):
    """400 vfolder-operation-failed (the storage proxy refused the operation)."""

    status, slug, title = 400, "vfolder-operation-failed", "Virtual folder operation has failed."
    error_code = "vfolder_generic_internal-error"


class InvitationNotFound(Problem):
    """404 object-not-found for a folder invitation."""

    status, slug, title = 404, "object-not-found", "No such vfolder invitation."
    error_code = "vfolder-invitation_get_not-found"


class NotImplementedAPI(Problem):
    """501 not-implemented (26.9: session restart is no longer supported)."""

    status, slug, title = 501, "not-implemented", "This API is not implemented."
    error_code = "api_generic_not-implemented"


class EntityNotFound(Problem):
    """404 entity-not-found: how 26.9 reports a session it cannot find by name or id."""

    status, slug, title = 404, "entity-not-found", "Entity not found."

    def __init__(self, msg: str | None = None, data: Any = None, *, entity: str) -> None:
        super().__init__(msg, data)
        self.error_code = f"{entity}_lookup_not-found"


class Project26NotFound(Problem):
    """404 project-not-found (26.9: a check-presets ``group`` that names no project)."""

    status, slug, title = 404, "project-not-found", "Project not found."
    error_code = "project_get_not-found"


# The emulated storage proxy's own errors.


class StorageProblem(Problem):
    """An error of the storage proxy, whose bodies carry no ``error_code``."""

    error_code = None


class StorageInvalidParameters(StorageProblem):
    """400 from the storage proxy: a bad token or header."""

    status, slug, title = 400, "storage/invalid-api-params", "Invalid API parameters"


class NoSuchUploadSession(StorageProblem):
    """404 from the storage proxy: the upload finished (or never existed)."""

    status, slug, title = 404, "storage/no-such-upload-session", "No such upload session"


class UploadOffsetMismatch(StorageProblem):
    """409 from the storage proxy: a PATCH at another offset than the server's."""

    status, slug, title = 409, "storage/upload-offset-mismatch", "Upload offset mismatch"


class StorageFileNotFound(StorageProblem):
    """404 from the storage proxy: no such file to download."""

    status, slug, title = 404, "storage/file-not-found", "File not found"


class WebserverProblem(Problem):
    """An error of the webserver itself: its own type and title, no ``msg``.

    The webserver writes these bodies by hand (``{"type", "title"}``), so each carries its
    status, slug and title as given.
    """

    error_code = None

    def __init__(self, status: int, slug: str, title: str) -> None:
        self.status, self.slug, self.title = status, slug, title
        super().__init__()
