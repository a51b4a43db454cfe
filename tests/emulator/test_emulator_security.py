"""What keeps a web page, a session's own code and odd input from abusing the emulator.

A page using DNS rebinding sends ``Host: <its own name>``; a page of another local port sends
``text/plain`` and forms without asking and carries an ``Origin``. The session's code runs as
the OS user who started the emulator: what it daemonises must still end with the session.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shlex
import signal
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from yarl import URL

from backendai_aio._signing import authorization_header, sign
from backendai_aio.emulator import DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY, Emulator, KernelLimits
from backendai_aio.emulator.__main__ import _parse_args
from backendai_aio.emulator._localonly import is_local_host, is_local_origin

from .wire import API_VERSION, PROBS, Wire

USER_LOGIN = {"username": "user@lablup.com", "password": "C8qnIo29"}


@pytest.fixture
def emulator_options() -> dict[str, Any]:
    # The 26.9 profile (the default).
    return {"flush_window": 0.2}


def _port(emulator: Emulator) -> int:
    port = URL(emulator.endpoint).port
    assert port is not None
    return port


async def _signed(
    emulator: Emulator,
    method: str,
    path: str,
    *,
    host: str,
    data: bytes | None = None,
    content_type: str = "application/json",
    extra: dict[str, str] | None = None,
) -> tuple[int, Any]:
    """A request signed for *host* (as a rebinding page that knows the example keys would)."""
    moment = datetime.now(UTC)
    signature = sign(
        secret_key=DEFAULT_SECRET_KEY,
        method=method,
        path_qs=path,
        date=moment,
        host=host,
        content_type=content_type,
        api_version=API_VERSION,
    )
    headers = {
        "Host": host,
        "Date": moment.isoformat(),
        "Content-Type": content_type,
        "X-BackendAI-Version": API_VERSION,
        "Authorization": authorization_header(DEFAULT_ACCESS_KEY, signature),
        **(extra or {}),
    }
    async with aiohttp.ClientSession() as http:
        async with asyncio.timeout(10):
            async with http.request(
                method, emulator.endpoint + path, headers=headers, data=data
            ) as response:
                text = await response.text()
                return response.status, json.loads(text) if text else None


# -- Host and Origin -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "port", "expected"),
    [
        ("127.0.0.1:8091", 8091, True),
        ("localhost:8091", 8091, True),
        ("LocalHost:8091", 8091, True),
        ("[::1]:8091", 8091, True),
        ("localhost", 80, True),
        ("localhost:8091", None, True),
        ("127.0.0.1:8092", 8091, False),
        ("localhost", 8091, False),
        ("rebind.example:8091", 8091, False),
        ("127.0.0.1.nip.io:8091", 8091, False),
        ("localhost.:8091", 8091, False),
        ("::1:8091", 8091, False),
        ("[::1", 8091, False),
        ("[::1]x:8091", 8091, False),
        ("127.0.0.1:", 8091, False),
        ("127.0.0.1:+8091", 8091, False),
        ("127.0.0.1:\uff18\uff10\uff19\uff11", 8091, False),  # full-width digits
        ("127.0.0.1:" + "9" * 5000, 8091, False),
        ("", 8091, False),
        (None, 8091, False),
    ],
)
def test_is_local_host(value: str | None, port: int | None, expected: bool) -> None:
    assert is_local_host(value, port) is expected


def test_allowed_hosts_are_taken_as_they_are() -> None:
    assert is_local_host("Emulator:8091", 1234, ["emulator:8091"])
    assert not is_local_host("emulator:8092", 1234, ["emulator:8091"])
    assert is_local_origin("http://emulator:8091", 1234, ["emulator:8091"])


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("http://127.0.0.1:8091", True),
        ("http://localhost:8091", True),
        ("https://localhost:8091", False),
        ("http://localhost:3000", False),
        ("http://rebind.example:8091", False),
        ("http://localhost:8091/x", False),
        ("null", False),
        ("", False),
    ],
)
def test_is_local_origin(value: str, expected: bool) -> None:
    assert is_local_origin(value, 8091) is expected


async def test_a_rebound_host_name_is_refused(emulator: Emulator) -> None:
    host = f"rebind.example:{_port(emulator)}"
    status, body = await _signed(emulator, "GET", "/", host=host)
    assert (status, body["type"]) == (403, PROBS + "generic-forbidden")
    assert "rebind.example" in body["msg"]
    # A signature made for that host does not get a session created either.
    data = json.dumps({"image": "python", "name": "rebound"}).encode()
    status, body = await _signed(emulator, "POST", "/session", host=host, data=data)
    assert status == 403
    status, _ = await _signed(
        emulator, "GET", "/session/rebound", host=f"127.0.0.1:{_port(emulator)}"
    )
    assert status == 404


async def test_a_rebound_host_cannot_log_in(emulator: Emulator) -> None:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser:
        async with browser.post(
            emulator.endpoint + "/server/login",
            json=USER_LOGIN,
            headers={"Host": f"rebind.example:{_port(emulator)}"},
        ) as response:
            assert response.status == 403
            assert "AIOHTTP_SESSION" not in response.cookies


async def test_another_port_in_the_host_is_refused(emulator: Emulator) -> None:
    status, _ = await _signed(emulator, "GET", "/", host=f"127.0.0.1:{_port(emulator) + 1}")
    assert status == 403


@pytest.mark.parametrize("name", ["127.0.0.1", "localhost", "[::1]"])
async def test_loopback_names_with_the_port_are_answered(emulator: Emulator, name: str) -> None:
    status, body = await _signed(
        emulator, "GET", "/session/nothing", host=f"{name}:{_port(emulator)}"
    )
    assert (status, body["type"]) == (404, PROBS + "entity-not-found")  # the 26.9 default


async def test_a_foreign_origin_is_refused(emulator: Emulator) -> None:
    host = f"127.0.0.1:{_port(emulator)}"
    for origin in ("http://localhost:3000", "https://attacker.example", "null"):
        status, _ = await _signed(emulator, "GET", "/", host=host, extra={"Origin": origin})
        assert status == 403, origin
    status, _ = await _signed(
        emulator, "GET", "/", host=host, extra={"Origin": f"http://localhost:{_port(emulator)}"}
    )
    assert status == 200


async def test_a_websocket_from_a_foreign_origin_is_refused(emulator: Emulator) -> None:
    async with aiohttp.ClientSession() as http, asyncio.timeout(10):
        with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
            await http.ws_connect(
                emulator.endpoint + "/func/stream/session/x/execute",
                origin="http://localhost:3000",
            )
    assert caught.value.status == 403


async def test_allowed_hosts_are_answered() -> None:
    async with Emulator(allowed_hosts=["emulator.test:8091"]) as emulator:
        status, _ = await _signed(emulator, "GET", "/", host="emulator.test:8091")
        assert status == 200
        status, _ = await _signed(emulator, "GET", "/", host="other.test:8091")
        assert status == 403


# -- JSON bodies must say so ---------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]
)
async def test_a_json_body_of_another_type_is_refused(
    emulator: Emulator, content_type: str
) -> None:
    host = f"127.0.0.1:{_port(emulator)}"
    data = json.dumps({"image": "python", "name": "plain-text"}).encode()
    status, body = await _signed(
        emulator, "POST", "/session", host=host, data=data, content_type=content_type
    )
    assert (status, body["type"]) == (400, PROBS + "invalid-api-params")
    assert "application/json" in body["msg"]
    query = json.dumps({"query": "{ user { email } }"}).encode()
    status, body = await _signed(
        emulator, "POST", "/admin/gql", host=host, data=query, content_type=content_type
    )
    assert status == 400


async def test_json_with_a_charset_is_taken(emulator: Emulator) -> None:
    host = f"127.0.0.1:{_port(emulator)}"
    query = json.dumps({"query": "{ user { email } }"}).encode()
    status, body = await _signed(
        emulator,
        "POST",
        "/admin/gql",
        host=host,
        data=query,
        content_type="application/json",
        extra={"Content-Type": "application/json; charset=utf-8"},
    )
    assert (status, body["data"]["user"]["email"]) == (200, "admin@lablup.com")


async def test_a_bodiless_call_of_any_type_is_taken(emulator: Emulator) -> None:
    # The official SDK sends "text/plain" (signed as such) with every call that has no body.
    host = f"127.0.0.1:{_port(emulator)}"
    status, body = await _signed(
        emulator, "GET", "/session/nothing", host=host, content_type="text/plain"
    )
    assert (status, body["type"]) == (404, PROBS + "entity-not-found")  # the 26.9 default


async def test_a_text_plain_login_is_refused(emulator: Emulator) -> None:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser:
        async with browser.post(
            emulator.endpoint + "/server/login",
            data=json.dumps(USER_LOGIN),
            headers={"Content-Type": "text/plain"},
        ) as response:
            body = await response.json()
            assert response.status == 400
            assert "application/json" in body["title"]
            assert "AIOHTTP_SESSION" not in response.cookies


async def test_the_login_cookie_is_same_site_strict(emulator: Emulator) -> None:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser:
        async with browser.post(emulator.endpoint + "/server/login", json=USER_LOGIN) as response:
            assert response.status == 200
            cookie = response.cookies["AIOHTTP_SESSION"]
            assert cookie["samesite"] == "Strict"
            assert cookie["httponly"]


# -- what the session's code starts ends with the session -----------------------------------

# A daemon as `setsid prog < /dev/null > /dev/null 2>&1 &` makes it: its own session and
# process group, none of the kernel's pipes.
_DAEMON = """
import subprocess, sys
daemon = subprocess.Popen(
    [sys.executable, "-c", "import time; time.sleep(120)"],
    start_new_session=True,
    stdin=subprocess.DEVNULL,
    stdout=subprocess.DEVNULL,
    stderr=subprocess.DEVNULL,
)
print(daemon.pid)
"""


# The same from a batch command's shell.
_BATCH_DAEMON = (
    "import subprocess; print(subprocess.Popen(['sleep', '120'], start_new_session=True, "
    "stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).pid)"
)


def _alive(pid: int) -> bool:
    """Whether *pid* runs (a zombie, killed but not yet reaped, does not count)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


