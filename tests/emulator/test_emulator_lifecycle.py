"""Starting and stopping the emulator, and sessions whose code outlives its kernel."""

from __future__ import annotations

import asyncio
import os
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from backendai_aio.emulator import DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY, Emulator
from backendai_aio.emulator.pytest_plugin import EmulatorThread

from .wire import Wire

# Forks, leaves the kernel's process group and session, and lives on holding its pipes.
ESCAPING_CODE = """
import os, time
pid = os.fork()
if pid == 0:
    os.setsid()
    time.sleep(120)
    os._exit(0)
print(pid)
"""


def alive(pid: int) -> bool:
    """Whether *pid* is a live process (a zombie waiting to be reaped is not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")
async def test_destroying_a_session_whose_code_escaped_its_group(admin_wire: Wire) -> None:
    await admin_wire.create_session("escaping")
    pid = int(await admin_wire.run("escaping", ESCAPING_CODE))
    assert alive(pid)
    started = time.monotonic()
    status, _ = await asyncio.wait_for(admin_wire.call("DELETE", "/session/escaping"), 30)
    assert status == 200
    assert time.monotonic() - started < 10
    # The process holding the kernel's pipes was killed too.
    for _ in range(100):
        if not alive(pid):
            break
        await asyncio.sleep(0.05)
    else:
        os.kill(pid, 9)
        raise AssertionError("the escaped process was left behind")


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def vfolder_roots() -> set[Path]:
    return set(Path(tempfile.gettempdir()).glob("backendai-vfolders-*"))


async def test_a_failed_start_leaves_nothing_behind(
    taken_port: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A temporary folder of this test's own, so that other runs on the machine do not count.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    before = vfolder_roots()
    emulator = Emulator(port=taken_port)
    with pytest.raises(OSError):  # the address is in use
        await emulator.start()
    assert emulator.endpoint == ""
    assert vfolder_roots() == before
    with pytest.raises(RuntimeError, match="not running"):
        _ = emulator.config
    await emulator.stop()  # nothing to stop


def test_a_failed_start_stops_the_plugin_thread(taken_port: int) -> None:
    before = {thread for thread in threading.enumerate() if thread.name == "backendai-emulator"}
    emulator = EmulatorThread(port=taken_port)
    with pytest.raises(OSError):
        emulator.start()
    after = {thread for thread in threading.enumerate() if thread.name == "backendai-emulator"}
    assert after == before
    emulator.stop()  # nothing to stop


async def test_stop_forgets_the_endpoint() -> None:
    async with Emulator() as emulator:
        assert emulator.endpoint.startswith("http://127.0.0.1:")
        assert emulator.config.endpoint == emulator.endpoint
    assert emulator.endpoint == ""
    for name in ("config", "user_config", "session_config"):
        with pytest.raises(RuntimeError, match="not running"):
            getattr(emulator, name)
    assert repr(emulator) == "<Emulator endpoint='' release='26.9' api_version='v9.20250722'>"


def test_access_key_and_secret_key_go_together() -> None:
    with pytest.raises(ValueError, match="go together"):
        Emulator(access_key="AKIACUSTOMEXAMPLE")
    with pytest.raises(ValueError, match="go together"):
        Emulator(secret_key="s3cr3t")


async def test_keypairs_served() -> None:
    # The example superadmin's keypair, named explicitly, serves both examples.
    async with Emulator(access_key=DEFAULT_ACCESS_KEY, secret_key=DEFAULT_SECRET_KEY) as both:
        assert both.user_config.access_key != both.config.access_key
    async with Emulator(access_key="AKIACUSTOMEXAMPLE", secret_key="s3cr3t") as custom:
        assert (custom.config.access_key, custom.config.secret_key) == (
            "AKIACUSTOMEXAMPLE",
            "s3cr3t",
        )
        with pytest.raises(RuntimeError, match="example user"):
            _ = custom.user_config
