"""The quickstart, the emulator's command line and its pytest fixture, run for real."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import aiohttp

from backendai_aio import Client
from backendai_aio.emulator.pytest_plugin import EmulatorThread

ROOT = Path(__file__).resolve().parent.parent


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
