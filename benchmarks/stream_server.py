"""The project's emulator in a process of its own, for the event-stream benchmark.

``python -m benchmarks.stream_server`` listens on a free port of 127.0.0.1, prints one JSON
line ``{"port": ..., "pid": ...}`` and serves until it is terminated (SIGTERM). Its memory
and CPU stay out of the client process that the benchmark measures.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys

from backendai_aio.emulator import Emulator


async def _serve() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with Emulator(port=0, flush_window=0.3, exec_timeout=30.0) as emulator:
        port = emulator.config.endpoint_urls[0].port
        sys.stdout.write(json.dumps({"port": port, "pid": os.getpid()}) + "\n")
        sys.stdout.flush()
        await stop.wait()


def main() -> None:
    """Serve until terminated."""
    asyncio.run(_serve())


if __name__ == "__main__":
    main()
