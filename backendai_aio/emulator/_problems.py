"""The manager's RFC 7807 errors, with the same types, titles and statuses."""

from __future__ import annotations

import json
from typing import Any, Final

from aiohttp import web

__all__ = [
    "AuthorizationFailed",
    "BackgroundTaskNotFound",
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
    "PROBS",
    "Problem",
    "ProjectNotFound",
    "QuotaExceeded",
    "RateLimitExceeded",
    "SessionAlreadyExists",
    "SessionNotFound",
    "StorageFileNotFound",
    "StorageInvalidParameters",
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

    def __init__(self, msg: str | None = None, data: Any = None) -> None:
        super().__init__(msg or self.title)
        self.msg = msg
        self.data = data

    def to_response(self, headers: dict[str, str] | None = None) -> web.Response:
        """Render the problem body the way the manager does (``msg``/``data`` when set)."""
        body: dict[str, Any] = {"type": PROBS + self.slug, "title": self.title}
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


class InvalidAuthParameters(Problem):
    """400 invalid-auth-params (date out of window, malformed Authorization)."""

    status, slug, title = 400, "invalid-auth-params", "Missing or invalid authorization parameters."


class AuthorizationFailed(Problem):
    """401 auth-failed (unknown key, signature mismatch, unsigned request)."""

    status, slug, title = 401, "auth-failed", "Credential/signature mismatch."


class InvalidAPIParameters(Problem):
    """400 invalid-api-params (malformed or invalid body)."""

    status, slug, title = 400, "invalid-api-params", "Missing or invalid API parameters."


class GenericForbidden(Problem):
    """403 generic-forbidden (e.g. watching another user's session events)."""

    status, slug, title = 403, "generic-forbidden", "Forbidden operation."


class InsufficientPrivilege(Problem):
    """403 insufficient-privilege (e.g. a plain user naming agents for a session)."""

    status, slug, title = 403, "insufficient-privilege", "Insufficient privilege."


class GroupNotFound(Problem):
    """404 object-not-found for a user group (project)."""

    status, slug, title = 404, "object-not-found", "No such user group (or project)."


class ProjectNotFound(Problem):
    """404 object-not-found for a project the caller is not a member of (``/auth/role``)."""

    status, slug, title = 404, "object-not-found", "No such project (user group)."


class BackgroundTaskNotFound(Problem):
    """404 bgtask-not-found (an unknown background task id)."""

    status, slug, title = 404, "bgtask-not-found", "Background Task Not Found"


class URLNotFound(Problem):
    """404 url-not-found; the manager puts the request's path in ``data``."""

    status, slug, title = 404, "url-not-found", "Unknown URL path."


class MethodNotAllowed(Problem):
    """405 method-not-allowed."""

    status, slug, title = 405, "method-not-allowed", "HTTP Method Not Allowed."


class SessionNotFound(Problem):
    """404 object-not-found for a session."""

    status, slug, title = 404, "object-not-found", "No such session."


class ImageNotFound(Problem):
    """404 object-not-found for an image."""

    status, slug, title = 404, "object-not-found", "No such environment image."


class SessionAlreadyExists(Problem):
    """400 session-already-exists (``reuseIfExists: false`` on an existing name)."""

    status, slug = 400, "session-already-exists"
    title = "The session already exists but you requested not to reuse existing one."


class QuotaExceeded(Problem):
    """412 quota-exceeded (a resource policy's limit, e.g. containers per session)."""

    status, slug, title = 412, "quota-exceeded", "You have reached your resource limit."


class RateLimitExceeded(Problem):
    """429 rate-limit-exceeded (more calls in the rolling window than the keypair's limit)."""

    status, slug, title = 429, "rate-limit-exceeded", "You have reached your API query rate limit."


class InternalServerError(Problem):
    """500 internal-server-error."""

    status, slug, title = 500, "internal-server-error", "Internal server error."


class VFolderNotFound(Problem):
    """404 object-not-found for a virtual folder (``data`` holds the name)."""

    status, slug, title = 404, "object-not-found", "No such virtual folder."


class VFolderAlreadyExists(Problem):
    """400 vfolder-already-exists."""

    status, slug = 400, "vfolder-already-exists"
    title = "The virtual folder already exists with the same name."


class VFolderOperationFailed(Problem):
    """400 vfolder-operation-failed (the storage proxy refused the operation)."""

    status, slug, title = 400, "vfolder-operation-failed", "Virtual folder operation has failed."


class InvitationNotFound(Problem):
    """404 object-not-found for a folder invitation."""

    status, slug, title = 404, "object-not-found", "No such vfolder invitation."


# The emulated storage proxy's own errors.


class StorageInvalidParameters(Problem):
    """400 from the storage proxy: a bad token or header."""

    status, slug, title = 400, "storage/invalid-api-params", "Invalid API parameters"


class NoSuchUploadSession(Problem):
    """404 from the storage proxy: the upload finished (or never existed)."""

    status, slug, title = 404, "storage/no-such-upload-session", "No such upload session"


class UploadOffsetMismatch(Problem):
    """409 from the storage proxy: a PATCH at another offset than the server's."""

    status, slug, title = 409, "storage/upload-offset-mismatch", "Upload offset mismatch"


class StorageFileNotFound(Problem):
    """404 from the storage proxy: no such file to download."""

    status, slug, title = 404, "storage/file-not-found", "File not found"


class WebserverProblem(Problem):
    """An error of the webserver itself: its own type and title, no ``msg``.

    The webserver writes these bodies by hand (``{"type", "title"}``), so each carries its
    status, slug and title as given.
    """

    def __init__(self, status: int, slug: str, title: str) -> None:
        self.status, self.slug, self.title = status, slug, title
        super().__init__()
