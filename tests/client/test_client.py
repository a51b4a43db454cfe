"""End-to-end tests of every public method over loopback, against the emulator."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Mapping
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult

from backendai_aio import (
    ERR_REQUEST,
    ERR_RESPONSE,
    ERR_SERVER,
    AuthenticationError,
    BackendError,
    BadRequestError,
    Client,
    ClientClosedError,
    ClientConfig,
    ExecuteResult,
    InternalServerError,
    InvalidArgumentError,
    NotFoundError,
    NotSupportedError,
    RequestError,
    ResponseError,
    UnsupportedServerError,
)
from backendai_aio.emulator import DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY, Emulator, create_app

from ..app_servers import app_server, root_app
from ..fault_server import Behaviour, FaultServer, response

PROBS = "https://api.backend.ai/probs/"


async def run_to_end(client: Client, name: str, code: str) -> ExecuteResult:
    """Execute *code* and follow ``continued`` until the run ends."""
    response = await client.execute(name, None, "query", code)
    result = response["result"]
    while result["status"] == "continued":
        result = (await client.execute(name, result["runId"], "continue", ""))["result"]
    return result


def stdout_of(result: Mapping[str, Any]) -> str:
    return "".join(payload for kind, payload in result["console"] if kind == "stdout")


async def test_get_server_version_negotiates(admin_client: Client) -> None:
    assert admin_client.api_version is None
    body = await admin_client.get_server_version()
    assert body == {"version": "v9.20250722", "manager": "26.9.6"}
    assert admin_client.api_version == "v9.20250722"


async def test_session_lifecycle(admin_client: Client) -> None:
    created = await admin_client.create_if_not_exists("python:3.11", "lifecycle-1")
    assert created["sessionName"] == "lifecycle-1"
    assert created["status"] == "RUNNING"
    assert created["created"] is True
    # The emulator's session serves its folder over HTTP (client.sessions.tunnel).
    assert [port["name"] for port in created.get("servicePorts", [])] == ["fileserver"]
    again = await admin_client.create_if_not_exists("python:3.11", "lifecycle-1")
    assert again["created"] is False
    assert again["sessionId"] == created["sessionId"]

    info = await admin_client.get_info("lifecycle-1")
    assert info["status"] == "RUNNING"
    assert info["image"] == "python:3.11"

    result = (await admin_client.execute("lifecycle-1", None, "query", 'print("hello")'))["result"]
    assert result["status"] == "finished"
    assert result["exitCode"] == 0
    assert result["console"] == [["stdout", "hello\n"]]
    assert 8 <= len(result["runId"]) <= 64

    await admin_client.execute("lifecycle-1", "run-00001", "query", "x = 41")
    result = (await admin_client.execute("lifecycle-1", "run-00002", "query", "print(x + 1)"))[
        "result"
    ]
    assert stdout_of(result) == "42\n"
    assert result["runId"] == "run-00002"

    assert "hello" in (await admin_client.get_logs("lifecycle-1"))["result"]["logs"]
    assert (await admin_client.get_info("lifecycle-1"))["numQueriesExecuted"] >= 3

    completion = await admin_client.complete("lifecycle-1", "pri")
    assert "print" in str(completion)

    # The default profile is 26.9, which no longer restarts (23.09's restart: test_release_calls).
    with pytest.raises(NotSupportedError):
        await admin_client.restart("lifecycle-1")
    result = await run_to_end(admin_client, "lifecycle-1", "print(x)")
    assert result["exitCode"] == 0

    stats = await admin_client.destroy("lifecycle-1")
    assert isinstance(stats, dict)
    with pytest.raises(NotFoundError) as caught:
        await admin_client.get_info("lifecycle-1")
    assert caught.value.status == 404
    assert caught.value.title == "Entity not found."  # 26.9's words
    assert caught.value.problem_type == PROBS + "entity-not-found"
    assert caught.value.type == ERR_SERVER


async def test_generated_session_name(admin_client: Client) -> None:
    created = await admin_client.create_if_not_exists("python")
    assert created["created"] is True
    assert 4 <= len(created["sessionName"]) <= 64
    await admin_client.destroy(created["sessionName"], forced=True)


async def test_continued_and_input(admin_client: Client) -> None:
    await admin_client.create_if_not_exists("python", "io-session")
    code = "import time\nfor i in range(3):\n    print(i, flush=True)\n    time.sleep(0.25)\n"
    first = (await admin_client.execute("io-session", "loop-run-1", "query", code))["result"]
    assert first["status"] == "continued"
    result = first
    seen = stdout_of(first)
    while result["status"] == "continued":
        result = (await admin_client.execute("io-session", "loop-run-1", "continue", ""))["result"]
        seen += stdout_of(result)
    assert result["status"] == "finished"
    assert seen == "0\n1\n2\n"

    asked = (await admin_client.execute("io-session", "input-run", "query", "n = input('name? ')"))[
        "result"
    ]
    assert asked["status"] == "waiting-input"
    assert "name? " in stdout_of(asked)
    answered = (await admin_client.execute("io-session", "input-run", "input", "Ada"))["result"]
    assert answered["status"] == "finished"
    result = await run_to_end(admin_client, "io-session", "print('hi', n)")
    assert stdout_of(result) == "hi Ada\n"


async def test_interrupt_stops_running_code(admin_client: Client) -> None:
    await admin_client.create_if_not_exists("python", "interrupt-me")
    first = (await admin_client.execute("interrupt-me", "spin-run-1", "query", "while True: pass"))[
        "result"
    ]
    assert first["status"] == "continued"
    await admin_client.interrupt("interrupt-me")  # an empty answer
    result = first
    for _ in range(20):
        result = (await admin_client.execute("interrupt-me", "spin-run-1", "continue", ""))[
            "result"
        ]
        if result["status"] != "continued":
            break
    assert result["status"] == "finished"
    assert "KeyboardInterrupt" in str(result["console"])


async def test_batch_mode(admin_client: Client) -> None:
    await admin_client.create_if_not_exists("python", "batch-session", type="interactive")
    opts = {"build": "echo building > built.txt", "exec": "cat built.txt"}
    response = await admin_client.execute("batch-session", "batch-run-1", "batch", "", opts)
    result = response["result"]
    outputs = stdout_of(result)
    while result["status"] != "finished":
        result = (await admin_client.execute("batch-session", "batch-run-1", "continue", ""))[
            "result"
        ]
        outputs += stdout_of(result)
    assert result["exitCode"] == 0
    assert "building" in outputs


async def test_legacy_aliases(admin_client: Client) -> None:
    created = await admin_client.create_kernel("python", "legacy-1")
    assert created["created"] is True
    result = (await admin_client.run_code("print(6 * 7)", "legacy-1", "legacy-run-1"))["result"]
    assert stdout_of(result) == "42\n"
    with pytest.raises(NotSupportedError):  # 26.9 (the default profile) no longer restarts
        await admin_client.refresh_kernel("legacy-1")
    await admin_client.destroy_kernel("legacy-1")
    with pytest.raises(NotFoundError):
        await admin_client.get_info("legacy-1")


async def test_server_errors_carry_problem_details(admin_client: Client) -> None:
    with pytest.raises(NotFoundError) as unknown_image:
        await admin_client.create_if_not_exists("no-such-image:1.0", "image-test")
    assert unknown_image.value.title == "No such environment image."
    assert unknown_image.value.method == "POST"
    assert unknown_image.value.url is not None and unknown_image.value.url.endswith("/session")

    await admin_client.create_if_not_exists("python", "exists-1")
    with pytest.raises(BadRequestError) as exists:
        await admin_client.create_if_not_exists("python", "exists-1", reuse_if_exists=False)
    assert exists.value.problem_type == PROBS + "session-already-exists"
    assert exists.value.status == 400


async def test_bad_input_fails_before_sending(admin_client: Client) -> None:
    with pytest.raises(InvalidArgumentError, match="execution mode"):
        await admin_client.execute("abcd", None, "run", "print(1)")
    with pytest.raises(InvalidArgumentError, match="session name"):
        await admin_client.create_if_not_exists("python", "no spaces allowed")
    with pytest.raises(InvalidArgumentError, match="unknown session option"):
        await admin_client.create_if_not_exists("python", "abcd", enqueueOnly=True)  # type: ignore[call-arg]
    for bad in ("a/b", ".", "..", ""):
        with pytest.raises(InvalidArgumentError, match="path segment"):
            await admin_client.get_info(bad)
    assert admin_client.api_version is not None  # the failures above left the client usable


async def test_enqueue_only_answers_pending_then_runs(admin_client: Client) -> None:
    created = await admin_client.create_if_not_exists("python", "queued-1", enqueue_only=True)
    assert created["status"] in ("PENDING", "RUNNING")
    for _ in range(100):
        if (await admin_client.get_info("queued-1"))["status"] == "RUNNING":
            break
        await asyncio.sleep(0.05)
    assert (await admin_client.get_info("queued-1"))["status"] == "RUNNING"


async def test_older_emulated_manager_negotiates_down() -> None:
    async with Emulator(api_version="v7.20230615") as old, Client(old.config) as client:
        assert (await client.get_server_version())["manager"] == "23.09.10"
        assert client.api_version == "v7.20230615"
        created = await client.create_if_not_exists("python", "old-api-1", cluster_size=1)
        assert created["created"] is True


async def test_server_older_than_v5_is_refused() -> None:
    async with app_server(root_app("v4.20190615")) as url:
        async with Client(ClientConfig("AK", "SK", url)) as client:
            with pytest.raises(UnsupportedServerError, match=r"v4\.20190615") as caught:
                await client.get_info("abcd")
    assert caught.value.type == ERR_SERVER


async def test_refused_connection_is_err_request(unused_port: int) -> None:
    config = ClientConfig("AK", "SK", f"http://127.0.0.1:{unused_port}")
    async with Client(config) as client:
        with pytest.raises(RequestError) as caught:
            await client.get_server_version()
    assert caught.value.type == ERR_REQUEST
    assert caught.value.status is None
    assert isinstance(caught.value.__cause__, aiohttp.ClientError)


def answering(raw: bytes, close: bool = False) -> Behaviour:
    """A behaviour that writes *raw* as the whole response (and closes, if asked)."""

    async def behave(
        server: FaultServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        writer.write(raw)
        await writer.drain()
        if close:
            writer.close()

    return behave


async def test_truncated_json_body_is_err_response() -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
    async with FaultServer(answering(head + b'{"result": {"sta', close=True)) as server:
        async with Client(ClientConfig("AK", "SK", server.url)) as client:
            with pytest.raises(ResponseError) as caught:
                await client.get_info("abcd")
    assert caught.value.type == ERR_RESPONSE
    assert caught.value.status == 200


async def test_invalid_json_body_is_err_response() -> None:
    raw = response("200 OK", b"{not json", {"Content-Type": "application/json; charset=utf-8"})
    async with FaultServer(answering(raw)) as server:
        async with Client(ClientConfig("AK", "SK", server.url)) as client:
            with pytest.raises(ResponseError, match="invalid JSON") as caught:
                await client.get_info("abcd")
    assert caught.value.type == ERR_RESPONSE


async def test_html_502_page_is_err_server() -> None:
    page = b"<html><body><h1>502 Bad Gateway</h1><hr>nginx</body></html>"
    raw = response("502 Bad Gateway", page, {"Content-Type": "text/html"})
    async with FaultServer(answering(raw)) as server:
        async with Client(ClientConfig("AK", "SK", server.url), retry=None) as client:
            with pytest.raises(InternalServerError) as caught:
                await client.get_info("abcd")
    assert caught.value.type == ERR_SERVER
    assert caught.value.status == 502
    assert "502 Bad Gateway" in caught.value.message


async def test_wrong_secret_is_auth_failed_and_never_shown(emulator: Emulator) -> None:
    wrong = "this-is-a-wrong-secret-key-0123456789"
    config = ClientConfig(DEFAULT_ACCESS_KEY, wrong, emulator.endpoint)
    async with Client(config) as client:
        with pytest.raises(AuthenticationError) as caught:
            await client.get_info("abcd")
        assert wrong not in repr(client) and wrong not in str(client)
    assert caught.value.msg == "Signature mismatch"
    for text in (str(caught.value), repr(caught.value), str(caught.value.body)):
        assert wrong not in text


async def test_unknown_access_key(emulator: Emulator) -> None:
    config = ClientConfig("AKIANOSUCHKEY0000000", DEFAULT_SECRET_KEY, emulator.endpoint)
    async with Client(config) as client:
        with pytest.raises(AuthenticationError) as caught:
            await client.get_info("abcd")
    assert caught.value.msg == "Access key not found"
    assert caught.value.problem_type == PROBS + "auth-failed"


async def test_debug_logs_hold_no_secret(
    admin_client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        await admin_client.create_if_not_exists("python", "logged-1")
        await admin_client.get_info("logged-1")
    assert any("/session" in record.getMessage() for record in caplog.records)
    for record in caplog.records:
        assert DEFAULT_SECRET_KEY not in record.getMessage()
        assert "signMethod" not in record.getMessage()


async def test_injected_session_is_used_and_stays_open(emulator: Emulator) -> None:
    async with aiohttp.ClientSession() as session:
        async with Client(emulator.config, session=session) as client:
            assert client.http_session is session
            await client.create_if_not_exists("python", "injected-1")
            assert (await client.get_info("injected-1"))["status"] == "RUNNING"
        assert client.closed
        assert not session.closed
        async with session.get(emulator.endpoint + "/") as response:
            assert response.status == 200


async def test_close_is_idempotent_and_use_after_close_fails(emulator: Emulator) -> None:
    client = Client(emulator.config)
    await client.get_server_version()
    own_session = client.http_session
    assert own_session is not None
    await client.close()
    await client.close()
    assert own_session.closed
    with pytest.raises(ClientClosedError, match="closed"):
        await client.get_server_version()
    with pytest.raises(ClientClosedError):
        async with client:
            pass


async def test_client_without_context_manager_opens_lazily(emulator: Emulator) -> None:
    client = Client(emulator.config, "my-agent/1.0")
    try:
        assert client.http_session is None
        assert (await client.get_server_version())["version"] == "v9.20250722"
    finally:
        await client.close()


async def test_client_reads_the_environment(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BACKEND_ACCESS_KEY", DEFAULT_ACCESS_KEY)
    monkeypatch.setenv("BACKEND_SECRET_KEY", DEFAULT_SECRET_KEY)
    monkeypatch.setenv("BACKEND_ENDPOINT", emulator.endpoint)
    async with Client() as client:
        assert client.config.endpoint == emulator.endpoint
        created = await client.create_if_not_exists("python", "from-env-1")
        assert created["created"] is True


async def test_user_agent_carries_the_agent_signature() -> None:
    seen: list[str] = []
    app = root_app()

    async def echo(request: web.Request) -> web.Response:
        seen.append(request.headers["User-Agent"])
        seen.append(request.headers["Content-Type"])
        return web.json_response({})

    app.router.add_get("/session/{name}", echo)
    async with app_server(app) as url:
        async with Client(ClientConfig("AK", "SK", url), "my-agent/2.0") as client:
            await client.get_info("abcd")
    assert seen[0].startswith("backendai-aio/") and seen[0].endswith(" my-agent/2.0")
    # A bodiless request carries an explicit content type, the one that was signed.
    assert seen[1] == "application/json"


class _MapResolver(AbstractResolver):
    """Resolve ``backend.test:80`` to the emulator's real loopback port."""

    def __init__(self, port: int) -> None:
        self._port = port

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            {
                "hostname": host,
                "host": "127.0.0.1",
                "port": self._port,
                "family": socket.AF_INET,
                "proto": 0,
                "flags": 0,
            }
        ]

    async def close(self) -> None:
        pass


