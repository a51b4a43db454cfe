"""The examples, run for real.

The web services are served on 127.0.0.1 and called over HTTP; the scripts run as
subprocesses, each against the emulator it starts itself (``BACKEND_ENDPOINT`` unset).
``examples/repl.md`` is run by ``test_docs_examples.py``.
"""

from __future__ import annotations

import asyncio
import gzip
import importlib.util
import os
import socket
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import aiohttp
import pytest
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent.parent
EXAMPLES = ROOT / "examples"
SCRIPT_TIMEOUT = 120.0


def _environment(**extra: str) -> dict[str, str]:
    """The test's environment without BACKEND_*, "python" being this interpreter."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("BACKEND_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra)
    return env


@pytest.fixture
def no_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    """No BACKEND_* variable: the examples start their own emulator."""
    for name in list(os.environ):
        if name.startswith("BACKEND_"):
            monkeypatch.delenv(name)


def _load(name: str) -> ModuleType:
    """Import ``examples/<name>.py`` as a module."""
    spec = importlib.util.spec_from_file_location(f"examples_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


async def _run_script(name: str, *args: str, cwd: Path) -> tuple[str, str]:
    """Run ``examples/<name>.py``; return its stdout and stderr, asserting it succeeded."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(EXAMPLES / f"{name}.py"),
        *args,
        cwd=cwd,
        env=_environment(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), SCRIPT_TIMEOUT)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode == 0, stderr.decode()
    return stdout.decode(), stderr.decode()


async def _post(http: aiohttp.ClientSession, url: str, body: Any) -> tuple[int, Any]:
    async with http.post(url, json=body) as response:
        if response.content_type == "application/json":
            return response.status, await response.json()
        return response.status, await response.text()


async def _check_run_endpoint(url: str) -> None:
    """What both web services answer on ``POST /run``."""
    async with aiohttp.ClientSession() as http:
        assert await _post(http, url, {"code": "print(6 * 7)"}) == (
            200,
            {"status": "finished", "exit_code": 0, "stdout": "42\n", "stderr": ""},
        )
        status, body = await _post(http, url, {"code": "import sys\nprint(1 / 0)"})
        assert (status, body["status"], body["exit_code"]) == (200, "finished", 1)
        assert "ZeroDivisionError" in body["stderr"]
        # One session per request: concurrent requests do not share state nor wait.
        answers = await asyncio.gather(
            *(_post(http, url, {"code": f"x = {n}\nprint(x * 2)"}) for n in range(3))
        )
        assert [body["stdout"] for _, body in answers] == ["0\n", "2\n", "4\n"]
        status, body = await _post(http, url, {"code": "print(x)"})
        assert "NameError" in body["stderr"]
        # Code that waits for input cannot be answered over this endpoint.
        status, body = await _post(http, url, {"code": "input('Name? ')"})
        assert (status, body["error"]) == (422, "ERR_REQUEST")
        assert "input" in body["message"]


# -- aiohttp ------------------------------------------------------------------------------------


@asynccontextmanager
async def _served(app: web.Application) -> AsyncIterator[str]:
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


@pytest.mark.usefixtures("no_backend")
async def test_aiohttp_app_runs_code_over_http() -> None:
    aiohttp_app = _load("aiohttp_app")
    async with _served(aiohttp_app.create_app()) as url:
        await _check_run_endpoint(f"{url}/run")
        async with aiohttp.ClientSession() as http:
            assert (await _post(http, f"{url}/run", {"source": "1"}))[0] == 400
            async with http.post(f"{url}/run", data=b"not json") as response:
                assert response.status == 400


