"""The child processes the harness drives: the stand-in server and one worker per client.

Each speaks JSON lines on stdout (and the worker reads commands on stdin); both are started
and stopped by their PID only. Only the standard library is used here.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.environments import ROOT, worker_environment


class BenchError(RuntimeError):
    """The harness cannot go on (a process failed to start, a preflight check failed)."""


class LineReader:
    """Read JSON lines from a child's stdout with a timeout (select on the raw pipe)."""

    def __init__(self, process: subprocess.Popen[bytes], name: str, log: Path) -> None:
        assert process.stdout is not None
        self._process = process
        self._fd = process.stdout.fileno()
        self._buffer = b""
        self._name = name
        self._log = log

    def read(self, timeout: float) -> dict[str, Any]:
        """The next JSON line, within *timeout* seconds."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BenchError(f"{self._name}: no answer within {timeout:.0f} s")
            readable, _, _ = select.select([self._fd], [], [], min(remaining, 1.0))
            if not readable:
                continue
            data = os.read(self._fd, 65536)
            if not data:
                raise BenchError(
                    f"{self._name} exited (status {self._process.wait()}); "
                    f"see {self._log}: {tail(self._log)}"
                )
            self._buffer += data
        line, _, self._buffer = self._buffer.partition(b"\n")
        message: dict[str, Any] = json.loads(line)
        return message


def tail(path: Path, lines: int = 3) -> str:
    """The last *lines* non-empty lines of a log, joined for one message."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(text[-lines:])


def stop(process: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """Stop a child we started, by its PID: terminate, then kill after *grace* seconds."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=grace)


def spawn(
    command: Sequence[str], log: Path, name: str, *, stdin: bool = False, timeout: float = 60.0
) -> tuple[subprocess.Popen[bytes], LineReader, dict[str, Any]]:
    """Start *command* (cwd: the project), wait for its first JSON line; stop it on failure."""
    with log.open("a", encoding="utf-8") as output:
        process = subprocess.Popen(
            list(command),
            cwd=ROOT,
            env=worker_environment(),
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=output,
        )
    reader = LineReader(process, name, log)
    try:
        first = reader.read(timeout)
    except BaseException:
        stop(process)
        raise
    return process, reader, first


class Server:
    """The stand-in manager, a child process on 127.0.0.1."""

    def __init__(self, api_version: str, log_dir: Path) -> None:
        self.log = log_dir / "server.log"
        self.log.write_text("", encoding="utf-8")
        command = [sys.executable, "-m", "benchmarks.server", "--api-version", api_version]
        self.process, _, ready = spawn(command, self.log, "the server", timeout=30.0)
        self.api_version = api_version
        self.endpoint = f"http://127.0.0.1:{ready['port']}"

    def control(self, method: str, path: str) -> dict[str, Any]:
        """Call one of the server's ``/_bench/...`` endpoints."""
        request = urllib.request.Request(self.endpoint + path, method=method)
        with urllib.request.urlopen(request, timeout=30) as response:
            body = response.read()
        answer: dict[str, Any] = json.loads(body) if body else {}
        return answer

    def stats(self) -> dict[str, Any]:
        """The server's counters."""
        return self.control("GET", "/_bench/stats")

    def reset(self) -> None:
        """Zero the server's counters."""
        self.control("POST", "/_bench/reset")

    def verify(self, on: bool) -> None:
        """Switch signature verification on or off."""
        self.control("POST", f"/_bench/verify?on={int(on)}")

    def wait_idle(self, timeout: float = 20.0) -> None:
        """Wait until no client connection is open (a stopped worker's are closing)."""
        deadline = time.monotonic() + timeout
        while self.stats()["open_connections"] > 0 and time.monotonic() < deadline:
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop the server process."""
        stop(self.process)


class Worker:
    """A client process (:mod:`benchmarks.worker`) running one contender module."""

    def __init__(
        self, key: str, label: str, module: str, python: str, endpoint: str, log_dir: Path
    ) -> None:
        self.key = key
        self.label = label
        self.log = log_dir / f"worker-{key}.log"
        command = [
            python,
            *("-m", "benchmarks.worker"),
            *("--contender", module),
            *("--endpoint", endpoint),
        ]
        self.process, self._reader, ready = spawn(
            command, self.log, f"the {label} worker", stdin=True, timeout=120.0
        )
        if not ready.get("ok"):
            stop(self.process)
            raise BenchError(f"{label} did not start: {ready.get('error')}")

    def request(self, command: dict[str, Any], timeout: float = 600.0) -> dict[str, Any]:
        """Send one command and wait for its answer."""
        assert self.process.stdin is not None
        self.process.stdin.write((json.dumps(command) + "\n").encode())
        self.process.stdin.flush()
        return self._reader.read(timeout)

    def stop(self) -> None:
        """Ask the worker to quit, then stop it by its PID if it lingers."""
        if self.process.poll() is None and self.process.stdin is not None:
            try:
                self.process.stdin.write(b'{"op": "quit"}\n')
                self.process.stdin.flush()
                self.process.stdin.close()
                self.process.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                pass
        stop(self.process)
