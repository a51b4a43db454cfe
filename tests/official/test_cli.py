"""The official ``backend.ai`` CLI against the emulator."""

from __future__ import annotations

import secrets
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from backendai_aio import Client, ClientConfig
from backendai_aio.emulator import DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY, USER_ACCESS_KEY

from .conftest import Target


def _ok(done: subprocess.CompletedProcess[str]) -> str:
    """The command's standard output, after checking that it succeeded."""
    assert done.returncode == 0, f"exit {done.returncode}:\n{done.stdout}\n{done.stderr}"
    # The CLI reports a failed call on stdout with a cross and exit status 0 in places.
    assert "✘" not in done.stdout, done.stdout
    return done.stdout


@pytest.fixture
def session_name(target: Target) -> Iterator[str]:
    """A session started by ``backend.ai run``, destroyed afterwards."""
    name = f"cli-{secrets.token_hex(4)}"
    out = _ok(target.backend_ai("run", "--name", name, "python", "-c", "print(6 * 7)"))
    assert "42" in out.splitlines()
    yield name
    target.backend_ai("session", "rm", name)


def test_run_prints_the_output(target: Target) -> None:
    done = target.backend_ai("run", "--rm", "python", "-c", "print('hello, ' + 'emulator')")
    assert "hello, emulator\n" in _ok(done)
    # The CLI's progress lines go to standard error.
    assert "Execution finished. (exit code = 0)" in done.stderr


def test_ps_and_session_list(target: Target, session_name: str) -> None:
    for command in (["ps"], ["session", "list"]):
        out = _ok(target.backend_ai(*command))
        (row,) = [line for line in out.splitlines() if line.startswith(session_name)]
        assert DEFAULT_ACCESS_KEY in row
        assert "RUNNING" in row


def test_vfolder_list(target: Target, work: Path) -> None:
    name = f"cli-folder-{secrets.token_hex(4)}"
    # Both CLIs take the storage host as a second argument (23.9 requires it).
    _ok(target.backend_ai("vfolder", "create", name, "local:volume1"))
    try:
        out = _ok(target.backend_ai("vfolder", "list"))
        (row,) = [line.split() for line in out.splitlines() if f" {name} " in line]
        # The columns are in another order in 23.9 and 26.9: host and name come first.
        assert row[:2] == ["local:volume1", name]
        assert "ready" in row
    finally:
        target.backend_ai("vfolder", "rm", name)


def test_admin_keypair_list(target: Target) -> None:
    out = _ok(target.backend_ai("admin", "keypair", "list"))
    assert DEFAULT_ACCESS_KEY in out
    assert USER_ACCESS_KEY in out
    assert "admin@lablup.com" in out


def test_session_template_list(target: Target) -> None:
    out = _ok(target.backend_ai("session-template", "list"))
    assert "There is no task templates created yet." in out


# A model that answers every GET (its health check too) with 200.
MODEL = b"""\
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass

HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
"""
DEFINITION = b"""\
models:
  - name: cli-model
    model_path: /models
    service:
      start_command: [python, /models/server.py, "8000"]
      port: 8000
      health_check:
        path: /health
"""


@pytest.fixture
async def service(target: Target) -> AsyncIterator[tuple[str, uuid.UUID]]:
    """A model service (made with this project's client), its name and id; removed afterwards."""
    name = f"cli-svc-{secrets.token_hex(4)}"
    config = ClientConfig(DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY, target.endpoint)
    async with Client(config) as client:
        await client.vfolders.create(name, usage_mode="model")
        folder = client.vfolders.get(name)
        await folder.upload(MODEL, "server.py")
        await folder.upload(DEFINITION, "model-definition.yaml")
        created = await client.services.create(
            name, name=name, image="cr.backend.ai/stable/python:3.9-ubuntu20.04"
        )
        service_id = uuid.UUID(created["endpoint_id"])
        await client.services.wait_ready(service_id, timeout=60)
        try:
            yield name, service_id
        finally:
            await client.services.delete(service_id)
            await folder.delete()


def test_service_list(target: Target, service: tuple[str, uuid.UUID]) -> None:
    name, service_id = service
    out = _ok(target.backend_ai("service", "list"))
    (row,) = [line for line in out.splitlines() if name in line]
    assert str(service_id) in row
    if target.sdk.release == "26.9":
        # 26.9 shows the image (``image_object { name }``); 23.9's ``image`` is always null.
        assert "stable/python" in row


def test_config(target: Target) -> None:
    out = _ok(target.backend_ai("config"))
    manager = {"23.09": "23.9.10", "26.9": "26.9.6"}[target.sdk.release]
    assert f"Server version: {manager} (API: {target.sdk.api_version})" in out
    assert f'Access key: "{DEFAULT_ACCESS_KEY}"' in out