async def test_default_port_is_signed_as_sent() -> None:
    # "http://backend.test:80" goes on the wire as "Host: backend.test"; signing
    # "backend.test:80" would fail with a signature mismatch. (The emulator answers only its
    # loopback names unless told otherwise.)
    async with Emulator(allowed_hosts=["backend.test"]) as emulator:
        port = int(emulator.endpoint.rsplit(":", 1)[1])
        await _create_through_default_port(port)


async def _create_through_default_port(port: int) -> None:
    connector = aiohttp.TCPConnector(resolver=_MapResolver(port))
    async with aiohttp.ClientSession(connector=connector) as session:
        config = ClientConfig(DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY, "http://backend.test:80")
        async with Client(config, session=session) as client:
            created = await client.create_if_not_exists("python", "host-test")
            assert created["created"] is True


async def test_every_redirect_hop_is_signed() -> None:
    app = create_app()

    async def hop(request: web.Request) -> web.Response:
        raise web.HTTPTemporaryRedirect("/session/no-such-session")

    app.router.add_get("/hop", hop)
    async with app_server(app) as url:
        async with Client(ClientConfig(DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY, url)) as client:
            with pytest.raises(BackendError) as caught:
                await client._transport.call("GET", client._transport.url("hop"))
    # The second hop reached the handler (404 no such session), so its signature was valid.
    assert isinstance(caught.value, NotFoundError)
    assert caught.value.title == "Entity not found."  # 26.9's words


async def test_concurrent_first_calls_negotiate_once(emulator: Emulator) -> None:
    async with Client(emulator.config) as client:
        results = await asyncio.gather(*(client.get_server_version() for _ in range(5)))
        assert all(r["version"] == "v9.20250722" for r in results)
        names = [f"concurrent-{i}" for i in range(4)]
        created = await asyncio.gather(*(client.create_if_not_exists("python", n) for n in names))
        assert sorted(c["sessionName"] for c in created) == names


async def test_injected_session_that_raises_for_status(emulator: Emulator) -> None:
    async with aiohttp.ClientSession(raise_for_status=True) as session:
        async with Client(emulator.config, session=session) as client:
            with pytest.raises(NotFoundError) as caught:
                await client.get_info("no-such-session")
    assert caught.value.title == "Entity not found."  # 26.9's words
