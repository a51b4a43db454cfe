"""Each error the manager answers, mapped to its BackendError subclass with its details."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from backendai_aio import (
    ERR_SERVER,
    LATEST_API_VERSION,
    AuthenticationError,
    BackendError,
    BadRequestError,
    Client,
    ClientConfig,
    NotFoundError,
    ServerError,
    SigningMiddleware,
)

from ._support import (
    ADMIN_ACCESS_KEY,
    ADMIN_SECRET_KEY,
    IMAGE,
    PROBS,
    destroy_quietly,
    session_name,
)

#: Beyond the manager's 15-minute window for the ``Date`` header, on either side.
SKEW = timedelta(minutes=20)


def assert_problem(
    error: BackendError,
    *,
    status: int,
    slug: str,
    title: str,
    msg: str | None,
    method: str,
    path: str,
) -> None:
    assert error.type == ERR_SERVER
    assert error.status == status
    assert error.problem_type == PROBS + slug
    assert error.title == title
    assert error.msg == msg
    assert error.method == method
    assert error.url is not None and error.url.endswith(path)
    # The message a user sees carries the status and the server's own words.
    assert str(status) in error.message and title in error.message


async def test_bad_secret_key(real_manager: str) -> None:
    config = ClientConfig(ADMIN_ACCESS_KEY, "not-the-secret-key-of-this-keypair", real_manager)
    async with Client(config) as client:
        with pytest.raises(AuthenticationError) as exc_info:
            await client.get_info("aio-it-auth")
    error = exc_info.value
    assert_problem(
        error,
        status=401,
        slug="auth-failed",
        title="Credential/signature mismatch.",
        msg="Signature mismatch",
        method="GET",
        path="/session/aio-it-auth",
    )
    assert "not-the-secret-key" not in error.message


async def test_unknown_access_key(real_manager: str) -> None:
    config = ClientConfig("AKIANOSUCHKEYEXAMPLE", ADMIN_SECRET_KEY, real_manager)
    async with Client(config) as client:
        with pytest.raises(AuthenticationError) as exc_info:
            await client.get_info("aio-it-auth")
    assert_problem(
        exc_info.value,
        status=401,
        slug="auth-failed",
        title="Credential/signature mismatch.",
        msg="Access key not found",
        method="GET",
        path="/session/aio-it-auth",
    )


class _StuckClockSigner(SigningMiddleware):
    """A signer whose clock stays off by SKEW: the client's skew correction cannot move it."""

    __slots__ = ()

    @property
    def clock_offset(self) -> timedelta:
        return SKEW

    @clock_offset.setter
    def clock_offset(self, value: timedelta) -> None:
        pass  # a clock that cannot be corrected is the case under test


async def test_skewed_clock_is_refused(real_manager: str) -> None:
    client = Client(ClientConfig(ADMIN_ACCESS_KEY, ADMIN_SECRET_KEY, real_manager))
    # Installed before the first call: the client's own aiohttp session is created with the
    # signer of that moment.
    client._signer = _StuckClockSigner(ADMIN_ACCESS_KEY, ADMIN_SECRET_KEY, LATEST_API_VERSION)
    async with client:
        with pytest.raises(BadRequestError) as exc_info:
            await client.get_info("aio-it-skew")
    assert_problem(
        exc_info.value,
        status=400,
        slug="invalid-auth-params",
        title="Missing or invalid authorization parameters.",
        msg="Date/time sync error",
        method="GET",
        path="/session/aio-it-skew",
    )


@pytest.mark.parametrize("skew", [SKEW, -SKEW], ids=["fast", "slow"])
async def test_skewed_clock_is_corrected(admin_client: Client, skew: timedelta) -> None:
    admin_client._signer.clock_offset = skew
    # The manager refuses the date; the client measures the offset from the answer's Date
    # header, signs again and reaches the handler (which knows no such session).
    with pytest.raises(NotFoundError) as exc_info:
        await admin_client.get_info("aio-it-skew")
    assert exc_info.value.title == "No such session."
    # Our clock is right, so the corrected offset is about zero (the Date header has a
    # one-second resolution).
    assert abs(admin_client.clock_offset) < 5


async def test_clock_within_the_window_is_accepted(admin_client: Client) -> None:
    admin_client._signer.clock_offset = timedelta(minutes=10)
    with pytest.raises(NotFoundError):
        await admin_client.get_info("aio-it-skew")
    # Accepted as is: nothing to correct.
    assert admin_client.clock_offset == pytest.approx(600)


