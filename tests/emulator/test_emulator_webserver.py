"""The emulated webserver: cookie login under /server/, the manager's API under /func/ (raw).

The expected answers are the webserver's (``src/ai/backend/web/server.py`` and ``proxy.py``)
relaying the real 23.09 manager's.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from backendai_aio.emulator import USER_ACCESS_KEY, USER_SECRET_KEY, Emulator

from .wire import PROBS, SSEvent, Wire, read_sse

pytestmark = pytest.mark.corrected_by_real_manager

USER = {"username": "user@lablup.com", "password": "C8qnIo29"}
ADMIN = {"username": "admin@lablup.com", "password": "wJalrXUt"}
UNAUTHORIZED = {"type": PROBS + "auth-failed", "title": "Unauthorized access"}


@pytest.fixture
async def browser() -> AsyncIterator[aiohttp.ClientSession]:
    """A client that keeps cookies, even for 127.0.0.1."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        yield session


async def post(
    browser: aiohttp.ClientSession, emulator: Emulator, path: str, body: Any = None
) -> tuple[int, Any]:
    async with browser.post(emulator.endpoint + path, json=body) as response:
        text = await response.text()
        return response.status, json.loads(text) if text else None


async def call(
    browser: aiohttp.ClientSession,
    emulator: Emulator,
    method: str,
    path: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any, dict[str, str]]:
    """An unsigned call through the webserver: the cookie authorises it."""
    async with browser.request(
        method, emulator.endpoint + "/func" + path, json=body, headers=headers
    ) as response:
        text = await response.text()
        decoded = json.loads(text) if text else None
        return response.status, decoded, dict(response.headers)


async def login(browser: aiohttp.ClientSession, emulator: Emulator, creds: Any = USER) -> Any:
    status, body = await post(browser, emulator, "/server/login", creds)
    assert status == 200 and body["authenticated"] is True, body
    return body


# -- logging in and out ----------------------------------------------------------------------


async def test_login_sets_the_session_cookie(
    emulator: Emulator, browser: aiohttp.ClientSession
) -> None:
    async with browser.post(emulator.endpoint + "/server/login", json=USER) as response:
        assert response.status == 200
        assert await response.json() == {
            "authenticated": True,
            "data": {"access_key": USER_ACCESS_KEY, "role": "user", "status": "active"},
        }
        cookie = response.cookies["AIOHTTP_SESSION"]
        assert cookie["httponly"] is True
        assert cookie["path"] == "/"
        assert cookie.value
    _, admin = await post(browser, emulator, "/server/logout")
    assert admin is None
    body = await login(browser, emulator, ADMIN)
    assert body["data"]["role"] == "superadmin"


async def test_refused_login(emulator: Emulator, browser: aiohttp.ClientSession) -> None:
    # The webserver relays the manager's refusal with HTTP 200, under "details".
    for creds in ({**USER, "password": "wrong"}, {"username": "nobody@x.y", "password": "p"}):
        status, body = await post(browser, emulator, "/server/login", creds)
        assert (status, body) == (
            200,
            {
                "authenticated": False,
                "data": {
                    "type": PROBS + "auth-failed",
                    "title": "Credential/signature mismatch.",
                    "details": "User credential mismatch.",
                },
            },
        )
    assert "AIOHTTP_SESSION" not in {cookie.key for cookie in browser.cookie_jar}


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b"", "username"),
        (b"{not json", "username"),
        (b'{"password": "x"}', "username"),
        (b'{"username": "", "password": "x"}', "username"),
        (b'{"username": "user@lablup.com"}', "password"),
        (b'{"username": "user@lablup.com", "password": ""}', "password"),
    ],
)
async def test_login_needs_both_fields(
    emulator: Emulator, browser: aiohttp.ClientSession, raw: bytes, field: str
) -> None:
    async with browser.post(
        emulator.endpoint + "/server/login", data=raw, headers={"Content-Type": "application/json"}
    ) as response:
        assert response.status == 400
        assert response.content_type == "application/problem+json"
        assert await response.json() == {
            "type": PROBS + "invalid-api-params",
            "title": f"You must provide the {field} field.",
        }