@pytest.mark.usefixtures("no_backend")
async def test_aiohttp_app_maps_cluster_failures_to_statuses(
    monkeypatch: pytest.MonkeyPatch, unused_port: int
) -> None:
    aiohttp_app = _load("aiohttp_app")
    # An image the cluster does not have: the cluster refuses, 502.
    async with _served(aiohttp_app.create_app(image="no-such-image")) as url:
        async with aiohttp.ClientSession() as http:
            status, body = await _post(http, f"{url}/run", {"code": "print(1)"})
    assert (status, body["error"]) == (502, "ERR_SERVER")
    # A cluster that cannot be reached: 503.
    monkeypatch.setenv("BACKEND_ENDPOINT", f"http://127.0.0.1:{unused_port}")
    monkeypatch.setenv("BACKEND_ACCESS_KEY", "AKIAIOSFODNN7EXAMPLE")
    monkeypatch.setenv("BACKEND_SECRET_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    async with _served(aiohttp_app.create_app()) as url:
        async with aiohttp.ClientSession() as http:
            status, body = await _post(http, f"{url}/run", {"code": "print(1)"})
    assert (status, body["error"]) == (503, "ERR_REQUEST")


# -- FastAPI -----------------------------------------------------------------------------------


@contextmanager
def _uvicorn(app: Any) -> Iterator[str]:
    """Serve an ASGI app with uvicorn from a thread, on a socket bound to 127.0.0.1."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
        assert not thread.is_alive(), "uvicorn did not stop"


async def _wait_until_serving(url: str) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(200):
            try:
                async with http.get(f"{url}/openapi.json") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.05)
    raise AssertionError(f"{url} did not start serving")


@pytest.mark.usefixtures("no_backend")
async def test_fastapi_app_runs_code_over_http() -> None:
    pytest.importorskip("fastapi")
    pytest.importorskip("uvicorn")
    fastapi_app = _load("fastapi_app")
    with _uvicorn(fastapi_app.create_app()) as url:
        await _wait_until_serving(url)
        await _check_run_endpoint(f"{url}/run")
        async with aiohttp.ClientSession() as http:
            assert (await _post(http, f"{url}/run", {"source": "1"}))[0] == 422


# -- scripts ------------------------------------------------------------------------------------


async def test_progress_uploads_and_downloads_with_bars(tmp_path: Path) -> None:
    pytest.importorskip("tqdm")
    stdout, stderr = await _run_script("progress", cwd=tmp_path)
    sample = tmp_path / "sample.bin"
    assert sample.stat().st_size == 16 * 1024 * 1024
    assert (tmp_path / "downloads" / "sample.bin").read_bytes() == sample.read_bytes()
    compressed = tmp_path / "downloads" / "sample.bin.gz"
    assert gzip.decompress(compressed.read_bytes()) == sample.read_bytes()
    assert "using a local emulator" in stdout
    assert "Verified: SHA-256" in stdout
    for bar in ("upload", "download .gz", "download original"):
        assert bar in stderr
    assert "100%" in stderr


async def test_progress_takes_a_file_and_a_destination(tmp_path: Path) -> None:
    pytest.importorskip("tqdm")
    source = tmp_path / "notes.txt"
    source.write_text("backend.ai " * 1000)
    await _run_script("progress", str(source), "--dest", "out", cwd=tmp_path)
    assert (tmp_path / "out" / "notes.txt").read_text() == source.read_text()
    assert gzip.decompress((tmp_path / "out" / "notes.txt.gz").read_bytes()) == source.read_bytes()


async def test_events_follows_a_session_from_creation_to_termination(tmp_path: Path) -> None:
    stdout, _ = await _run_script("events", cwd=tmp_path)
    names = [line.split()[0] for line in stdout.splitlines() if line.startswith("session_")]
    assert names[0] == "session_enqueued"
    assert "session_started" in names
    assert names[-2:] == ["session_terminating", "session_terminated"]
    assert "ran code: 'hello from __main__'" in stdout
    assert stdout.rstrip().endswith("Done")


async def test_batch_builds_then_executes(tmp_path: Path) -> None:
    stdout, _ = await _run_script("batch", cwd=tmp_path)
    assert "[stdout] build ok" in stdout
    assert "[stdout] the: 4" in stdout
    assert stdout.index("build ok") < stdout.index("the: 4")
    assert "Batch job finished with exit code 0" in stdout