async def _gone(pid: int) -> bool:
    for _ in range(100):
        if not _alive(pid):
            return True
        await asyncio.sleep(0.05)
    return False


@contextlib.contextmanager
def _reaped(pids: list[int]) -> Iterator[None]:
    """Kill whatever a failing test leaves behind."""
    try:
        yield
    finally:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc")
async def test_a_daemonised_process_dies_with_its_session(admin_wire: Wire) -> None:
    pids: list[int] = []
    with _reaped(pids):
        await admin_wire.create_session("daemons")
        pids.append(int(await admin_wire.run("daemons", _DAEMON)))
        assert _alive(pids[0])
        status, _ = await admin_wire.call("DELETE", "/session/daemons")
        assert status == 200
        assert await _gone(pids[0]), "the daemon outlived its session"


async def _batch(wire: Wire, name: str, command: str) -> str:
    run_id = uuid.uuid4().hex
    request: dict[str, Any] = {
        "mode": "batch",
        "code": "",
        "runId": run_id,
        "options": {"exec": command},
    }
    out: list[str] = []
    async with asyncio.timeout(20):
        while True:
            status, body = await wire.call("POST", f"/session/{name}", body=request)
            assert status == 200, body
            result = body["result"]
            out += [payload for kind, payload in result["console"] if kind == "stdout"]
            if result["status"] == "finished":
                return "".join(out)
            request = {"mode": "continue", "code": "", "runId": run_id}


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc")
async def test_a_daemon_of_a_batch_command_dies_with_its_session(admin_wire: Wire) -> None:
    pids: list[int] = []
    with _reaped(pids):
        await admin_wire.create_session("batch-daemons")
        out = await _batch(
            admin_wire,
            "batch-daemons",
            f"{shlex.quote(sys.executable)} -c {shlex.quote(_BATCH_DAEMON)}",
        )
        pids.append(int(out))
        assert _alive(pids[0])
        status, _ = await admin_wire.call("DELETE", "/session/batch-daemons")
        assert status == 200
        assert await _gone(pids[0]), "the daemon outlived its session"


