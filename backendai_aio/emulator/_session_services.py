"""The app services of an emulated session: real local processes behind its service ports.

Each session lists the service ports a kernel of the emulator has: ``fileserver``, an HTTP
server over the session's folder (a ``python -m http.server`` started on a free loopback
port when the app is first started), and one ``preopen`` port per number asked for at
creation (``preopen_ports``), which reaches whatever the session's own code listens on at
that port of ``127.0.0.1``: the emulator's kernel runs code as local processes, so a
session's container port is the same port on the loopback interface. The terminal is a
`PtyShell`. Everything is stopped, by PID, when the session is destroyed.
"""

from __future__ import annotations

import asyncio
import re
import signal
import sys
from dataclasses import dataclass, field
from typing import Any, Final

from ._kernel_processes import killpg
from ._problems import Problem
from ._pty import PtyShell
from ._sessions import EmulatedSession

__all__ = [
    "FILESERVER",
    "AppNotFound",
    "AppServiceStartFailed",
    "SessionServices",
    "services_of",
]

#: The name of the emulator's HTTP app, and the container port it is listed with.
FILESERVER: Final = "fileserver"
_FILESERVER_PORT: Final = 8000
#: How long starting the HTTP app may take before it counts as failed.
_START_TIMEOUT: Final = 15.0
#: How long stopping a service waits after SIGTERM before SIGKILL.
_STOP_GRACE: Final = 2.0
_SERVING: Final = re.compile(rb"port (\d+)")


class AppNotFound(Problem):
    """404 object-not-found: the session lists no such app."""

    status, slug, title = 404, "object-not-found", "No such app service."
    error_code = "backendai_read_not-found"


class AppServiceStartFailed(Problem):
    """500 app-service-start-failed: the app's process did not come up."""

    status, slug, title = (
        500,
        "app-service-start-failed",
        "Failed to start the application service.",
    )
    error_code = "session_start_internal-error"


@dataclass(eq=False)
class _Service:
    """A started app: its process and the loopback port it listens on."""

    process: asyncio.subprocess.Process
    port: int


@dataclass(eq=False)
class SessionServices:
    """The service ports and app processes of one session."""

    session: EmulatedSession
    preopen_ports: list[int] = field(default_factory=list)
    _services: dict[str, _Service] = field(default_factory=dict)
    _pty: PtyShell | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def service_ports(self) -> list[dict[str, Any]]:
        """The kernel's ``service_ports``, as the manager stores them."""
        ports: list[dict[str, Any]] = [
            {
                "name": FILESERVER,
                "protocol": "http",
                "container_ports": [_FILESERVER_PORT],
                "host_ports": [None],
                "is_inference": False,
            }
        ]
        ports += [
            {
                "name": str(port),
                "protocol": "preopen",
                "container_ports": [port],
                "host_ports": [None],
                "is_inference": False,
            }
            for port in self.preopen_ports
        ]
        return ports

    def find(self, app: str) -> dict[str, Any]:
        """The service port named *app*, or raise AppNotFound."""
        for sport in self.service_ports():
            if sport["name"] == app:
                return sport
        raise AppNotFound(f"{self.session.name}:{app}")

    @property
    def pids(self) -> list[int]:
        """The process ids of the running services and terminal (for tests and cleanup)."""
        pids = [service.process.pid for service in self._services.values()]
        if self._pty is not None and self._pty.pid is not None:
            pids.append(self._pty.pid)
        return pids

    async def start(self, app: str, container_port: int | None = None) -> int:
        """Start *app* unless it runs; answer the loopback port reaching *container_port*."""
        sport = self.find(app)
        if sport["protocol"] == "preopen":
            # The session's own code listens there: nothing to start.
            return int(sport["container_ports"][0])
        async with self._lock:
            service = self._services.get(app)
            if service is None or service.process.returncode is not None:
                service = await self._start_fileserver()
                self._services[app] = service
            return service.port

    async def shutdown(self, app: str) -> None:
        """Stop *app*'s process, if it runs."""
        self.find(app)
        async with self._lock:
            service = self._services.pop(app, None)
        if service is not None:
            await _stop(service.process)

    async def terminal(self) -> PtyShell:
        """The session's terminal, its shell started."""
        async with self._lock:
            if self._pty is None:
                self._pty = PtyShell(self.session.workdir, self.session.environ)
        await self._pty.start()
        return self._pty

    async def close(self) -> None:
        """Stop every service and the terminal."""
        async with self._lock:
            services, self._services = list(self._services.values()), {}
            pty, self._pty = self._pty, None
        await asyncio.gather(*(_stop(service.process) for service in services))
        if pty is not None:
            await pty.close()

    async def _start_fileserver(self) -> _Service:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-u",
            "-m",
            "http.server",
            "0",
            "--bind",
            "127.0.0.1",
            "--directory",
            str(self.session.workdir),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            start_new_session=True,
        )
        assert process.stdout is not None
        try:
            # "Serving HTTP on 127.0.0.1 port 41234 (http://127.0.0.1:41234/) ..."
            line = await asyncio.wait_for(process.stdout.readline(), _START_TIMEOUT)
            found = _SERVING.search(line)
            if found is None:
                raise AppServiceStartFailed(
                    "Failed to launch the app service", data=line.decode(errors="replace")
                )
        except (TimeoutError, AppServiceStartFailed) as exc:
            await _stop(process)
            if isinstance(exc, AppServiceStartFailed):
                raise
            raise AppServiceStartFailed("Failed to launch the app service") from None
        # Its later output is not read: let it go nowhere rather than fill the pipe.
        process.stdout.feed_eof()
        return _Service(process, int(found.group(1)))


async def _stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        killpg(process.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), _STOP_GRACE)
        except TimeoutError:
            killpg(process.pid, signal.SIGKILL)
            await process.wait()
    killpg(process.pid, signal.SIGKILL)


def services_of(session: EmulatedSession) -> SessionServices:
    """The services of *session*, made (and tied to its destruction) on first use."""
    services = session.services
    if services is None:
        services = SessionServices(session, list(session.preopen_ports))
        session.services = services
        session.closers.append(services.close)
    return services
