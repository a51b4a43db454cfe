"""client.sessions app services against the emulator: real bytes through real local processes.

The emulator's ``fileserver`` app is a real HTTP server over the session's folder; a preopen
port reaches what the session's own code listens on; the terminal is a real shell on a
pseudo-terminal in the session's folder.
"""

from __future__ import annotations

import asyncio
import os
import socket

import aiohttp
import pytest

from backendai_aio import (
    Client,
    ClientConfig,
    InvalidArgumentError,
    NotFoundError,
    ReadTimeoutError,
    RequestError,
    Terminal,
)
from backendai_aio.emulator import Emulator
from backendai_aio.emulator._sessions import REGISTRY_KEY, EmulatedSession

#: A listener the session's code runs in a thread: it answers each line in capitals.
ECHO_SERVER = """
import socket, threading
def _serve(port):
    listener = socket.create_server(("127.0.0.1", port))
    while True:
        conn, _ = listener.accept()
        with conn:
            data = b""
            while not data.endswith(b"\\n"):
                chunk = conn.recv(65536)
                if not chunk:
                    break
                data += chunk
            conn.sendall(data.upper())
threading.Thread(target=_serve, args=({port},), daemon=True).start()
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def nowhere() -> ClientConfig:
    """A configuration whose endpoint nothing listens at."""
    return ClientConfig(
        endpoint=f"http://127.0.0.1:{free_port()}", access_key="AKIANOWHERE", secret_key="x" * 40
    )


def session_of(emulator: Emulator, name: str) -> EmulatedSession:
    return emulator._app[REGISTRY_KEY].get(emulator.access_key, name)


def alive(pid: int) -> bool:
    """Whether *pid* is a live process (a zombie counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.fixture
async def session(client: Client) -> str:
    await client.sessions.create("python", "apps-1")
    return "apps-1"


async def test_apps_lists_the_fileserver_and_the_preopen_ports(client: Client) -> None:
    port = free_port()
    await client.sessions.create("python", "apps-2", preopen_ports=[port])
    apps = await client.sessions.apps("apps-2")
    assert apps == [
        {"name": "fileserver", "protocol": "http", "ports": [8000]},
        {"name": str(port), "protocol": "preopen", "ports": [port]},
    ]


async def test_a_file_comes_through_the_tunnel_byte_for_byte(
    client: Client, session: str, emulator: Emulator
) -> None:
    payload = os.urandom(300_000)
    (session_of(emulator, session).workdir / "data.bin").write_bytes(payload)
    async with client.sessions.tunnel(session, app="fileserver") as (host, port):
        assert host == "127.0.0.1"
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://{host}:{port}/data.bin") as response:
                assert response.status == 200
                assert await response.read() == payload
            # A second connection gets a websocket of its own.
            async with http.get(f"http://{host}:{port}/missing.txt") as response:
                assert response.status == 404
    # The listener is closed once the block is left.
    with pytest.raises(OSError):
        await asyncio.open_connection(host, port)


async def test_session_code_listening_on_a_preopen_port_is_reached(client: Client) -> None:
    port = free_port()
    await client.sessions.create("python", "apps-3", preopen_ports=[port])
    result = await client.sessions.run("apps-3", ECHO_SERVER.format(port=port))
    assert result.exit_code == 0, result.stderr
    local = free_port()
    async with client.sessions.tunnel(
        "apps-3", app=str(port), port=port, local_port=local
    ) as address:
        assert address == ("127.0.0.1", local)
        answer = b""
        for attempt in range(50):
            reader, writer = await asyncio.open_connection(*address)
            writer.write(b"hello through the tunnel\n")
            await writer.drain()
            answer = await reader.read()
            writer.close()
            if answer or attempt == 49:
                break
            await asyncio.sleep(0.1)  # the thread may not listen yet
        assert answer == b"HELLO THROUGH THE TUNNEL\n"


async def test_a_port_nothing_listens_on_drops_the_connection(client: Client) -> None:
    port = free_port()
    await client.sessions.create("python", "apps-4", preopen_ports=[port])
    async with client.sessions.tunnel("apps-4", app=str(port)) as address:
        reader, writer = await asyncio.open_connection(*address)
        # The server closes the websocket (1013): the local connection ends, nothing read.
        assert await asyncio.wait_for(reader.read(), 10) == b""
        writer.close()


async def test_start_and_shutdown_service_run_and_stop_the_app(
    client: Client, session: str, emulator: Emulator
) -> None:
    started = await client.sessions.start_service(session, "fileserver", port=8000)
    assert started["wsproxy_addr"] == emulator.endpoint
    assert len(started["token"]) > 20
    services = session_of(emulator, session).services
    assert services is not None
    (pid,) = services.pids
    assert alive(pid)
    # Starting it again reuses the running process.
    await client.sessions.start_service(session, "fileserver", envs={"A": "1"}, arguments={})
    assert services.pids == [pid]
    await client.sessions.shutdown_service(session, "fileserver")
    assert services.pids == []
    assert not alive(pid)


async def test_the_server_refuses_an_app_the_session_lacks(client: Client, session: str) -> None:
    with pytest.raises(NotFoundError) as caught:
        await client.sessions.start_service(session, "jupyter")
    assert caught.value.title == "No such app service."
    with pytest.raises(NotFoundError):
        await client.sessions.shutdown_service(session, "jupyter")
    with pytest.raises(InvalidArgumentError, match="serves no app 'jupyter'"):
        async with client.sessions.tunnel(session, app="jupyter"):
            pass
    with pytest.raises(InvalidArgumentError, match="does not listen on port 9999"):
        async with client.sessions.tunnel(session, app="fileserver", port=9999):
            pass
    with pytest.raises(NotFoundError):
        await client.sessions.apps("no-such-session")


async def test_the_terminal_is_a_shell_in_the_session_folder(
    client: Client, session: str, emulator: Emulator
) -> None:
    workdir = session_of(emulator, session).workdir
    async with client.sessions.pty(session) as terminal:
        assert isinstance(terminal, Terminal)
        await terminal.write("echo hel''lo\n")
        assert (await terminal.read_until("hello", timeout=15)).endswith(b"hello")
        await terminal.write("pwd\n")
        await terminal.read_until(f"\r{workdir}\r\n".encode(), timeout=15)
        await terminal.resize(31, 101)
        await terminal.ping()
        await terminal.write("stty size\n")
        await terminal.read_until(b"31 101", timeout=15)
    assert terminal.closed


async def test_the_terminal_survives_reconnection_and_restarts(
    client: Client, session: str, emulator: Emulator
) -> None:
    async with client.sessions.pty(session) as terminal:
        await terminal.write("MARK=kept; echo $$\n")
        await terminal.read_until(b"$$", timeout=15)
        services = session_of(emulator, session).services
        assert services is not None
        (first,) = services.pids
    async with client.sessions.pty(session) as terminal:
        await terminal.write("echo [$MARK]\n")
        await terminal.read_until(b"[kept]", timeout=15)
        await terminal.restart()
        for _ in range(100):
            if services.pids and services.pids != [first]:
                break
            await asyncio.sleep(0.05)
        assert not alive(first)
        await terminal.write("echo [$MARK]\n")
        await terminal.read_until(b"[]", timeout=15)
        # Iterating reads what comes, piece by piece.
        await terminal.write("echo done\n")
        seen = b""
        async with asyncio.timeout(15):
            async for chunk in terminal:
                seen += chunk
                if b"\rdone\r\n" in seen:
                    break


async def test_destroying_the_session_stops_its_processes(
    client: Client, session: str, emulator: Emulator
) -> None:
    await client.sessions.start_service(session, "fileserver")
    async with client.sessions.pty(session) as terminal:
        # A job the shell left behind goes too: it is in the shell's process group.
        await terminal.write("sleep 300 & echo jo''b=$!\n")
        await terminal.read_until(b"job=", timeout=15)
        job = int(await terminal.read_until(b"\r\n", timeout=15))
    services = session_of(emulator, session).services
    assert services is not None
    pids = [*services.pids, job]
    assert len(pids) == 3 and all(alive(pid) for pid in pids)
    await client.sessions.destroy(session)
    assert not any(alive(pid) for pid in pids)


async def test_stopping_the_emulator_stops_the_processes() -> None:
    async with Emulator() as emulator, Client(emulator.config) as client:
        await client.sessions.create("python", "apps-stop")
        await client.sessions.start_service("apps-stop", "fileserver")
        async with client.sessions.pty("apps-stop") as terminal:
            await terminal.write("echo up\n")
            await terminal.read_until(b"up", timeout=15)
            services = session_of(emulator, "apps-stop").services
            assert services is not None
            pids = services.pids
            assert len(pids) == 2
    assert not any(alive(pid) for pid in pids)


async def test_a_tunnel_whose_session_goes_away_ends_and_closes(
    client: Client, session: str
) -> None:
    async with client.sessions.tunnel(session, app="fileserver") as address:
        reader, writer = await asyncio.open_connection(*address)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        await writer.drain()
        assert (await reader.readuntil(b"\r\n")).startswith(b"HTTP/1.0 200")
        await client.sessions.destroy(session)
        # The relay ends with the session; a new connection finds no session and is dropped.
        await asyncio.wait_for(reader.read(), 10)
        assert reader.at_eof()
        late_reader, late_writer = await asyncio.open_connection(*address)
        assert await asyncio.wait_for(late_reader.read(), 10) == b""
        late_writer.close()
        writer.close()


async def test_leaving_a_tunnel_with_open_connections_does_not_hang(
    client: Client, session: str
) -> None:
    async with asyncio.timeout(15):
        async with client.sessions.tunnel(session, app="fileserver") as address:
            reader, writer = await asyncio.open_connection(*address)
            # An HTTP request left unfinished: the app keeps the connection open.
            writer.write(b"GET / HTTP/1.1\r\n")
            await writer.drain()
            await asyncio.sleep(0.3)
        assert await asyncio.wait_for(reader.read(), 5) == b""
        writer.close()


async def test_a_terminal_read_that_times_out_keeps_what_it_read(
    client: Client, session: str
) -> None:
    async with client.sessions.pty(session) as terminal:
        await terminal.write("echo first\n")
        await terminal.read_until(b"first\r\n", timeout=15)
        with pytest.raises(ReadTimeoutError):
            await terminal.read_until(b"never printed", timeout=0.5)
        await terminal.write("echo second\n")
        assert b"second" in await terminal.read_until(b"second\r\n", timeout=15)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda c: c.sessions.apps(""), "session_id must be a non-empty string"),
        (lambda c: c.sessions.start_service("s", ""), "app must be"),
        (lambda c: c.sessions.start_service("s", "a", port=80), "port must be an int"),
        (lambda c: c.sessions.start_service("s", "a", port=65536), "port must be an int"),
        (lambda c: c.sessions.start_service("s", "a", port=True), "port must be an int"),
        (lambda c: c.sessions.start_service("s", "a", envs=["x"]), "envs must be a mapping"),
        (
            lambda c: c.sessions.start_service("s", "a", arguments={"x": object()}),
            "not JSON-serialisable",
        ),
        (lambda c: c.sessions.shutdown_service("s", " "), "app must be"),
        (lambda c: c.sessions.shutdown_service(None, "a"), "session_id must be"),
    ],
)
async def test_bad_arguments_are_refused_before_sending(call: object, message: str) -> None:
    # Nothing listens at the endpoint: a call that sent anything would fail otherwise.
    async with Client(nowhere()) as client:
        with pytest.raises(InvalidArgumentError, match=message):
            await call(client)  # type: ignore[operator]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"app": ""}, "app must be"),
        ({"app": "a", "port": 1023}, "port must be"),
        ({"app": "a", "local_port": -1}, "local_port must be from 0"),
        ({"app": "a", "local_port": 70000}, "local_port must be from 0"),
        ({"app": "a", "local_port": "80"}, "local_port must be an int"),
    ],
)
async def test_bad_tunnel_arguments_are_refused_before_sending(
    options: dict[str, object], message: str
) -> None:
    async with Client(nowhere()) as client:
        with pytest.raises(InvalidArgumentError, match=message):
            async with client.sessions.tunnel("s", **options):  # type: ignore[arg-type]
                pass
        with pytest.raises(InvalidArgumentError):
            async with client.sessions.pty(""):
                pass


async def test_terminal_arguments_are_checked(client: Client, session: str) -> None:
    async with client.sessions.pty(session) as terminal:
        for rows, cols in ((0, 80), (24, 70000), (True, 80), (24, "80")):
            with pytest.raises(InvalidArgumentError):
                await terminal.resize(rows, cols)  # type: ignore[arg-type]
        with pytest.raises(InvalidArgumentError):
            await terminal.write(42)  # type: ignore[arg-type]
        with pytest.raises(InvalidArgumentError):
            await terminal.read_until(b"")
        with pytest.raises(InvalidArgumentError):
            await terminal.read_until(b"x", timeout=0)
    with pytest.raises(RequestError, match="is closed"):
        await terminal.write("after the end\n")


async def test_a_tunnel_cannot_listen_on_a_port_in_use(client: Client, session: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(InvalidArgumentError, match="cannot listen"):
            async with client.sessions.tunnel(session, app="fileserver", local_port=port):
                pass