async def test_each_kernel_leads_its_own_session(emulator: Emulator, admin_wire: Wire) -> None:
    await admin_wire.create_session("leader")
    out = await admin_wire.run(
        "leader", "import os; print(os.getpid(), os.getpgrp(), os.getsid(0))"
    )
    pid, group, session = (int(part) for part in out.split())
    assert pid == group == session
    assert os.getsid(0) != session


# -- resource limits -----------------------------------------------------------------------

_SHOW_LIMITS = """
import resource, subprocess
for kind in (resource.RLIMIT_AS, resource.RLIMIT_CPU, resource.RLIMIT_NPROC):
    print(*resource.getrlimit(kind))
print(subprocess.run(["sh", "-c", "ulimit -t"], capture_output=True, text=True).stdout.strip())
try:
    hog = bytearray(1 << 30)
except MemoryError:
    print("MemoryError")
"""


async def test_session_limits_apply_to_every_process() -> None:
    limits = KernelLimits(memory=512 << 20, cpu_time=300, processes=4096)
    async with Emulator(limits=limits, flush_window=0.2) as emulator:
        async with aiohttp.ClientSession() as http:
            wire = Wire(emulator, http)
            await wire.create_session("limited")
            lines = (await wire.run("limited", _SHOW_LIMITS)).split("\n")
            assert lines[:5] == [
                f"{512 << 20} {512 << 20}",
                "300 300",
                "4096 4096",
                "300",
                "MemoryError",
            ]
            out = await _batch(wire, "limited", "ulimit -t")
            assert out.strip() == "300"


