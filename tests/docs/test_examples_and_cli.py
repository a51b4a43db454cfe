"""The quickstart, the emulator's command line and its pytest fixture, run for real."""

from __future__ import annotations

import asyncio
import errno
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from backendai_aio import Client, ClientConfig
from backendai_aio.emulator.__main__ import listen_failure
from backendai_aio.emulator.pytest_plugin import EmulatorThread

ROOT = Path(__file__).resolve().parent.parent.parent


def _env_without_backend() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("BACKEND_")}


async def test_quickstart_runs_against_its_own_emulator() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "examples" / "quickstart.py"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=_env_without_backend(),
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    output = stdout.decode()
    assert process.returncode == 0, stderr.decode()
    assert "using a local emulator" in output
    assert "[stdout] hello\n" in output
    assert "Finished with exit code 0" in output
    assert "destroyed" in output


async def test_emulator_command_line_serves_and_stops_on_sigterm() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "backendai_aio.emulator",
        "--port",
        "0",
        "--api-version",
        "v7.20230615",
        "--rate-limit",
        "25",
        "--flush-window",
        "0.2",
        stdout=asyncio.subprocess.PIPE,
        env=_env_without_backend(),
    )
    assert process.stdout is not None
    try:
        env: dict[str, str] = {}
        while len(env) < 3:
            line = (await asyncio.wait_for(process.stdout.readline(), timeout=30)).decode()
            assert line, "the emulator exited before printing its endpoint"
            if line.startswith("export "):
                key, _, value = line.removeprefix("export ").strip().partition("=")
                env[key] = value
        assert env["BACKEND_ENDPOINT"].startswith("http://127.0.0.1:")
        assert env["BACKEND_ACCESS_KEY"] == "AKIAIOSFODNN7EXAMPLE"
        async with aiohttp.ClientSession() as session:
            async with session.get(env["BACKEND_ENDPOINT"] + "/") as response:
                assert (await response.json())["version"] == "v7.20230615"
        config = ClientConfig(
            env["BACKEND_ACCESS_KEY"], env["BACKEND_SECRET_KEY"], env["BACKEND_ENDPOINT"]
        )
        async with Client(config) as client:
            await client.create_if_not_exists("python", "cli-rate")
            assert client.rate_limit is not None and client.rate_limit.limit == 25
    finally:
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), timeout=30) == 0


def test_fixture_thread_serves_a_synchronous_caller() -> None:
    emulator = EmulatorThread()
    emulator.start()
    try:

        async def use() -> str:
            async with Client(emulator.config) as client:
                await client.create_if_not_exists("python", "thread-1")
                result = await client.execute("thread-1", None, "query", "print(2 ** 10)")
                return str(result["result"]["console"])

        assert "1024" in asyncio.run(use())
    finally:
        emulator.stop()


async def test_the_plugin_fixture(backendai_emulator: EmulatorThread) -> None:
    async with Client(backendai_emulator.config) as client:
        assert (await client.get_server_version())["version"] == "v9.20250722"


def _emulator_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "backendai_aio.emulator", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=_env_without_backend(),
        check=False,
    )


def test_a_busy_port_is_one_clear_line_and_a_failure_status() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _emulator_cli("--port", str(port))
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1, result.stderr
    assert f"port {port} on 127.0.0.1 is already in use" in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_listen_failures_are_named() -> None:
    busy = listen_failure(8091, OSError(errno.EADDRINUSE, "Address already in use"))
    assert "port 8091 on 127.0.0.1 is already in use" in busy and "--port" in busy
    denied = listen_failure(80, PermissionError(errno.EACCES, "Permission denied"))
    assert denied.endswith("cannot listen on 127.0.0.1:80: Permission denied")


def test_help_shows_the_defaults_and_the_tuning_options() -> None:
    result = _emulator_cli("--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    for expected in ("(default: 8091)", "(default: 60.0)", "--flush-window", "(default: 0.5)"):
        assert expected in text
    assert "--rate-limit" in text and "(default: None)" not in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--port", "70000"], "not a TCP port"),
        (["--flush-window", "0"], "--flush-window: 0 is not above 0"),
        (["--rate-limit", "0"], "--rate-limit: 0 is not at least 1"),
        (["--exec-timeout", "soon"], "not a number"),
    ],
)
def test_bad_options_are_usage_errors(args: list[str], message: str) -> None:
    result = _emulator_cli(*args)
    assert result.returncode == 2 and message in result.stderr
