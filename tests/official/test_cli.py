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


def _said(done: subprocess.CompletedProcess[str]) -> str:
    """What a successful command printed, standard error (its progress lines) included."""
    return _ok(done) + done.stderr


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


def _session_id(target: Target, name: str) -> str:
    """The id ``backend.ai ps`` shows for session *name*."""
    (row,) = [line for line in _ok(target.backend_ai("ps")).splitlines() if line.startswith(name)]
    ids = [word for word in row.split() if _is_uuid(word)]
    return ids[0]


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def test_session_commands(target: Target, work: Path) -> None:
    name = f"cli-s-{secrets.token_hex(4)}"
    out = _said(target.backend_ai("session", "create", "--name", name, "python"))
    session_id = _session_id(target, name)
    assert f"Session ID {session_id} is created and ready." in out
    events = subprocess.Popen(
        [target.cli, "session", "events", name],
        cwd=target.home,
        env=target.env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        # Both CLIs refuse a name for `session info`: API v5 and later take the id only.
        info = _said(target.backend_ai("session", "info", session_id))
        assert name in info and "RUNNING" in info
        sent = work / "up"
        sent.mkdir()
        payload = secrets.token_hex(32) + "\n"
        (sent / "data.txt").write_text(payload, encoding="utf-8")
        assert "Uploaded." in _said(
            target.backend_ai("session", "upload", name, "data.txt", cwd=sent)
        )
        listing = _said(target.backend_ai("session", "ls", name))
        (row,) = [line for line in listing.splitlines() if line.startswith("data.txt ")]
        assert f"{len(payload)} Bytes" in row
        got = work / "down"
        got.mkdir()
        assert "Downloaded" in _said(
            target.backend_ai("session", "download", name, "data.txt", cwd=got)
        )
        assert (got / "data.txt").read_text(encoding="utf-8") == payload
        assert "End of logs." in _said(target.backend_ai("session", "logs", name))
        assert "Done." in _said(target.backend_ai("session", "rm", name))
        # The event stream shows the termination, then the CLI is stopped.
        seen = []
        assert events.stdout is not None
        for line in iter(events.stdout.readline, ""):
            seen.append(line)
            if line.startswith("session_terminated "):
                break
        assert seen[-1].startswith("session_terminated ") and name in seen[-1], seen
        assert any(line.startswith("kernel_terminated ") for line in seen), seen
    finally:
        events.kill()
        events.communicate(timeout=30)
        target.backend_ai("session", "rm", name)


def test_vfolder_file_commands(target: Target, work: Path) -> None:
    name = f"cli-vf-{secrets.token_hex(4)}"
    _said(target.backend_ai("vfolder", "create", name, "local:volume1"))
    try:
        payload = secrets.token_bytes(64 * 1024)
        (work / "blob.bin").write_bytes(payload)
        assert "Done." in _said(target.backend_ai("vfolder", "upload", name, "blob.bin", cwd=work))
        listing = _said(target.backend_ai("vfolder", "ls", name))
        (row,) = [line.split() for line in listing.splitlines() if line.startswith("blob.bin ")]
        assert row[1] == str(len(payload))
        got = work / "down"
        got.mkdir()
        assert "Done." in _said(target.backend_ai("vfolder", "download", name, "blob.bin", cwd=got))
        assert (got / "blob.bin").read_bytes() == payload
        # `vfolder rm` deletes files (after a confirmation); `vfolder delete` the folder.
        _said(target.backend_ai("vfolder", "rm", name, "blob.bin", answer="y\n"))
        listing = _said(target.backend_ai("vfolder", "ls", name))
        assert "blob.bin" not in listing
    finally:
        assert "Deleted." in _said(target.backend_ai("vfolder", "delete", name))