async def test_a_process_past_its_cpu_time_is_stopped() -> None:
    async with Emulator(limits=KernelLimits(cpu_time=1), flush_window=0.2) as emulator:
        async with aiohttp.ClientSession() as http:
            wire = Wire(emulator, http)
            await wire.create_session("cpu-bound")
            run_id = uuid.uuid4().hex
            request = {"mode": "query", "code": "while True: pass", "runId": run_id}
            console: list[Any] = []
            async with asyncio.timeout(20):
                while True:
                    status, body = await wire.call("POST", "/session/cpu-bound", body=request)
                    assert status == 200, body
                    result = body["result"]
                    console += result["console"]
                    if result["status"] == "finished":
                        break
                    request = {"mode": "continue", "code": "", "runId": run_id}
            # SIGXCPU at the soft limit, SIGKILL at the hard one: they are the same here.
            assert result["exitCode"] in (128 + signal.SIGXCPU, 128 + signal.SIGKILL)
            assert "exited unexpectedly" in "".join(text for _, text in console)
            # The session goes on, with a fresh interpreter.
            assert (await wire.run("cpu-bound", "print(6 * 7)")).strip() == "42"


@pytest.mark.parametrize(
    "arguments", [{"memory": 0}, {"cpu_time": -1}, {"processes": True}, {"memory": 1.5}]
)
def test_limits_must_be_positive_integers(arguments: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="positive integer"):
        KernelLimits(**arguments)


def test_no_limits_add_no_code() -> None:
    assert KernelLimits().preamble() == ""


def test_the_command_line_takes_limits_and_hosts() -> None:
    args = _parse_args(
        ["--memory-limit", "1073741824", "--cpu-time-limit", "60", "--allow-host", "emu:8091"]
    )
    assert args.limits == KernelLimits(memory=1 << 30, cpu_time=60)
    assert args.allow_host == ["emu:8091"]
    with pytest.raises(SystemExit):
        _parse_args(["--process-limit", "0"])
