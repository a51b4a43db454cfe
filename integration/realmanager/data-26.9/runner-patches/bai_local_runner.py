# mypy: ignore-errors
# (runs inside the kernel runner's own venv, whose packages the project's type checkers do not see)
"""Local patch of the 26.9.6 kernel runner, loaded by ``bai_local_runner.pth``.

Active only where ``BAI_LOCAL_RUNNER=1`` (the agent's patch sets it for the runners it
starts). In a container the runner binds its REPL sockets on ``tcp://*``; here it runs on
the host, so every ZeroMQ bind on all addresses is narrowed to 127.0.0.1.
"""

from __future__ import annotations

import os


def _loopback_only() -> None:
    import zmq

    original_bind = zmq.Socket.bind

    def bind(self, addr):
        if isinstance(addr, str):
            for wildcard in ("tcp://*:", "tcp://0.0.0.0:"):
                if addr.startswith(wildcard):
                    addr = "tcp://127.0.0.1:" + addr[len(wildcard) :]
        return original_bind(self, addr)

    zmq.Socket.bind = bind


if os.environ.get("BAI_LOCAL_RUNNER") == "1":
    _loopback_only()