async def test_unsupported_api_version(admin_client: Client) -> None:
    await admin_client.get_server_version()
    # v3 is what clients of 2018 sent; no current manager accepts it.
    admin_client._signer.api_version = "v3.20170615"
    with pytest.raises(BadRequestError) as exc_info:
        await admin_client.get_info("aio-it-version")
    assert_problem(
        exc_info.value,
        status=400,
        slug="generic-bad-request",
        title="Bad request.",
        msg="Unsupported API version.",
        method="GET",
        path="/session/aio-it-version",
    )


async def test_unknown_session(admin_client: Client) -> None:
    name = session_name()
    with pytest.raises(NotFoundError) as exc_info:
        await admin_client.get_info(name)
    error = exc_info.value
    assert_problem(
        error,
        status=404,
        slug="object-not-found",
        title="No such session.",
        msg=f"Session (id={name}) does not exist.",
        method="GET",
        path=f"/session/{name}",
    )
    assert error.data is None


async def test_invalid_body_names_each_field(admin_client: Client) -> None:
    with pytest.raises(BadRequestError) as exc_info:
        await admin_client._request("POST", admin_client._url("session"), json={"unexpected": 1})
    error = exc_info.value
    assert_problem(
        error,
        status=400,
        slug="invalid-api-params",
        title="Missing or invalid API parameters.",
        msg="Input validation error",
        method="POST",
        path="/session",
    )
    # The manager validates the body's own key names (`name` is its alias `session_name`).
    assert error.data == {
        "session_name": "is required",
        "image": "is required",
        "unexpected": "unexpected is not allowed key",
    }


@pytest.mark.parametrize(
    ("options", "data"),
    [
        ({"type": "nonsense"}, {"type": "value is not a valid member of SessionTypes"}),
        ({"max_wait_seconds": -5}, {"maxWaitSeconds": "value is less than 0"}),
        ({"cluster_size": 0}, {"cluster_size": "value is less than 1"}),
    ],
    ids=["type", "max_wait_seconds", "cluster_size"],
)
async def test_invalid_creation_options(
    admin_client: Client, options: dict[str, Any], data: dict[str, str]
) -> None:
    # Through the public API: the option's wire name for API v7 is what the manager names.
    name = session_name()
    try:
        with pytest.raises(BadRequestError) as exc_info:
            await admin_client.create_if_not_exists(IMAGE, name, enqueue_only=True, **options)
    finally:
        await destroy_quietly(admin_client, name)
    error = exc_info.value
    assert error.problem_type == PROBS + "invalid-api-params"
    assert error.msg == "Input validation error"
    assert error.data == data


async def test_unknown_image(admin_client: Client) -> None:
    name = session_name()
    try:
        with pytest.raises(NotFoundError) as exc_info:
            await admin_client.create_if_not_exists("no-such-image:1.0", name, enqueue_only=True)
    finally:
        await destroy_quietly(admin_client, name)
    error = exc_info.value
    assert_problem(
        error,
        status=404,
        slug="object-not-found",
        title="No such environment image.",
        msg="Unknown image references: ref:'index.docker.io/lablup/no-such-image:1.0', "
        "alias:'no-such-image:1.0'",
        method="POST",
        path="/session",
    )


async def test_session_already_exists(admin_client: Client) -> None:
    name = session_name()
    try:
        created = await admin_client.create_if_not_exists(IMAGE, name, enqueue_only=True)
        with pytest.raises(BadRequestError) as exc_info:
            await admin_client.create_if_not_exists(
                IMAGE, name, enqueue_only=True, reuse_if_exists=False
            )
    finally:
        await destroy_quietly(admin_client, name)
    error = exc_info.value
    assert_problem(
        error,
        status=400,
        slug="session-already-exists",
        title="The session already exists but you requested not to reuse existing one.",
        msg=None,
        method="POST",
        path="/session",
    )
    assert error.data == {"existingSessionId": created["sessionId"]}


async def test_unknown_url(admin_client: Client) -> None:
    with pytest.raises(NotFoundError) as exc_info:
        await admin_client._request("GET", admin_client._url("no-such-endpoint"))
    error = exc_info.value
    assert_problem(
        error,
        status=404,
        slug="url-not-found",
        title="Unknown URL path.",
        msg=None,
        method="GET",
        path="/no-such-endpoint",
    )
    assert error.data == "/no-such-endpoint"


async def test_wrong_method(admin_client: Client) -> None:
    with pytest.raises(ServerError) as exc_info:
        await admin_client._request("PUT", admin_client._url("session"))
    error = exc_info.value
    # 405 has no subclass of its own: it is a ServerError, not a 400/401/403/404/429 kind.
    assert not isinstance(error, BadRequestError | AuthenticationError | NotFoundError)
    assert_problem(
        error,
        status=405,
        slug="method-not-allowed",
        title="HTTP Method Not Allowed.",
        msg=None,
        method="PUT",
        path="/session",
    )