async def test_second_login_is_refused(emulator: Emulator, browser: aiohttp.ClientSession) -> None:
    await login(browser, emulator)
    status, body = await post(browser, emulator, "/server/login", ADMIN)
    assert (status, body) == (
        400,
        {"type": PROBS + "generic-bad-request", "title": "You have already logged in."},
    )


async def test_login_check_and_logout(emulator: Emulator, browser: aiohttp.ClientSession) -> None:
    status, body = await post(browser, emulator, "/server/login-check")
    assert (status, body) == (200, {"authenticated": False, "data": None, "session_id": None})
    await login(browser, emulator)
    status, body = await post(browser, emulator, "/server/login-check")
    assert status == 200 and body["authenticated"] is True
    assert body["data"] == {"access_key": USER_ACCESS_KEY, "role": "user", "status": "active"}
    assert isinstance(body["session_id"], str) and body["session_id"]
    async with browser.post(emulator.endpoint + "/server/logout") as response:
        assert response.status == 201
        assert await response.read() == b""
    status, body = await post(browser, emulator, "/server/login-check")
    assert body["authenticated"] is False
    status, body, _ = await call(browser, emulator, "GET", "/auth/role")
    assert (status, body) == (401, UNAUTHORIZED)


async def test_repeated_failures_block_the_user(
    emulator: Emulator, browser: aiohttp.ClientSession
) -> None:
    # After 10 failures in a row the webserver refuses even the right password (20 minutes).
    for _ in range(10):
        _, body = await post(browser, emulator, "/server/login", {**USER, "password": "nope"})
        assert body["authenticated"] is False
    status, body = await post(browser, emulator, "/server/login", USER)
    assert (status, body) == (
        429,
        {"type": PROBS + "too-many-requests", "title": "Too many failed login attempts"},
    )
    # Another user is not affected.
    await login(browser, emulator, ADMIN)


# -- /func/ ------------------------------------------------------------------------------------


async def test_func_root_needs_no_login(emulator: Emulator, browser: aiohttp.ClientSession) -> None:
    status, body, headers = await call(browser, emulator, "GET", "/")
    assert (status, body) == (200, {"version": "v7.20230615", "manager": "23.9.10"})
    assert headers["X-RateLimit-Limit"] == headers["X-RateLimit-Remaining"] == "1000"
    async with browser.get(emulator.endpoint + "/func/ping") as response:
        assert await response.json() == {"version": "23.9.10", "details": "Success"}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/auth/role"),
        ("POST", "/session"),
        ("GET", "/no-such-path"),
        ("DELETE", "/session/x"),
        ("POST", "/"),
    ],
)
async def test_func_without_login_is_refused_first(
    emulator: Emulator, browser: aiohttp.ClientSession, method: str, path: str
) -> None:
    # The webserver answers 401 before it forwards anything (even an unknown path).
    status, body, headers = await call(browser, emulator, method, path, body={})
    assert (status, body) == (401, UNAUTHORIZED)
    assert headers["Content-Type"].startswith("application/problem+json")


async def test_func_calls_act_as_the_logged_in_user(
    emulator: Emulator, browser: aiohttp.ClientSession
) -> None:
    await login(browser, emulator)
    status, body, headers = await call(browser, emulator, "GET", "/auth/role")
    assert (status, body) == (
        200,
        {"global_role": "user", "domain_role": "user", "group_role": None},
    )
    # The manager's rate-limit headers come through, counted for the user's keypair.
    assert headers["X-RateLimit-Limit"] == "30000"
    status, created, _ = await call(
        browser, emulator, "POST", "/session", {"image": "python", "name": "web-sess"}
    )
    assert (status, created["status"]) == (201, "RUNNING")
    # The session is the user's: its own keypair finds it, signed, without the webserver.
    async with aiohttp.ClientSession() as http:
        wire = Wire(emulator, http, access_key=USER_ACCESS_KEY, secret_key=USER_SECRET_KEY)
        status, info = await wire.call("GET", "/session/web-sess")
        assert (status, info["userId"]) == (200, "dfa9da54-4b28-432f-be29-c0d680c7a412")
    run = {"mode": "query", "code": "print(6 * 7)", "runId": "web-run-0001"}
    status, body, _ = await call(browser, emulator, "POST", "/session/web-sess", run)
    assert status == 200 and ["stdout", "42\n"] in body["result"]["console"]
    status, body, _ = await call(browser, emulator, "DELETE", "/session/web-sess")
    assert (status, body) == (200, {"stats": {"status": "terminated"}})


