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
from backendai_aio._auth_modes import KeypairSigning

from ._support import (
    ADMIN_ACCESS_KEY,
    ADMIN_SECRET_KEY,
    IMAGE,
    PROBS,
    Release,
    destroy_quietly,
    session_name,
    signer_of,
)

#: 26.9 validates bodies with pydantic: one 400 for every schema failure, the details in `msg`.
SCHEMA_FAILED_2609 = ("generic-bad-request", "Invalid or Missing API Parameters.")

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


async def test_bad_secret_key(release: Release) -> None:
    config = ClientConfig(ADMIN_ACCESS_KEY, "not-the-secret-key-of-this-keypair", release.endpoint)
    async with Client(config) as client:
        with pytest.raises(AuthenticationError) as exc_info:
            await client.get_info("aio-it-auth")
    error = exc_info.value
    assert_problem(
        error,
        status=401,
        slug="auth-failed",
        title="Credential/signature mismatch.",
        msg="Signature mismatch" if release.is_2309 else "HMAC signature mismatch",
        method="GET",
        path="/session/aio-it-auth",
    )
    assert "not-the-secret-key" not in error.message


async def test_unknown_access_key(release: Release) -> None:
    config = ClientConfig("AKIANOSUCHKEYEXAMPLE", ADMIN_SECRET_KEY, release.endpoint)
    async with Client(config) as client:
        with pytest.raises(AuthenticationError) as exc_info:
            await client.get_info("aio-it-auth")
    assert_problem(
        exc_info.value,
        status=401,
        slug="auth-failed",
        title="Credential/signature mismatch.",
        msg="Access key not found" if release.is_2309 else "Access key not found in HMAC",
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
    client._transport.auth = KeypairSigning(
        _StuckClockSigner(ADMIN_ACCESS_KEY, ADMIN_SECRET_KEY, LATEST_API_VERSION)
    )
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
async def test_skewed_clock_is_corrected(
    admin_client: Client, release: Release, skew: timedelta
) -> None:
    signer_of(admin_client).clock_offset = skew
    # The manager refuses the date; the client measures the offset from the answer's Date
    # header, signs again and reaches the handler (which knows no such session).
    with pytest.raises(NotFoundError) as exc_info:
        await admin_client.get_info("aio-it-skew")
    assert exc_info.value.title == release.session_not_found[1]
    # Our clock is right, so the corrected offset is about zero (the Date header has a
    # one-second resolution).
    assert abs(admin_client.clock_offset) < 5


async def test_clock_within_the_window_is_accepted(admin_client: Client) -> None:
    signer_of(admin_client).clock_offset = timedelta(minutes=10)
    with pytest.raises(NotFoundError):
        await admin_client.get_info("aio-it-skew")
    # Accepted as is: nothing to correct.
    assert admin_client.clock_offset == pytest.approx(600)


async def test_unsupported_api_version(admin_client: Client) -> None:
    await admin_client.get_server_version()
    # v3 is what clients of 2018 sent; no current manager accepts it.
    signer_of(admin_client).api_version = "v3.20170615"
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


async def test_unknown_session(admin_client: Client, release: Release) -> None:
    name = session_name()
    # A NotFoundError on both releases; the body differs (23.09 `object-not-found` "No such
    # session.", 26.9 `entity-not-found` "Entity not found.").
    with pytest.raises(NotFoundError) as exc_info:
        await admin_client.get_info(name)
    error = exc_info.value
    slug, title = release.session_not_found
    assert_problem(
        error,
        status=404,
        slug=slug,
        title=title,
        msg=release.session_not_found_msg(name),
        method="GET",
        path=f"/session/{name}",
    )
    assert error.data is None


async def test_invalid_body_names_each_field(admin_client: Client, release: Release) -> None:
    with pytest.raises(BadRequestError) as exc_info:
        await admin_client._transport.call(
            "POST", admin_client._transport.url("session"), json={"unexpected": 1}
        )
    error = exc_info.value
    if not release.is_2309:
        # 26.9 names the missing fields in `msg` (an unexpected key is no longer refused).
        assert (error.status, error.problem_type, error.title) == (
            400,
            PROBS + SCHEMA_FAILED_2609[0],
            SCHEMA_FAILED_2609[1],
        )
        assert error.msg is not None and "2 validation errors" in error.msg
        assert "session_name" in error.msg and "image" in error.msg
        assert "unexpected" not in error.msg.replace("input_value={'unexpected': 1}", "")
        assert error.data is None
        return
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
    ("options", "data", "why_2609"),
    [
        (
            {"type": "nonsense"},
            {"type": "value is not a valid member of SessionTypes"},
            "type\n  Input should be 'interactive', 'batch', 'inference' or 'system'",
        ),
        (
            {"max_wait_seconds": -5},
            {"maxWaitSeconds": "value is less than 0"},
            "maxWaitSeconds\n  Input should be greater than or equal to 0",
        ),
        (
            {"cluster_size": 0},
            {"cluster_size": "value is less than 1"},
            "cluster_size\n  Input should be greater than or equal to 1",
        ),
    ],
    ids=["type", "max_wait_seconds", "cluster_size"],
)
async def test_invalid_creation_options(
    admin_client: Client,
    release: Release,
    options: dict[str, Any],
    data: dict[str, str],
    why_2609: str,
) -> None:
    # Through the public API: the option's wire name for API v7 is what the manager names.
    name = session_name()
    try:
        with pytest.raises(BadRequestError) as exc_info:
            await admin_client.create_if_not_exists(IMAGE, name, enqueue_only=True, **options)
    finally:
        await destroy_quietly(admin_client, name)
    error = exc_info.value
    if not release.is_2309:
        assert error.problem_type == PROBS + SCHEMA_FAILED_2609[0]
        assert error.msg is not None and why_2609 in error.msg
        assert error.data is None
        return
    assert error.problem_type == PROBS + "invalid-api-params"
    assert error.msg == "Input validation error"
    assert error.data == data


async def test_unknown_image(admin_client: Client, release: Release) -> None:
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
        "alias:'no-such-image:1.0'"
        if release.is_2309
        else "Unknown image reference: no-such-image:1.0 (x86_64)",
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
        await admin_client._transport.call("GET", admin_client._transport.url("no-such-endpoint"))
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
        await admin_client._transport.call("PUT", admin_client._transport.url("session"))
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