async def test_func_errors_are_the_managers(
    emulator: Emulator, browser: aiohttp.ClientSession
) -> None:
    await login(browser, emulator)
    # The manager sees the path without /func.
    status, body, _ = await call(browser, emulator, "GET", "/no-such-path")
    assert (status, body) == (
        404,
        {"type": PROBS + "url-not-found", "title": "Unknown URL path.", "data": "/no-such-path"},
    )
    status, body, headers = await call(browser, emulator, "PUT", "/session")
    assert (status, body["type"]) == (405, PROBS + "method-not-allowed")
    assert "POST" in headers["Allow"]
    status, body, _ = await call(browser, emulator, "GET", "/session/nosuch")
    assert (status, body["msg"]) == (404, "Session (id=nosuch) does not exist.")
    status, body, _ = await call(
        browser, emulator, "GET", "/auth/role", headers={"X-BackendAI-Version": "v1.20160915"}
    )
    assert (status, body["msg"]) == (400, "Unsupported API version.")


async def test_func_websocket_and_events(
    emulator: Emulator, browser: aiohttp.ClientSession
) -> None:
    await login(browser, emulator)
    base = emulator.endpoint + "/func"
    async with browser.get(base + "/events/session?name=web-stream") as events:
        assert events.status == 200
        assert events.headers["Content-Type"] == "text/event-stream"
        status, _, _ = await call(
            browser, emulator, "POST", "/session", {"image": "python", "name": "web-stream"}
        )
        assert status == 201
        seen: list[SSEvent] = []
        async with asyncio.timeout(5):
            async for item in read_sse(events):
                if isinstance(item, SSEvent):
                    seen.append(item)
                    if item.event == "session_started":
                        break
        assert seen[-1].json()["ownerAccessKey"] == USER_ACCESS_KEY
    async with browser.ws_connect(base + "/stream/session/web-stream/execute") as ws:
        await ws.send_json({"mode": "query", "code": "print('over the webserver')"})
        output = ""
        while True:
            frame = json.loads((await ws.receive(timeout=5)).data)
            output += "".join(p for kind, p in frame["console"] or [] if kind == "stdout")
            if frame["status"] == "finished":
                break
    assert output == "over the webserver\n"


async def test_func_websocket_needs_a_login(
    emulator: Emulator, browser: aiohttp.ClientSession
) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as exc_info:
        async with browser.ws_connect(emulator.endpoint + "/func/stream/session/x/execute"):
            pass
    assert exc_info.value.status == 401


async def test_a_custom_keypair_logs_in_with_its_secret(browser: aiohttp.ClientSession) -> None:
    # Any other keypair belongs to <access key>@emulator.invalid, password the secret key.
    async with Emulator(access_key="AKIACUSTOMEXAMPLE", secret_key="s3cr3t") as custom:
        creds = {"username": "akiacustomexample@emulator.invalid", "password": "s3cr3t"}
        body = await login(browser, custom, creds)
        assert body["data"] == {
            "access_key": "AKIACUSTOMEXAMPLE",
            "role": "user",
            "status": "active",
        }
        status, echo, _ = await call(browser, custom, "POST", "/auth/test", {"echo": "me"})
        assert (status, echo) == (200, {"authorized": "yes", "echo": "me"})


async def test_an_undecryptable_encrypted_login_is_refused(
    emulator: Emulator, browser: aiohttp.ClientSession
) -> None:
    # The official SDK marks an encrypted body so; this one is not what it would send.
    headers = {"X-BackendAI-Encoded": "true", "Content-Type": "application/octet-stream"}
    async with browser.post(
        emulator.endpoint + "/server/login", data=b"ABCDEFGHIJKLMNOP:AAAA", headers=headers
    ) as response:
        assert response.status == 400
        problem = await response.json()
    assert problem["title"] == "The encrypted request body cannot be decrypted."
    assert response.cookies.get("AIOHTTP_SESSION") is None
